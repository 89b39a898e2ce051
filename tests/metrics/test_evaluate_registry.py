"""evaluate() through records: the options record, the sides, the metric registry and its laws."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gan.cli.stats import main as stats_main
from metrics import METRICS, Entry, EvaluationOptions, evaluate
from metrics._records import MetricResult, Side
from metrics._registry import MetricSpec, register
from metrics._sides import Need, Reader, read_side

CENTERS = np.array([[0.0, 0.0], [3.0, 3.0]])
# options that make every registered metric run on 2-D points quickly
OPTIONS = {
    "kid": {"subsets": 5},
    "mode_coverage": {"centers": CENTERS, "std": 0.5},
    "two_sample": {"permutations": 30},
    "c2st": {"n_folds": 2},
    "js": {"n_folds": 2},
}


def _classifier(x: torch.Tensor) -> torch.Tensor:
    """Logits of a fixed two-class classifier (its inputs: the 2-D points)."""
    return torch.stack([x[:, 0], -x[:, 0]], 1)


def _pair(seed: int = 0, n: int = 60, m: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = CENTERS[rng.integers(0, 2, n)] + 0.3 * rng.normal(size=(n, 2))
    return x, CENTERS[rng.integers(0, 2, m)] + 0.3 * rng.normal(size=(m, 2)) + 0.2


def _evaluate(x, y, names, **kw):
    opts = {k: v for k, v in OPTIONS.items() if k in names}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "metric 'cmmd' is defined on CLIP", UserWarning)
        return evaluate(x, y, metrics=names, options=opts, logits=_classifier, **kw)


def _same(a: Entry, b: Entry) -> bool:
    return dataclasses.astuple(a) == dataclasses.astuple(b)


def test_every_registered_metric_runs_through_the_registry():
    x, y = _pair()
    opts = EvaluationOptions(metrics=list(METRICS), options=OPTIONS, logits=_classifier)
    reader = Reader.from_options(opts)
    need = Need(features=True, statistics=True, groups=opts.fid_groups)
    real = read_side(x, name="real", reader=reader, need=need)
    fake = read_side(y, name="fake", reader=reader, need=dataclasses.replace(need, logits=True))
    report = _evaluate(x, y, list(METRICS))
    seen = []
    for name, spec in METRICS.items():
        assert isinstance(spec, MetricSpec) and spec.name == name and spec.needs
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "metric 'cmmd' is defined on CLIP", UserWarning)
            result = spec(real, fake, opts)
        assert isinstance(result, MetricResult) and result.entries, name
        for key, entry in result.entries.items():  # the report holds exactly these entries
            assert _same(entry, report[key]), (name, key)
        seen += list(result.entries)
    assert seen == list(report)


def test_metrics_one_at_a_time_equal_all_at_once():
    """The law on every metric: no metric sees another's work (same seeds, same entries)."""
    x, y = _pair(1)
    together = _evaluate(x, y, list(METRICS))
    for name in METRICS:
        alone = _evaluate(x, y, [name])
        assert set(alone) <= set(together), name
        for key, entry in alone.items():
            assert _same(entry, together[key]), (name, key)
        assert alone.meta["options"].get(name) == together.meta["options"].get(name)


FAST = ["fid", "kid", "precision_recall", "density_coverage", "chamfer", "mmd2", "knn_kl"]


@pytest.mark.filterwarnings("ignore:kid. subset_size:UserWarning")
@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(8, 40),
    m=st.integers(8, 40),
    order=st.permutations(FAST),
)
def test_law_any_split_of_the_metrics_gives_the_same_entries(seed, n, m, order):
    x, y = _pair(seed, n, m)
    k = len(order) // 2
    parts = [_evaluate(x, y, order[:k]), _evaluate(x, y, order[k:])]
    together = _evaluate(x, y, order)
    assert sorted(together) == sorted(key for p in parts for key in p)
    for part in parts:
        for key, entry in part.items():
            assert _same(entry, together[key]), key


def test_unknown_names_and_options_are_refused_before_any_work():
    x, y = _pair()
    calls = []

    def counting(b):
        calls.append(len(b))
        return b.reshape(len(b), -1)

    with pytest.raises(ValueError, match=r"unknown metrics \['nope'\]; choose from \[.*'fid'"):
        evaluate(x, y, metrics=["fid", "nope"], features=counting)
    with pytest.raises(ValueError, match=r"not computed: \['kid'\]$"):
        evaluate(x, y, metrics=["fid"], options={"kid": {}}, features=counting)
    with pytest.raises(ValueError, match=r"\['kidd'\] are not metrics"):
        evaluate(x, y, metrics=["fid"], options={"kidd": {}}, features=counting)
    with pytest.raises(TypeError, match="metrics must be a metric name or a list"):
        evaluate(x, y, metrics=[1], features=counting)
    assert calls == []


def _folder(path, seed, n=12):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L").save(path / f"{i}.png")
    return path


def test_statistics_only_sides(tmp_path, monkeypatch):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "cache"))
    real, fake = _folder(tmp_path / "r", 1), _folder(tmp_path / "f", 2)
    ref = tmp_path / "ref.npz"
    argv = [str(real), "-o", str(ref), "--features", "digits", "--device", "cpu", "--groups", "3"]
    assert stats_main(argv) == 0
    kw = {"features": "digits", "device": "cpu"}
    refused = r"real is a statistics file .*serves only metrics=\['fid'\].*'kid' needs per-sample"
    with pytest.raises(ValueError, match=refused) as err:
        evaluate(ref, fake, metrics=["fid", "kid", "precision_recall"], **kw)
    assert "'precision_recall' needs per-sample features" in str(err.value)
    assert "'fid'" not in str(err.value).partition(";")[2]
    with pytest.raises(ValueError, match=r"fake is a statistics file .*'is' needs the fake sample"):
        evaluate(real, ref, metrics=["is"], **kw)
    # the Inception Score reads the fake side only: a statistics file serves as the real side
    via_file = evaluate(ref, fake, metrics=["fid", "is"], options={"fid": {"groups": 3}}, **kw)
    direct = evaluate(real, fake, metrics=["fid", "is"], options={"fid": {"groups": 3}}, **kw)
    assert _same(via_file["is"], direct["is"])
    assert via_file["fid"].value == pytest.approx(direct["fid"].value, rel=1e-9)
    assert via_file.meta["provenance"]["real"]["source"] == "stats"
    # a side holding statistics only has no features: a metric that needs them says so
    opts = EvaluationOptions(metrics="kid", features="digits", device="cpu")
    reader = Reader.from_options(opts)
    side = read_side(ref, name="real", reader=reader, need=Need(features=True))
    assert side.from_statistics_file and side.features is None and side.dim == 64
    assert side.source == str(ref)
    other = read_side(fake, name="fake", reader=reader, need=Need(features=True))
    with pytest.raises(ValueError, match=r"real is a statistics file .*'kid' needs per-sample"):
        METRICS["kid"](side, other, opts)
    with pytest.raises(ValueError, match="needs a classifier"):
        METRICS["is"](side, other, opts)
    fid_only = read_side(fake, name="fake", reader=reader, need=Need(statistics=True))
    with pytest.raises(ValueError, match=r"'kid' needs the fake side's features, which were not"):
        METRICS["kid"](other, fid_only, opts)
    assert METRICS["fid"](side, fid_only, opts).entries["fid"].value >= 0


def test_a_folder_read_twice_is_counted_once(tmp_path):
    real, fake = _folder(tmp_path / "r", 1), _folder(tmp_path / "f", 2)
    r = evaluate(real, fake, metrics=["is"], features="digits", device="cpu", cache=False)
    assert r.meta["provenance"]["fake"]["images"] == 12 == r.meta["n_fake"]


def test_options_record_checks_once_and_round_trips():
    x, y = _pair()
    given = {"fid": {"groups": 4}, "kid": {"subsets": 3}}
    opts = EvaluationOptions(metrics=("fid", "kid"), options=given, batch_size=16)
    assert opts.fid_groups == 4 and opts.of("kid") == {"subsets": 3}
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.batch_size = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        opts.options["kid"]["subsets"] = 4  # type: ignore[index]
    opts.of("kid")["subsets"] = 5  # a fresh dict: the record is unchanged
    assert opts.of("kid") == {"subsets": 3} and given["kid"] == {"subsets": 3}
    a = evaluate(x, y, **opts.keywords())
    b = evaluate(x, y, metrics=["fid", "kid"], options=given, batch_size=16)
    assert list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    assert a.meta["options"] == b.meta["options"] == {"fid": {"groups": 4}, "kid": {"subsets": 3}}
    assert given == {"fid": {"groups": 4}, "kid": {"subsets": 3}}  # the caller's dict untouched
    assert dataclasses.replace(opts, metrics="kid", options={}).metrics == ("kid",)
    bad = [
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be an integer"),
        ({"num_samples": 0}, ValueError, "num_samples must be >= 1"),
        ({"num_workers": -1}, ValueError, "num_workers must be >= 0"),
        ({"progress": "yes"}, TypeError, "progress must be a bool"),
        ({"cache": 1}, TypeError, "cache must be a bool"),
        ({"channels": 2}, ValueError, "channels must be 1, 3 or None"),
        ({"image_size": 0}, ValueError, "image_size must be a positive int"),
        ({"options": {"fid": 3}}, TypeError, "options must map metric names to dicts"),
        ({"options": {"fid": {"groups": -1}}}, ValueError, r"options\['fid'\]\['groups'\]"),
        ({"options": {"fid": {"group": 3}}}, TypeError, r"takes 'groups' and 'confidence', not"),
        ({"resize": "clean"}, ValueError, "needs features 'inception'"),
        ({"metrics": []}, ValueError, "metrics is empty"),
    ]
    for kw, exc, message in bad:
        with pytest.raises(exc, match=message):
            EvaluationOptions(**{"metrics": "fid", **kw})
        with pytest.raises(exc, match=message):
            evaluate(x, y, **{"metrics": "fid", **kw})


def test_records_refuse_what_they_cannot_hold():
    with pytest.raises(TypeError, match="must map names to Entry records"):
        MetricResult({"fid": 1.0})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="kind must be one of"):
        Side("real", "pixels", 3)
    with pytest.raises(ValueError, match="needs must be a non-empty subset"):
        MetricSpec("x", lambda r, f, o: MetricResult({}), frozenset({"pixels"}))
    with pytest.raises(ValueError, match="'fid' is registered already"):
        register("fid", needs={"statistics"})(lambda r, f, o: MetricResult({}))
    assert METRICS["fid"].statistics_suffice and not METRICS["kid"].statistics_suffice
    with pytest.raises(TypeError):
        METRICS["new"] = METRICS["fid"]  # type: ignore[index]
