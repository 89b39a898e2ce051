"""Statistics files: broken ones fail clearly (or, cached, are recomputed); mixed ones refused."""

from __future__ import annotations

import gc
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import metrics
from gan.cli import main as cli_main
from gan.cli.stats import main as stats_main
from metrics.io.cache import load_stats_file, save_stats_file
from metrics.stats import FeatureStats

RNG = np.random.default_rng(0)
GOOD = {
    "mu": RNG.normal(size=4),
    "sigma": np.eye(4),
    "n": np.int64(30),
    "group_n": np.array([15, 15]),
    "group_mu": RNG.normal(size=(2, 4)),
    "group_sigma": np.stack([np.eye(4)] * 2),
    "meta": np.array(json.dumps({"extractor": {"network": "identity"}})),
}


def _raw(**arrays) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        np.savez(Path(d) / "s.npz", **arrays)
        return (Path(d) / "s.npz").read_bytes()


RAW = _raw(**GOOD)


def _without(*keys):
    return _raw(**{k: v for k, v in GOOD.items() if k not in keys})


def _flipped(raw: bytes) -> bytes:
    b = bytearray(raw)
    b[raw.index(GOOD["sigma"].tobytes()) + 7] ^= 0xFF  # in sigma's data: its CRC fails
    return bytes(b)


# (bytes of the file, whether FeatureStats.load, which reads mu/sigma/n only, must fail too)
BROKEN = {
    "empty": (b"", True),
    "truncated_10": (RAW[:10], True),
    "truncated_half": (RAW[: len(RAW) // 2], True),
    "truncated_last_byte": (RAW[:-1], True),
    "garbage": (b"not an archive at all" * 20, True),
    "flipped_byte": (_flipped(RAW), True),
    "no_sigma": (_without("sigma"), True),
    "no_mu": (_without("mu"), True),
    "objects": (_raw(mu=np.array([{"a": 1}], dtype=object), sigma=np.eye(1)), True),
    "n_not_a_count": (_raw(**{**GOOD, "n": np.array([1.5, 2.0])}), True),
    "mu_2d": (_raw(**{**GOOD, "mu": np.zeros((4, 1))}), True),
    "groups_partial": (_without("group_mu"), False),
    "groups_misshapen": (_raw(**{**GOOD, "group_mu": np.zeros((3, 4))}), False),
    "meta_not_json": (_raw(**{**GOOD, "meta": np.array("{oops")}), False),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_every_broken_file_is_one_clear_value_error(tmp_path, case):
    # the law: a broken statistics file is a ValueError that names the file (and a missing
    # key by name), never numpy's pickle advice, and no file handle is left open
    raw, load_fails = BROKEN[case]
    path = tmp_path / "ref.npz"
    path.write_bytes(raw)
    readers = [load_stats_file] + ([FeatureStats.load] if load_fails else [])
    for read in readers:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError) as e:
                read(path)
            gc.collect()
        msg = str(e.value)
        assert msg.startswith(str(path)) and "pickle" not in msg and "\n" not in msg
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
        if case in ("no_sigma", "no_mu"):
            assert f"missing ['{case[3:]}']" in msg


def test_a_file_with_mu_but_no_sigma_is_named_as_such_by_evaluate(tmp_path):
    path = tmp_path / "ref.npz"
    path.write_bytes(BROKEN["no_sigma"][0])
    with pytest.raises(ValueError, match=r"missing \['sigma'\]"):
        metrics.evaluate(path, RNG.normal(size=(20, 4)), metrics="fid")


class Tagged:
    """An extractor (identity on flat rows) that declares a provenance."""

    def __init__(self, **prov):
        self.provenance = prov

    def __call__(self, x):
        return x.reshape(x.shape[0], -1)


FIELDS = {"network": ["identity", "digits"], "sha256": ["a" * 64, "b" * 64],
          "resize": ["pytorch-fid", "clean"], "precision": ["float32", "bf16"]}  # fmt: skip
LABELS = {"network": "extractor", "sha256": "network hash", "resize": "network resize",
          "precision": "precision"}  # fmt: skip
XY = RNG.normal(size=(30, 3)), RNG.normal(size=(30, 3))
FID_XY = metrics.evaluate(*XY, metrics="fid")["fid"].value
provenances = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in FIELDS.items()})


@settings(max_examples=15)
@given(theirs=provenances, mine=provenances)
def test_statistics_of_other_features_are_refused_naming_both(theirs, mine):
    # the law: evaluate refuses a file iff its recorded extractor differs from the run's in
    # any field, and names every differing field with both values
    x, y = XY
    with tempfile.TemporaryDirectory() as d:
        ref = Path(d) / "ref.npz"
        total, groups, prov = metrics.compute_stats(x, features=Tagged(**theirs), groups=2)
        save_stats_file(ref, total, groups, meta=prov)
        diff = [k for k in FIELDS if theirs[k] != mine[k]]
        if not diff:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                r = metrics.evaluate(ref, y, metrics="fid", features=Tagged(**mine))
            assert r["fid"].value == pytest.approx(FID_XY, rel=1e-9)
            return
        with pytest.raises(ValueError) as e:
            metrics.evaluate(ref, y, metrics="fid", features=Tagged(**mine))
        msg = str(e.value)
        assert str(ref) in msg and "divergences stats" in msg
        for k in diff:
            assert f"{LABELS[k]} {theirs[k][:16]!r}"[:-1] in msg
            assert f"{mine[k][:16]!r}"[:-1] in msg
        for k in set(FIELDS) - set(diff):
            assert LABELS[k] + " " not in msg


def test_files_without_provenance_warn_what_went_unchecked(tmp_path):
    x, y = RNG.normal(size=(30, 3)), RNG.normal(size=(30, 3))
    bare = tmp_path / "pytorch_fid.npz"  # pytorch-fid writes mu and sigma only
    np.savez(bare, mu=x.mean(0), sigma=np.cov(x, rowvar=False))
    with pytest.warns(UserWarning, match="records no provenance") as rec:
        r = metrics.evaluate(bare, y, metrics="fid", features=Tagged(network="n", precision="bf16"))
    (w,) = [w for w in rec if "provenance" in str(w.message)]
    assert all(s in str(w.message) for s in ("extractor", "network hash", "precision", "'bf16'"))
    assert r["fid"].value == pytest.approx(metrics.evaluate(x, y, metrics="fid")["fid"].value)
    # a file that records some fields but not the run's precision: that one is named
    partial = tmp_path / "partial.npz"
    save_stats_file(partial, FeatureStats().update(x), meta={"extractor": {"network": "n"}})
    with pytest.warns(UserWarning, match="does not record its precision: not checked"):
        metrics.evaluate(partial, y, metrics="fid", features=Tagged(network="n", precision="bf16"))


def test_cli_refuses_identity_statistics_with_digits_features(tmp_path, capsys, monkeypatch):
    # the case: same dimension (64), other extractor: exit 2, one line naming both
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    np.save(tmp_path / "real.npy", rng.uniform(size=(40, 64)).astype(np.float32))
    np.save(tmp_path / "fake.npy", rng.uniform(size=(40, 64)).astype(np.float32))
    ref = str(tmp_path / "ref.npz")
    assert cli_main(["stats", str(tmp_path / "real.npy"), "-o", ref, "--groups", "2"]) == 0
    capsys.readouterr()
    argv = ["evaluate", ref, str(tmp_path / "fake.npy"), "--metrics", "fid"]
    assert cli_main([*argv, "--features", "digits", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]
    assert "extractor 'identity' in the file, 'digits' here" in err[0]
    assert cli_main(argv) == 0  # the same features: accepted, silently
    assert capsys.readouterr().err == ""
    np.savez(tmp_path / "bare.npz", mu=np.zeros(64), sigma=np.eye(64))
    assert cli_main(["evaluate", str(tmp_path / "bare.npz"), *argv[2:]]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning" in err[0] and "records no provenance" in err[0]


TWO = {"fid": {"groups": 2}}  # the fewest groups that still write group statistics


def _folder(path, n=12, seed=0, shape=(2, 2, 3)):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path / f"{i}.png")
    return path


def _eval(real, fake, ext):
    return metrics.evaluate(real, fake, metrics="fid", features=ext, num_workers=0, options=TWO)


@pytest.mark.parametrize("damage", ["truncated_half", "garbage", "no_sigma", "groups_partial"])
def test_a_corrupt_cache_entry_is_reported_once_and_recomputed(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "cache"))
    real, fake = _folder(tmp_path / "r"), _folder(tmp_path / "f", seed=1)
    ext = Tagged(network="t")
    first = _eval(real, fake, ext)
    (entry,) = (tmp_path / "cache" / "stats").glob("*.npz")
    entry.write_bytes(BROKEN[damage][0])
    orphan = entry.with_name(f".{entry.name}.k3x9ab12.tmp")  # a killed writer's
    orphan.write_bytes(b"half")
    with pytest.warns(UserWarning) as rec:
        again = metrics.evaluate(
            real, fake, metrics="fid", features=ext, num_workers=0, options=TWO
        )
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1 and str(entry) in msgs[0] and "recomputing" in msgs[0]
    assert "\n" not in msgs[0] and "pickle" not in msgs[0]
    assert again["fid"].value == pytest.approx(first["fid"].value, rel=1e-12)
    assert again.meta["provenance"]["real"]["cached_statistics"] is False
    assert not orphan.exists()
    load_stats_file(entry)  # rewritten whole
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third = metrics.evaluate(
            real, fake, metrics="fid", features=ext, num_workers=0, options=TWO
        )
    assert third.meta["provenance"]["real"]["cached_statistics"] is True


def test_stats_files_record_their_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "cache"))
    real = _folder(tmp_path / "r", shape=(16, 16))  # grey, brought to the digits' 8 px
    ref = tmp_path / "ref.npz"
    argv = [str(real), "-o", str(ref), "--features", "digits", "--image-size", "8", "--groups",
            "2", "--no-progress", "--device", "cpu", "--workers", "0"]  # fmt: skip
    assert stats_main(argv) == 0
    _, _, meta = load_stats_file(ref)
    assert meta["features"] == "digits" and meta["extractor"]["network"] == "digits"
    assert len(meta["extractor"]["sha256"]) == 64
    assert meta["preprocessing"] == {"image_size": 8, "resize": "bilinear", "channels": None}
    assert meta["source"]["image_size"] == [8, 8] and meta["source"]["channels"] == 1
    with np.load(ref, allow_pickle=False) as f:  # still pytorch-fid's layout at heart
        assert f["mu"].shape == (64,) and f["sigma"].shape == (64, 64)
    small = _folder(tmp_path / "small")
    metrics.evaluate(small, small, metrics="fid", features=Tagged(network="t"), num_workers=0,
                     options={"fid": {"groups": 0}})  # fmt: skip
    (entry,) = (tmp_path / "cache" / "stats").glob("*.npz")
    _, _, cached = load_stats_file(entry)
    assert cached["extractor"] == {"network": "t"} and cached["folder"]["images"] == 12
    assert os.path.basename(str(entry)).endswith(".npz")
