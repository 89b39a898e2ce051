"""The Inception-v3 FID network and the resizes against pytorch-fid's and clean-fid's outputs.

The fixture ``fixtures/inception_parity.npz`` is written by ``scripts/make_inception_fixtures.py``
(pytorch-fid 0.3.0 and clean-fid 0.1.35, which need torchvision, in a separate environment).
The state dict is rebuilt here from the seed with our code alone: weights from NumPy's
generator, batch-norm running statistics from the fixture (their calibration is a float32 pass
whose last bits depend on the CPU). Tolerance for the network: 1e-4 of the largest magnitude,
about 20 times the float32 rounding measured between two CPU builds of torch (5e-6); for the
resize: 1e-3 on the [0, 255] scale (float32 sums of at most a few hundred taps).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import metrics
from metrics.networks import inception as inc
from metrics.networks import weights
from metrics.networks.resize import resize

FIXTURE = Path(__file__).parent / "fixtures" / "inception_parity.npz"
RTOL = 1e-4


@pytest.fixture(scope="module")
def fx():
    with np.load(FIXTURE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def state(fx):
    stats = {k[3:]: v for k, v in fx.items() if k.startswith("bn:")}
    return inc.random_state_dict(int(fx["seed"]), running_stats=stats)


@pytest.fixture(scope="module")
def net(state):
    return metrics.inception(state, device="cpu")


def assert_rel(actual: torch.Tensor, expected: np.ndarray, rtol: float = RTOL) -> None:
    """``max |a − e| <= rtol · max |e|`` per row (each image's features)."""
    e = torch.from_numpy(np.asarray(expected)).double()
    a = actual.detach().double()
    assert a.shape == e.shape
    err = (a - e).abs().amax(1) / e.abs().amax(1)
    assert bool((err <= rtol).all()), f"relative errors {err.tolist()}"


def test_key_names_and_shapes_are_pytorch_fids(fx):
    shapes = inc.expected_shapes()
    assert list(shapes) == [str(k) for k in fx["pf_keys"]]
    for key, row in zip(fx["pf_keys"], fx["pf_shapes"]):
        assert shapes[str(key)] == tuple(int(s) for s in row if s), key


def test_random_state_dict_is_seeded(state, fx):
    stats = {k[3:]: v for k, v in fx.items() if k.startswith("bn:")}
    again = inc.random_state_dict(int(fx["seed"]), running_stats=stats)
    assert all(torch.equal(state[k], again[k]) for k in state)
    assert state["fc.weight"].dtype == torch.float32
    inc.check_state_dict(state)


@pytest.mark.slow
def test_features_and_logits_match_pytorch_fid_at_48px(net, fx):
    images = torch.from_numpy(fx["images48"])
    with torch.no_grad():
        f, logits = net.features_and_logits(images)
        assert_rel(f, fx["features48"])
        assert_rel(logits, fx["logits48"])
        assert_rel(net(images.float() / 255), fx["features48"])  # floats in [0, 1]
        assert_rel(net.logits(images[2:]), fx["logits48"][2:])  # batch composition
    assert f.dtype == torch.float32 and f.shape == (4, 2048)
    # the random network's features depend on the image: parity is not trivially met
    spread = (f[0] - f[1]).norm() / f[0].norm()
    assert float(spread) > 0.05


@pytest.mark.slow
def test_features_and_logits_match_pytorch_fid_at_299px(net, fx):
    images = torch.from_numpy(fx["images299"])
    with torch.no_grad():
        f, logits = net.features_and_logits(images.contiguous(memory_format=torch.channels_last))
    assert_rel(f, fx["features299"])
    assert_rel(logits, fx["logits299"])


@pytest.mark.slow
def test_clean_mode_matches_clean_fid_resize_then_pytorch_fid_blocks(state, fx):
    net = metrics.inception(state, resize="clean", device="cpu")
    with torch.no_grad():
        assert_rel(net(torch.from_numpy(fx["images48"][:2])), fx["clean_features"])
    assert net.resize == "clean"


@pytest.mark.parametrize("tag", ["a", "b", "c"])
def test_clean_resize_matches_clean_fid(fx, tag):
    x = fx[f"resize_{tag}_in"]
    y = resize(x, 299)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (len(x), 3, 299, 299)
    np.testing.assert_allclose(
        y.reshape(len(y), -1)[:, fx[f"resize_{tag}_idx"]], fx[f"resize_{tag}_values"], atol=1e-3
    )
    np.testing.assert_allclose(y[:, :, [0, 1, 149, 297, 298]], fx[f"resize_{tag}_rows"], atol=1e-3)
    np.testing.assert_allclose(y[..., [0, 1, 149, 297, 298]], fx[f"resize_{tag}_cols"], atol=1e-3)
    sums = y.astype(np.float64).sum((2, 3))
    np.testing.assert_allclose(sums, fx[f"resize_{tag}_sums"], rtol=1e-6)
    np.testing.assert_allclose(resize(x, 40), fx[f"resize_{tag}_small"], atol=1e-3)
    t = resize(torch.from_numpy(x), 40)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), fx[f"resize_{tag}_small"], atol=1e-3)


def _bilinear_reference(x: np.ndarray, size: int) -> np.ndarray:
    """float64 bilinear resize, half-pixel centres (align_corners=False), edges clamped."""

    def axis(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.maximum((np.arange(size) + 0.5) * n_in / size - 0.5, 0)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    (r0, r1, wr), (c0, c1, wc) = axis(x.shape[2]), axis(x.shape[3])
    x = x.astype(np.float64)
    rows = x[:, :, r0] * (1 - wr)[:, None] + x[:, :, r1] * wr[:, None]
    return rows[..., c0] * (1 - wc) + rows[..., c1] * wc


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    size=st.integers(1, 50),
    seed=st.integers(0, 2**16),
)
def test_bilinear_resize_matches_float64_reference(n, h, w, size, seed):
    x = np.random.default_rng(seed).integers(0, 256, (n, 3, h, w), dtype=np.uint8)
    y = resize(x, size, mode="bilinear")
    assert y.dtype == np.float32 and y.shape == (n, 3, size, size)
    np.testing.assert_allclose(y, _bilinear_reference(x, size), atol=1e-3)


@settings(max_examples=20, deadline=None)
@given(
    value=st.integers(0, 255),
    h=st.integers(1, 30),
    w=st.integers(1, 30),
    size=st.integers(1, 40),
    mode=st.sampled_from(["clean", "bilinear"]),
)
def test_resize_laws_constant_images_and_range(value, h, w, size, mode):
    const = np.full((1, 3, h, w), value, dtype=np.uint8)
    np.testing.assert_allclose(resize(const, size, mode=mode), value, atol=1e-3)
    rng = np.random.default_rng(value)
    x = rng.integers(0, 256, (2, 3, h, w), dtype=np.uint8)
    y = resize(x, size, mode=mode)
    assert y.min() >= 0 and y.max() <= 255
    # each image is resized on its own: the batch changes nothing
    np.testing.assert_array_equal(resize(x[1:], size, mode=mode), y[1:])
    if h == w:  # the same size is the identity
        np.testing.assert_array_equal(resize(x, h, mode=mode), x)


def test_resize_rejects_bad_input():
    x = np.zeros((1, 3, 8, 8), dtype=np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        resize(x.astype(np.float32), 8)
    with pytest.raises(TypeError, match="uint8 tensor or array"):
        resize([[1]], 8)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        resize(x[:, :1], 8)
    with pytest.raises(ValueError, match="size must be >= 1"):
        resize(x, 0)
    with pytest.raises(TypeError, match="size must be an int"):
        resize(x, 8.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        resize(x, 8, mode="bicubic")
    assert resize(x[:0], 5).shape == (0, 3, 5, 5)


def test_images_are_validated(net):
    with pytest.raises(TypeError, match=r"torch\.from_numpy"):
        net(np.zeros((1, 3, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*max 255"):
        net(torch.full((1, 3, 8, 8), 255.0))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        net(torch.full((1, 3, 8, 8), float("nan")))
    with pytest.raises(TypeError, match="uint8 in \\[0, 255\\] or floating"):
        net(torch.zeros(1, 3, 8, 8, dtype=torch.int64))
    assert net(torch.zeros(0, 3, 8, 8, dtype=torch.uint8)).shape == (0, 2048)
    assert net.logits(torch.zeros(0, 3, 8, 8)).shape == (0, 1008)
    with pytest.raises(ValueError, match="resize must be one of"):
        metrics.inception({}, resize="bicubic")


def test_state_dict_problems_are_named(state):
    bad = dict(state)
    del bad["Mixed_6b.branch7x7_2.conv.weight"]
    bad["AuxLogits.fc.weight"] = torch.zeros(3)
    bad["fc.weight"] = torch.zeros(1000, 2048)
    with pytest.raises(ValueError) as info:
        inc.check_state_dict(bad)
    msg = str(info.value)
    assert "1 missing keys (Mixed_6b.branch7x7_2.conv.weight)" in msg
    assert "1 unexpected keys (AuxLogits.fc.weight)" in msg
    assert "fc.weight: shape (1000, 2048), expected (1008, 2048)" in msg
    nan = dict(state)
    nan["Mixed_7c.branch_pool.bn.running_var"] = torch.full((192,), -1.0)
    with pytest.raises(ValueError, match=r"negative variances in Mixed_7c\.branch_pool"):
        inc.check_state_dict(nan)
    nan["Mixed_7c.branch_pool.bn.running_var"] = torch.full((192,), float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        metrics.inception(nan, device="cpu")
    with pytest.raises(TypeError, match="a mapping"):
        inc.check_state_dict([1, 2])
    with pytest.raises(TypeError, match="weights must be a path, a state dict or None"):
        metrics.inception(3)
    with pytest.raises(ValueError, match="472 missing keys"):
        metrics.inception({}, device="cpu")


def test_weights_file_hash_is_checked(tmp_path, state):
    small = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({"fc.bias": torch.zeros(1008)}, small)
    digest = weights.sha256_file(small)
    with pytest.raises(ValueError) as info:
        metrics.inception(small)
    msg = str(info.value)
    assert str(small) in msg and digest in msg and weights.REGISTRY["inception"].sha256 in msg
    assert "check_hash=False" in msg
    with pytest.raises(ValueError, match="missing keys"):
        metrics.inception(small, check_hash=False)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(small.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"has SHA-256 [0-9a-f]{64}, not the published"):
        metrics.inception(truncated)
    with pytest.raises(ValueError, match="cannot read"):
        metrics.inception(truncated, check_hash=False)
    with pytest.raises(FileNotFoundError, match="divergences weights fetch inception"):
        metrics.inception(tmp_path / "absent.pth")


@pytest.mark.slow
def test_weights_file_loads_with_weights_only(tmp_path, state, net, fx):
    path = tmp_path / "random.pth"
    torch.save(state, path)
    loaded = metrics.inception(path, check_hash=False, device="cpu")
    assert loaded.weights_sha256 == weights.sha256_file(path)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_default_weights_come_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="run `divergences weights fetch inception`"):
        metrics.inception()


@pytest.mark.slow
def test_folded_network_equals_unfused_float64_network(state):
    """The folding and merging are exact in exact arithmetic: compare with a float64 network
    that applies each batch norm and branch as written, on a reduced input (no resize)."""

    class Unfused:
        def __init__(self, s):
            self.s = {k: v.double() for k, v in s.items()}

        def unit(self, name, x):
            _, _, _, stride, pad = inc.UNITS[name]
            y = F.conv2d(x, self.s[f"{name}.conv.weight"], None, stride, pad)
            bn = [self.s[f"{name}.bn.{k}"] for k in ("running_mean", "running_var")]
            g, b = self.s[f"{name}.bn.weight"], self.s[f"{name}.bn.bias"]
            y = F.batch_norm(y, *bn, g, b, False, 0.0, inc.BN_EPS)
            return torch.relu(y)

        def heads(self, prefix, kind, arg, x):
            names, pool = inc._heads(kind, arg)
            out = [self.unit(prefix + n, x) for n in names]
            if pool == "avg":
                pooled = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
                out.append(self.unit(prefix + "branch_pool", pooled))
            elif pool == "max":
                out.append(self.unit(prefix + "branch_pool", F.max_pool2d(x, 3, 1, 1)))
            return out

    net = inc.FIDInceptionV3(state)
    x = 2 * torch.rand(1, 3, 83, 83, generator=torch.Generator().manual_seed(0)) - 1
    with torch.no_grad():
        ours = inc._trunk(net, x.contiguous(memory_format=torch.channels_last))
        ref = inc._trunk(Unfused(state), x.double())
    assert_rel(ours, ref.numpy())
