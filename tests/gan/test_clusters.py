"""Self-conditioned training on k-means or spectral clusters (gan.clusters, ``clusters = K``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gan.clusters
from gan.cli import main
from gan.clusters import cluster_labels, with_clusters
from gan.config import TrainConfig
from gan.data import load_data
from gan.training import train


def _blobs(sizes, d, seed=0, spread=1e-3):
    """Well-separated blobs: component i around 10·i·e₁ (plus a shared random offset)."""
    rng = np.random.default_rng(seed)
    offset = rng.normal(size=d)
    parts = [offset + 10.0 * i * np.eye(d)[0] + spread * rng.normal(size=(n, d))
             for i, n in enumerate(sizes)]  # fmt: skip
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return torch.from_numpy(np.concatenate(parts)), truth


def _check_blobs_recovered(sizes, d, seed, method):
    """Cluster shuffled separated blobs; each cluster must be exactly one blob. The labels."""
    x, truth = _blobs(sizes, d, seed)
    perm = np.random.default_rng(seed).permutation(len(x))
    x, truth = x[perm], truth[perm]
    lab = cluster_labels(x, len(sizes), method=method).numpy()
    assert lab.dtype == np.int64 and lab.shape == (len(x),)
    pairs = set(zip(truth.tolist(), lab.tolist()))
    assert len(pairs) == len(sizes) == len({b for _, b in pairs})
    # numbered by decreasing size, ties by the first sample's position
    size = np.bincount(lab)
    first = [int(np.flatnonzero(lab == c)[0]) for c in range(len(sizes))]
    assert all((size[c], -first[c]) > (size[c + 1], -first[c + 1])
               for c in range(len(sizes) - 1))  # fmt: skip


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=2, max_size=5), d=st.sampled_from([1, 3, 64]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_separated_blobs_are_recovered_and_numbered_by_size(sizes, d, seed):
    _check_blobs_recovered(sizes, d, seed, "kmeans")


@settings(max_examples=10, deadline=None)
@given(sizes=st.lists(st.integers(15, 60), min_size=2, max_size=5), d=st.sampled_from([1, 3, 64]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_spectral_recovers_separated_blobs_of_more_than_the_graphs_neighbours(sizes, d, seed):
    # a blob of more than 10 samples is a connected component of the 10-NN graph by itself
    _check_blobs_recovered(sizes, d, seed, "spectral")


def _rings(n_inner, n_outer, seed=0):
    """Two concentric circles in the plane (radius 1 and 4), a little noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for n, r in ((n_inner, 1.0), (n_outer, 4.0)):
        t = rng.uniform(0, 2 * np.pi, n)
        parts.append(np.stack([r * np.cos(t), r * np.sin(t)], 1) + 0.02 * rng.normal(size=(n, 2)))
    return torch.from_numpy(np.concatenate(parts)), np.repeat([0, 1], [n_inner, n_outer])


@pytest.mark.parametrize("n_inner, n_outer", [(30, 60), (150, 300)])  # dense and ARPACK paths
def test_spectral_follows_the_graph_where_kmeans_cuts_across(n_inner, n_outer):
    x, truth = _rings(n_inner, n_outer)
    spectral = cluster_labels(x, 2, method="spectral").numpy()
    assert (spectral == 1 - truth).all()  # exactly the two rings, the larger first
    kmeans = cluster_labels(x, 2).numpy()  # k-means splits the plane by a line: both rings
    assert len(set(zip(truth.tolist(), kmeans.tolist()))) > 2


def test_high_dimensional_samples_go_through_pca_and_keep_the_partition():
    x, truth = _blobs([40, 25, 35], 784, seed=1, spread=0.05)  # 784 > 50 principal components
    lab = cluster_labels(x.reshape(100, 1, 28, 28), 3).numpy()
    assert len(set(zip(truth.tolist(), lab.tolist()))) == 3
    assert np.bincount(lab).tolist() == [40, 35, 25]


@pytest.mark.parametrize("method", ["kmeans", "spectral"])
def test_labels_are_invariant_to_translation_and_scale(method):
    x, _ = _blobs([30, 20, 10], 5, seed=2, spread=0.5)
    a = cluster_labels(x, 3, method=method)
    b = cluster_labels(3.0 * x - 7.0, 3, method=method)
    assert torch.equal(a, b)
    assert torch.equal(a, cluster_labels(x, 3, method=method))  # repeatable


def test_cluster_labels_refusals():
    with pytest.raises(TypeError, match="tensor"):
        cluster_labels(np.zeros((4, 2)), 2)
    with pytest.raises(TypeError, match="clusters must be an integer"):
        cluster_labels(torch.zeros(4, 2), 2.0)
    with pytest.raises(ValueError, match="clusters must be >= 2"):
        cluster_labels(torch.zeros(4, 2), 1)
    with pytest.raises(ValueError, match="scalar"):
        cluster_labels(torch.tensor(1.0), 2)
    with pytest.raises(ValueError, match="at least 5 training samples"):
        cluster_labels(torch.randn(4, 2), 5)
    with pytest.raises(ValueError, match="cluster_method must be one of kmeans, spectral"):
        cluster_labels(torch.randn(6, 2), 2, method="dbscan")
    for method in ("kmeans", "spectral"):
        with pytest.raises(ValueError, match="distinct"):
            cluster_labels(torch.zeros(6, 2), 2, method=method)  # duplicates: one distinct sample
    bad = torch.randn(6, 2)
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        cluster_labels(bad, 2)


def test_with_clusters_refusals():
    data = load_data("digits")
    lab = cluster_labels(data.train, 4)
    got = with_clusters(data, lab)
    assert got.n_classes == 4 and got.class_names[0] == "cluster 0"
    assert torch.equal(got.class_counts(), torch.bincount(lab))
    with pytest.raises(ValueError, match="sampled fresh"):
        with_clusters(load_data("ring8"), lab)
    with pytest.raises(ValueError, match="unconditional runs"):
        with_clusters(load_data("digits", conditional=True), lab)
    with pytest.raises(ValueError, match="one per training sample"):
        with_clusters(data, lab[:-1])
    with pytest.raises(ValueError, match="each used"):
        with_clusters(data, torch.where(lab == 1, 2, lab))


def test_config_refusals():
    with pytest.raises(ValueError, match="0 \\(off\\) or >= 2"):
        TrainConfig(clusters=1)
    with pytest.raises(ValueError, match="unconditional runs"):
        TrainConfig(clusters=3, conditional=True)
    with pytest.raises(ValueError, match="PacGAN"):
        TrainConfig(clusters=3, pac=2, batch_size=64)
    with pytest.raises(ValueError, match="clusters"):
        TrainConfig(clusters=-2)
    with pytest.raises(ValueError, match="cluster_method"):
        TrainConfig(clusters=3, cluster_method="Spectral")


def _cfg(tmp_path, **kw):
    return TrainConfig.from_preset(
        "digits", steps=20, batch_size=32, clusters=3, eval_samples=60, plots=False,
        progress=False, rejection=False, log_every=10, ckpt_every=10, threads=1,
        out=str(tmp_path / "run"), **kw)  # fmt: skip


def test_a_clustered_run_trains_samples_and_resumes_on_its_own_clusters(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    res = train(cfg)
    assert res.data.n_classes == 3 and res.discriminator.n_classes == 3
    # unconditional evaluation: no per-class metrics of meaningless cluster "classes"
    assert "fid" in res.evaluation and not any(k.startswith("class_") for k in res.evaluation)
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    expect = cluster_labels(load_data("digits").train, 3)
    assert torch.equal(ck["clusters"].long(), expect)
    # a resume takes the checkpoint's labels and never reclusters
    changed = expect.roll(1)  # a different assignment with the same clusters
    ck["clusters"] = changed.to(torch.int32)
    torch.save(ck, tmp_path / "run" / "checkpoint.pt")

    def refuse(*a, **k):
        raise AssertionError("reclustered on resume")

    monkeypatch.setattr(gan.training.start, "cluster_labels", refuse)
    again = train(cfg.replace(steps=30), resume=True)
    assert again.step == 30 and torch.equal(again.data.labels.cpu(), changed)
    monkeypatch.setattr(gan.training.start, "cluster_labels", gan.clusters.cluster_labels)
    # sampling draws the clusters in proportion to their sizes, from the stored labels
    from gan.sampling import load_run, sample_run

    _, g, _, data = load_run(tmp_path / "run")
    assert torch.equal(data.labels.cpu(), changed) and g.n_classes == 3
    x, drs = sample_run(tmp_path / "run", 9)
    assert x.shape == (9, 1, 8, 8) and drs is None
    with pytest.raises(ValueError, match="conditioned on 3 clusters of its data"):
        sample_run(tmp_path / "run", 4, label=0)
    with pytest.raises(ValueError, match="its clusters of the data"):
        sample_run(tmp_path / "run", 4, rejection=True)


def test_resume_refuses_a_checkpoint_without_clusters(tmp_path):
    train(_cfg(tmp_path))
    path = tmp_path / "run" / "checkpoint.pt"
    ck = torch.load(path, weights_only=True)
    labels = ck["clusters"]
    ck["clusters"] = labels[:-1]  # one sample short
    torch.save(ck, path)
    with pytest.raises(ValueError, match="do not match clusters=3"):
        train(_cfg(tmp_path).replace(steps=30), resume=True)
    ck["clusters"] = None
    torch.save(ck, path)
    with pytest.raises(ValueError, match="holds no cluster labels"):
        train(_cfg(tmp_path).replace(steps=30), resume=True)
    with pytest.raises(ValueError, match="cluster labels do not match"):
        from gan.sampling import load_run

        load_run(tmp_path / "run")


def test_cli_clusters_end_to_end(tmp_path, capsys):
    run = tmp_path / "r"
    args = ["--data", "digits", "--clusters", "4", "--steps", "20", "--batch-size", "32",
            "--eval-samples", "40", "--no-progress", "--no-plots", "--no-rejection",
            "--log-every", "10", "--out", str(run)]  # fmt: skip
    assert main(["train", *args]) == 0
    assert main(["sample", str(run), "-n", "12", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy", allow_pickle=False).shape == (12, 1, 8, 8)
    assert main(["evaluate", str(run), "-n", "40"]) == 0
    out = capsys.readouterr().out
    assert "fid" in out and "class_accuracy" not in out
    assert main(["evaluate", str(run), "-n", "40", "--rejection"]) == 2
    assert "clusters of the data" in capsys.readouterr().err
    spectral = tmp_path / "sp"
    assert main(["train", *args[:-1], str(spectral), "--cluster-method", "spectral"]) == 0
    cfg = json.loads((spectral / "config.json").read_text())
    assert cfg["cluster_method"] == "spectral"
    expect = cluster_labels(load_data("digits").train, 4, method="spectral")
    ck = torch.load(spectral / "checkpoint.pt", weights_only=True)
    assert torch.equal(ck["clusters"].long(), expect)
    for bad, what in ((["--clusters", "1"], "or >= 2"), (["--clusters", "3", "--conditional"],
                      "unconditional runs")):  # fmt: skip
        assert main(["train", "--data", "digits", *bad, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and what in err
    assert not (tmp_path / "x").exists()
    assert main(["train", "--data", "ring8", "--clusters", "3", "--steps", "5",
                 "--out", str(tmp_path / "y")]) == 2  # fmt: skip
    assert "sampled fresh" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
