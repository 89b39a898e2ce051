"""Real image data end to end on tiny synthetic IDX files: loading, 28-px networks, the
preset chosen for image data, the slow-step warning and a tiny conditional run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gan import speed
from gan.cli import main
from gan.config import TrainConfig, preset_for, resolve_config
from gan.data import load_data
from gan.models import build_models, plain_discriminator
from gan.nets import ConditionalBatchNorm2d, ConditionalDCGANGenerator, Discriminator, Generator
from metrics.io import datasets
from tests.metrics._idx_files import write_split_files

TINY = ["--steps", "4", "--batch-size", "8", "--channels", "4", "--g-channels", "4", "--z-dim", "8",
        "--eval-samples", "40", "--no-progress", "--no-plots", "--log-every", "2", "--eval-every",
        "0", "--final-js-steps", "3", "--fresh-final-js-steps", "3"]  # fmt: skip


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A data root holding tiny fashion-mnist and mnist sets; no system folder, empty home."""
    for name, ds in datasets.DATASETS.items():
        nowhere = dataclasses.replace(ds, system=str(tmp_path / "system" / name))
        monkeypatch.setitem(datasets.DATASETS, name, nowhere)
    monkeypatch.setenv("DIVERGENCES_DATA", str(tmp_path / "home"))
    write_split_files(tmp_path / "data" / "FashionMNIST" / "raw", n_train=40, n_test=20)
    write_split_files(tmp_path / "data" / "mnist", n_train=30, n_test=20, gz=False)
    return tmp_path / "data"


def test_idx_sets_load_with_splits_labels_and_resizing(root):
    d = load_data("fashion-mnist", conditional=True, data_root=str(root))
    assert d.shape == (1, 28, 28) and d.train.shape == (40, 1, 28, 28) and len(d.test) == 20
    assert float(d.train.min()) >= -1.0 and float(d.train.max()) <= 1.0
    assert d.labels.tolist() == [k % 10 for k in range(40)] and len(d.test_labels) == 20
    assert d.class_names[0] == "T-shirt/top" and d.class_names[9] == "Ankle boot"
    # pixel v -> v / 127.5 - 1: the writer's bar (230) of class 0 on rows 2-3
    assert abs(float(d.train[0, 0, 2, 10]) - (230 / 127.5 - 1)) < 1e-6
    u = load_data("mnist", data_root=str(root), image_size=32)
    assert u.train.shape == (30, 1, 32, 32) and u.test.shape == (20, 1, 32, 32)
    assert u.labels is None and u.class_names is None


def test_image_size_resizes_arrays_and_the_resnet_message_says_so(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, size=(6, 20, 20)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    assert load_data(str(tmp_path / "a.npy"), image_size=32).shape == (1, 32, 32)
    with pytest.raises(ValueError, match=r"\(image_size resizes them\)"):
        load_data(str(tmp_path / "a.npy"))
    with pytest.raises(ValueError, match="image_size=16 is not one of them") as info:
        build_models(TrainConfig(arch="resnet", image_size=16), (1, 16, 16))
    assert "set image_size" not in str(info.value)


@pytest.mark.parametrize("size", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("n_classes", [0, 3])
@pytest.mark.parametrize("sn", [False, True])
def test_dcgan_shapes_conditional_and_not(size, n_classes, sn):
    cfg = TrainConfig(arch="dcgan", channels=4, z_dim=8, spectral_norm=sn)
    g, d = build_models(cfg, (1, size, size), n_classes=n_classes)
    y = (torch.tensor([0, 2]),) if n_classes else ()
    x = g(torch.randn(2, 8), *y)
    assert x.shape == (2, 1, size, size) and float(x.detach().abs().max()) <= 1.0
    out = d(x, *y)
    assert out.shape == (2,) and bool(torch.isfinite(out).all())
    if n_classes:  # the label reaches both networks (G's per-class tables start equal)
        for m in g.modules():
            if isinstance(m, ConditionalBatchNorm2d):
                torch.nn.init.normal_(m.shift.weight)
        g.eval()
        z = torch.randn(2, 8)
        assert not torch.equal(g(z, torch.tensor([0, 0])), g(z, torch.tensor([1, 1])))
        x1 = torch.randn(2, 1, size, size)
        d.eval()
        assert not torch.equal(d(x1, torch.tensor([0, 0])), d(x1, torch.tensor([1, 1])))
        out.sum().backward()
        assert all(p.grad is not None for p in d.parameters() if p.requires_grad)


@pytest.mark.parametrize("n_classes", [0, 3])
def test_g_channels_widens_g_alone(n_classes):
    def widths(net):
        return [
            m.weight.shape[:2]
            for m in net.modules()
            if isinstance(m, torch.nn.modules.conv._ConvNd)
        ]

    base = TrainConfig(arch="dcgan", channels=4, z_dim=8, spectral_norm=True)
    g0, d0 = build_models(base, (1, 28, 28), n_classes=n_classes)
    g1, d1 = build_models(base.replace(g_channels=8), (1, 28, 28), n_classes=n_classes)
    assert widths(g0) == [(8, 8), (8, 4), (4, 1)]  # (in, out) of the transposed convolutions
    assert widths(g1) == [(8, 16), (16, 8), (8, 1)]
    assert widths(d1) == widths(d0)
    y = (torch.tensor([0, 2]),) if n_classes else ()
    assert d1(g1(torch.randn(2, 8), *y), *y).shape == (2,)
    assert build_models(base.replace(g_channels=0), (1, 28, 28))[0].state_dict().keys() == (
        build_models(base, (1, 28, 28))[0].state_dict().keys()
    )
    assert speed.faster_choices(base.replace(channels=32, g_channels=64))[:2] == [
        "--g-channels 32", "--channels 16"]  # fmt: skip
    assert not any("g-channels" in c for c in speed.faster_choices(base.replace(g_channels=4)))
    with pytest.raises(ValueError, match="g_channels"):
        TrainConfig(g_channels=-1)
    with pytest.raises(TypeError, match="g_channels"):
        TrainConfig(g_channels=1.5)


@pytest.mark.parametrize("size", [16, 28])
def test_label_in_z_gives_g_a_learned_first_map_per_class(size):
    base = TrainConfig(arch="dcgan", channels=4, z_dim=8)
    g0 = build_models(base, (1, size, size), n_classes=3)[0]
    g1 = build_models(base.replace(label_in_z=True), (1, size, size), n_classes=3)[0]
    w = g1.first.weight  # (z_dim + classes, C, s0, s0)
    assert w.shape[0] == 8 + 3 and g0.first.weight.shape[0] == 8
    assert g1.state_dict().keys() == g0.state_dict().keys()  # one weight wider, nothing new
    # the first layer on a 1x1 input is sum_k in_k W_k: by hand, in float64, [z, onehot(y)]
    z, y = torch.randn(5, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 2, 0])
    want = torch.einsum("bk,kchw->bchw", z, w.double()[:8]) + w.double()[8 + y]
    zy = torch.cat([z, torch.eye(3, dtype=torch.float64)[y]], 1)
    got = g1.first.double()(zy[..., None, None])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    g1.float().eval()
    zz = torch.randn(2, 8)  # at initialisation (equal per-class norms) only the input differs
    assert not torch.equal(g1(zz, torch.tensor([0, 0])), g1(zz, torch.tensor([1, 1])))
    g0.eval()
    assert torch.equal(g0(zz, torch.tensor([0, 0])), g0(zz, torch.tensor([1, 1])))
    x = g1(zz, torch.tensor([0, 2]))
    assert x.shape == (2, 1, size, size) and float(x.abs().max()) <= 1.0


def test_label_in_z_refuses_a_model_it_cannot_feed():
    on = TrainConfig(arch="dcgan", channels=4, z_dim=8, label_in_z=True)
    with pytest.raises(ValueError, match=r"label_in_z .*0 classes"):
        build_models(on, (1, 28, 28))
    with pytest.raises(ValueError, match=r"label_in_z .*arch='mlp'"):
        build_models(on.replace(arch="mlp"), (2,), n_classes=3)
    with pytest.raises(ValueError, match=r"label_in_z .*arch='resnet'"):
        build_models(on.replace(arch="resnet"), (1, 28, 28), n_classes=3)
    with pytest.raises(TypeError, match="label_in_z"):
        TrainConfig(label_in_z=1)
    with pytest.raises(TypeError, match="label_input"):
        ConditionalDCGANGenerator(8, (1, 28, 28), n_classes=3, label_input="yes")


@pytest.mark.parametrize("change", [{"label_in_z": True}, {"pac": 2}, {}])
def test_plain_discriminator_scores_one_unlabelled_sample_whatever_the_run_trained(change):
    cfg = TrainConfig(arch="dcgan", channels=4, z_dim=8, **change)
    d = plain_discriminator(cfg, (1, 28, 28))
    x = torch.randn(3, 1, 28, 28)
    d.eval()
    one_by_one = torch.cat([d(x[i : i + 1]).reshape(-1) for i in range(3)])
    torch.testing.assert_close(d(x).reshape(-1), one_by_one, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_classes", [0, 10])
def test_resnet_at_28_px_goes_7_14_28(n_classes):
    g, d = Generator(8, 28, 1, n_classes, ch=4), Discriminator(28, 1, n_classes, ch=4)
    assert g.bottom == 7 and len(g.blocks) == 2  # 7 -> 14 -> 28
    y = torch.arange(2) if n_classes else None
    x = g(torch.randn(2, 8), y)
    assert x.shape == (2, 1, 28, 28) and d(x, y).shape == (2,)
    h = torch.randn(2, 1, 28, 28)
    for block in d.blocks:
        h = block(h)
    assert h.shape[2:] == (7, 7)


def test_conditional_dcgan_validates_its_arguments():
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        ConditionalDCGANGenerator(8, (1, 28, 28), n_classes=1)
    with pytest.raises(ValueError, match="image size must be one of 8, 16, 28, 32, 64"):
        ConditionalDCGANGenerator(8, (1, 20, 20), n_classes=3)


def test_image_data_without_a_preset_gets_the_image_recipe(tmp_path, root):
    (tmp_path / "folder").mkdir()
    np.save(tmp_path / "imgs.npy", np.zeros((4, 3, 8, 8), np.float32))
    np.save(tmp_path / "vecs.npy", np.zeros((4, 2), np.float32))
    assert preset_for(str(tmp_path / "folder")) == "image"
    assert preset_for(str(tmp_path / "imgs.npy")) == "image"
    assert preset_for(str(tmp_path / "vecs.npy")) is None
    assert preset_for("fashion-mnist") == "fashion-mnist"
    assert preset_for("mnist", conditional=True) == "mnist-cond"
    assert preset_for("digits", conditional=True) == "digits-cond"
    cfg = resolve_config({"data": str(tmp_path / "imgs.npy"), "conditional": True})
    toy = TrainConfig()
    assert (cfg.lr_g, cfg.batch_size, cfg.steps) != (toy.lr_g, toy.batch_size, toy.steps)
    assert cfg.conditional and cfg.arch == "auto" and cfg.ema > 0
    f = resolve_config({"data": "fashion-mnist", "conditional": True, "steps": 7})
    assert f.arch == "dcgan" and f.conditional and f.steps == 7 and f.data == "fashion-mnist"


def test_auto_arch_is_recorded_and_device_aware():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert speed.resolve_arch("auto", (1, 28, 28), cpu) == "dcgan"
    assert speed.resolve_arch("auto", (1, 28, 28), cuda) == "dcgan"  # grey 28 px: the DCGAN
    assert speed.resolve_arch("auto", (3, 64, 64), cuda) == "resnet"
    assert speed.resolve_arch("auto", (3, 64, 64), cuda, pac=2) == "dcgan"
    assert speed.resolve_arch("auto", (2,), cuda) == "mlp"
    assert speed.resolve_arch("resnet", (1, 28, 28), cpu) == "resnet"


def test_tiny_conditional_run_from_idx_files(root, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", "fashion-mnist", "--conditional", "--data-root", str(root),
            "--out", str(run), *TINY]  # fmt: skip
    assert main(args) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["arch"] == "dcgan" and cfg["data_root"] == str(root.resolve())
    assert cfg["eval_samples"] == 40 and cfg["lr_g"] == 1.6e-3  # the fashion-mnist-cond preset
    assert cfg["label_in_z"] is True and cfg["g_channels"] == 4  # the preset's, then TINY's
    res = json.loads((run / "evaluation.json").read_text())
    keys = {"fid", "fid_train_test", "kid", "intra_fid", "intra_fid_train_test",
            "class_accuracy", "class_accuracy_test", "class_accuracy_ratio_min", "js"}  # fmt: skip
    assert keys <= set(res) and res["js_fit_steps"] == 1  # 4 steps of 8: a 1-step JS fit
    assert 0.0 <= res["class_accuracy"] <= 1.0
    out = tmp_path / "bag.npy"
    assert main(["sample", str(run), "-n", "5", "--label", "8", "-o", str(out)]) == 0
    x = np.load(out, allow_pickle=False)
    assert x.shape == (5, 1, 28, 28) and np.abs(x).max() <= 1.0
    capsys.readouterr()
    assert main(["evaluate", str(run), "-n", "40"]) == 0
    assert "class_accuracy_test" in capsys.readouterr().out


@pytest.mark.parametrize("conditional", [True, False])
def test_28px_presets_narrow_d_in_float32_unless_channels_are_set(tmp_path, conditional):
    for data in ("fashion-mnist", "mnist"):
        cfg = resolve_config({"data": data, "conditional": conditional})
        assert (cfg.channels, cfg.float32_channels, cfg.g_channels) == (48, 32, 64)
        # the unconditional presets: 20 spectral clusters in place of labels
        assert (cfg.clusters, cfg.cluster_method) == ((0, "kmeans") if conditional
                                                      else (20, "spectral"))  # fmt: skip
        # a width the user sets holds on every device; both set: both hold
        mine = resolve_config({"data": data, "conditional": conditional, "channels": 40})
        assert (mine.channels, mine.float32_channels) == (40, 0)
        both = resolve_config({"data": data, "conditional": conditional, "channels": 40,
                               "float32_channels": 24})  # fmt: skip
        assert (both.channels, both.float32_channels) == (40, 24)
    toml = tmp_path / "c.toml"
    toml.write_text("channels = 40\n")
    assert resolve_config({"data": "fashion-mnist", "conditional": True},
                          config_file=toml).float32_channels == 0  # fmt: skip


@pytest.mark.parametrize("g_channels", [0, 6])
def test_float32_width_changes_d_alone_and_is_recorded(g_channels):
    from gan.training.start import float32_width

    cfg = TrainConfig(arch="dcgan", channels=8, g_channels=g_channels, float32_channels=4, z_dim=8)
    f32, bf16 = float32_width(cfg, True), float32_width(cfg, False)
    assert (f32.channels, f32.float32_channels) == (4, 0)
    assert (bf16.channels, bf16.float32_channels) == (8, 0)
    g0, d0 = build_models(cfg, (1, 28, 28), n_classes=3)
    g1, d1 = build_models(f32, (1, 28, 28), n_classes=3)
    shapes = lambda m: [v.shape for v in m.state_dict().values()]  # noqa: E731
    assert shapes(g1) == shapes(g0)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(d1) < n(d0) and n(d1) == n(build_models(cfg.replace(channels=4), (1, 28, 28), 3)[1])
    assert float32_width(f32, True) == f32  # decided once: a resumed run builds the same D
    mlp = TrainConfig(arch="mlp", float32_channels=4)
    assert float32_width(mlp, True).channels == mlp.channels
    with pytest.raises(ValueError, match="float32_channels"):
        TrainConfig(float32_channels=-1)


@pytest.mark.parametrize("bf16", [False, True])
def test_a_run_records_the_width_its_precision_chose_and_resumes(root, tmp_path, monkeypatch,
                                                                  bf16):  # fmt: skip
    from gan.sampling import load_run

    monkeypatch.setattr("gan.training.start.cpu_bf16", lambda: bf16)
    run = tmp_path / "run"
    args = ["train", "--data", "fashion-mnist", "--conditional", "--data-root", str(root),
            "--out", str(run), *TINY, "--channels", "8", "--float32-channels", "4",
            "--eval-samples", "0"]  # fmt: skip
    assert main(args) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["channels"], cfg["float32_channels"], cfg["g_channels"]) == (8 if bf16 else 4, 0, 4)
    assert main(["train", "--resume", "--out", str(run), "--steps", "6"]) == 0
    _, _, d, data = load_run(run)
    want = build_models(TrainConfig(**{k: v for k, v in cfg.items() if k != "extra"}),
                        data.shape, n_classes=10)[1]  # fmt: skip
    assert [v.shape for v in d.state_dict().values()] == [
        v.shape for v in want.state_dict().values()]  # fmt: skip


def test_missing_files_refuse_the_run_in_one_line_and_write_nothing(root, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "mnist", "--out", str(run), *TINY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "divergences data fetch mnist" in err[0]
    assert str(tmp_path / "home" / "MNIST" / "raw") in err[0]
    assert not run.exists()
    bad = tmp_path / "bad"
    write_split_files(bad / "mnist", bad_label=12)
    assert main(["train", "--data", "mnist", "--data-root", str(bad), "--out", str(run),
                 *TINY]) == 2  # fmt: skip
    assert "labels out of range" in capsys.readouterr().err and not run.exists()


def test_a_slow_step_is_warned_in_one_line(root, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(speed, "SLOW_STEP_S", 0.0)
    args = ["train", "--data", "mnist", "--data-root", str(root), "--out", str(tmp_path / "r"),
            *TINY, "--eval-samples", "0"]  # fmt: skip
    assert main(args) == 0
    warned = [ln for ln in capsys.readouterr().err.splitlines() if "per step" in ln]
    assert len(warned) == 1 and warned[0].startswith("divergences train: warning: arch=dcgan")
    assert "measured over steps 2-3" in warned[0] and "faster: --channels 8" in warned[0]


def test_evaluate_and_stats_read_the_named_test_split(root, tmp_path, capsys):
    import metrics

    x, _ = datasets.load_split("fashion-mnist", "test", data_root=root)
    fake = x[:10].unsqueeze(1).float() / 255.0
    rep = metrics.evaluate("fashion-mnist:test", fake, metrics=["fid", "kid"],
                           features="fashion", data_root=str(root))  # fmt: skip
    assert rep.meta["n_real"] == 20 and rep.meta["provenance"]["real"]["data_set"] == (
        "fashion-mnist:test"
    )
    same = metrics.evaluate("fashion-mnist:test", "fashion-mnist:test", metrics=["fid"],
                            features="fashion", data_root=str(root))  # fmt: skip
    assert abs(same["fid"].value) < 1e-6
    np.save(tmp_path / "fake.npy", fake.numpy())
    assert main(["evaluate", "fashion-mnist", str(tmp_path / "fake.npy"), "--features",
                 "fashion", "--metrics", "fid", "--data-root", str(root)]) == 0  # fmt: skip
    assert "fid" in capsys.readouterr().out
    np.save(tmp_path / "pm1.npy", fake.numpy() * 2 - 1)  # the trainer's units: refused
    assert main(["evaluate", "fashion-mnist", str(tmp_path / "pm1.npy"), "--features",
                 "fashion", "--data-root", str(root)]) == 2  # fmt: skip
    assert "(x + 1) / 2" in capsys.readouterr().err
    ref = tmp_path / "ref.npz"
    assert main(["stats", "fashion-mnist:train", "-o", str(ref), "--features", "fashion",
                 "--data-root", str(root)]) == 0  # fmt: skip
    assert "n=40, D=128" in capsys.readouterr().out


@pytest.mark.slow
def test_fashion_benchmark_runs_on_tiny_settings(root, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_fashion.py"
    spec = importlib.util.spec_from_file_location("bench_fashion", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(["--conditional", "--steps", "2", "--eval-n", "20", "--data-root",
                      str(root), "--step-count", "2", "--step-repeats", "1", "--width", "8",
                      "--batch", "8", "--threads", "1"])  # fmt: skip
    assert [r["loop"] for r in out["rows"]] == ["ours", "plain"]
    assert out["rows"][0]["steps"] == 2 and "acc_ratio_min" in out["rows"][0]
    assert set(out["step_seconds"]) == {"trainer", "plain loop"}
    assert "FID ratio plain / ours" in capsys.readouterr().out
    # unconditional: the preset's networks are conditioned on clusters of the images
    out = bench.main(["--steps", "2", "--eval-n", "20", "--data-root", str(root),
                      "--step-count", "2", "--step-repeats", "1", "--width", "8", "--batch",
                      "8", "--threads", "1"])  # fmt: skip
    assert [r["loop"] for r in out["rows"]] == ["ours", "plain"]
    assert "acc_ratio" not in out["rows"][0]
    assert set(out["step_seconds"]) == {"trainer", "plain loop"}


@given(steps=st.integers(1, 10**6), n_critic=st.integers(1, 5), batch=st.integers(1, 1024),
       eval_batch=st.integers(1, 1024), configured=st.integers(0, 10**4))  # fmt: skip
def test_evaluation_fits_scale_with_the_run(steps, n_critic, batch, eval_batch, configured):
    from gan.evaluation import fit_steps, sample_count

    cfg = TrainConfig(steps=steps, n_critic=n_critic, batch_size=batch, eval_batch_size=eval_batch)
    k = fit_steps(cfg, configured)
    seen = steps * n_critic * batch
    assert 0 <= k <= configured
    assert k * eval_batch <= max(eval_batch, seen / 2)  # at most half the run's real samples
    if 2 * configured * eval_batch <= seen:  # a long run keeps the configured count
        assert k == configured
    assert fit_steps(cfg.replace(steps=2 * steps), configured) >= k  # monotone in the run
    n = sample_count(cfg.replace(eval_samples=max(1, configured)), 20)
    assert 20 <= n and (n <= max(1, configured) or n == 20) and n <= max(20, seen // 4)


@pytest.mark.parametrize("n_classes", [0, 3])
@pytest.mark.parametrize("size", [28, 32])
def test_g_refine_ends_with_a_3x3_convolution_at_full_size(n_classes, size):
    from scipy.signal import correlate2d

    cfg = TrainConfig(arch="dcgan", channels=4, z_dim=8, g_refine=5).replace(
        label_in_z=n_classes > 0
    )  # fmt: skip
    g = build_models(cfg, (2, size, size), n_classes=n_classes)[0].double().eval()
    conv = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(conv) == 1 and conv[0].weight.shape == (2, 5, 3, 3)
    seen = {}
    conv[0].register_forward_hook(lambda m, args, out: seen.update(h=args[0]))
    z = torch.randn(3, 8, dtype=torch.float64)
    x = g(z, torch.tensor([0, 1, 2])) if n_classes else g(z)
    h, w = seen["h"].detach().numpy(), conv[0].weight.detach().numpy()
    assert h.shape == (3, 5, size, size) and h.min() >= 0.0  # after ReLU, at full size
    want = np.tanh([[sum(correlate2d(h[b, i], w[o, i], mode="same") for i in range(5))
                     for o in range(2)] for b in range(3)])  # fmt: skip
    np.testing.assert_allclose(x.detach().numpy(), want, rtol=1e-10, atol=1e-12)


def test_g_refine_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match=r"g_refine .*arch='mlp'"):
        build_models(TrainConfig(arch="mlp", g_refine=4), (2,))
    with pytest.raises(ValueError, match=r"g_refine .*arch='resnet'"):
        build_models(TrainConfig(arch="resnet", g_refine=4), (1, 28, 28))
    with pytest.raises(ValueError, match="g_refine"):
        TrainConfig(g_refine=-1)
    with pytest.raises(TypeError, match="g_refine"):
        TrainConfig(g_refine=2.0)
    with pytest.raises(TypeError, match="refine"):
        ConditionalDCGANGenerator(8, (1, 28, 28), n_classes=3, refine=True)
