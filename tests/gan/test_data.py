"""Data sets, array loading, models, EMA, checkpoints and rejection sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from gan.checkpoint import load_checkpoint, save_atomic
from gan.config import TrainConfig
from gan.data import load_array, load_data
from gan.ema import EMA
from gan.models import DCGANDiscriminator, DCGANGenerator, build_models
from gan.rejection import rejection_sample


def test_mixtures_match_their_definitions():
    g = torch.Generator().manual_seed(0)
    ring = load_data("ring8")
    a = 2 * np.pi * np.arange(8) / 8
    np.testing.assert_allclose(ring.centers.numpy(), np.c_[np.cos(a), np.sin(a)], atol=1e-7)
    x = ring.sample(40000, g).double()
    d = torch.cdist(x, ring.centers.double()).min(1).values
    # 2-D isotropic Gaussian: P(r <= 3σ) = 1 − exp(−4.5) ≈ 0.9889 (the "true samples" score)
    assert float((d <= 0.03).double().mean()) == pytest.approx(1 - math.exp(-4.5), abs=3e-3)
    grid = load_data("grid25")
    assert sorted(set(grid.centers[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    x = grid.sample(50000, g)
    k = torch.cdist(x, grid.centers).argmin(1)
    counts = torch.bincount(k, minlength=25).double() / len(x)
    assert float((counts - 1 / 25).abs().max()) < 0.005
    assert float((x - grid.centers[k]).std()) == pytest.approx(0.05, rel=0.02)


def test_swissroll_and_digits():
    g = torch.Generator().manual_seed(0)
    s = load_data("swissroll").sample(1000, g)
    assert s.shape == (1000, 2) and float(s.norm(dim=1).max()) < 3.0
    d = load_data("digits")
    assert d.shape == (1, 8, 8) and len(d.train) == 1437 and len(d.test) == 360
    assert float(d.train.min()) == -1.0 and float(d.train.max()) == 1.0
    assert d.sample(5, g).shape == (5, 1, 8, 8)


def test_load_array_formats_and_errors(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", only=x)
    torch.save({"x": torch.from_numpy(x)}, tmp_path / "c.pt")
    for name in ("a.npy", "b.npz", "c.pt"):
        np.testing.assert_array_equal(load_array(tmp_path / name).numpy(), x)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="holds Python objects, not a numeric array"):
        load_array(tmp_path / "obj.npy")
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(ValueError, match="must hold exactly one array"):
        load_array(tmp_path / "two.npz")
    with pytest.raises(ValueError, match="does not exist"):
        load_array(tmp_path / "missing.npy")
    imgs = np.random.default_rng(0).integers(0, 256, (4, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "img.npy", imgs)
    d = load_data(str(tmp_path / "img.npy"))
    assert d.shape == (3, 16, 16) and float(d.train.min()) >= -1 and float(d.train.max()) <= 1


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(
            tmp_path / f"{i}.png"
        )
    d = load_data(str(tmp_path), image_size=16)
    assert d.shape == (3, 16, 16) and len(d.train) == 3
    with pytest.raises(ValueError, match="side in"):
        load_data(str(tmp_path))  # 20 px is not a supported size


@pytest.mark.parametrize("size", [8, 16, 28, 32, 64])
def test_dcgan_shapes(size):
    g = DCGANGenerator(10, (3, size, size), channels=4)
    x = g(torch.randn(4, 10))
    assert x.shape == (4, 3, size, size) and float(x.detach().abs().max()) <= 1
    for sn in (False, True):
        d = DCGANDiscriminator((3, size, size), channels=4, spectral_norm=sn, pac=2)
        assert d(x).shape == (2,)


def test_spectral_norm_bounds_the_mlp_lipschitz_constant():
    cfg = TrainConfig(spectral_norm=True, hidden=32, d_layers=2)
    _, d = build_models(cfg, (2,))
    for _ in range(20):  # power iterations converge in train mode
        d(torch.randn(8, 2))
    d.eval()
    x = torch.randn(256, 2, requires_grad=True)
    (grad,) = torch.autograd.grad(d(x).sum(), x)
    assert float(grad.norm(dim=1).max()) <= 1.0 + 1e-3  # LeakyReLU is 1-Lipschitz


def test_ema_matches_closed_form():
    lin = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(lin.weight)
    ema = EMA(lin, beta=0.9)
    expected = 0.0
    for t in range(30):
        with torch.no_grad():
            lin.weight.fill_(float(t + 1))
        ema.update(lin)
        beta = min(0.9, (1 + t) / (10 + t))
        expected = beta * expected + (1 - beta) * (t + 1)
    assert float(ema.model.weight) == pytest.approx(expected, rel=1e-6)
    state = ema.state_dict()
    other = EMA(lin, beta=0.9)
    other.load_state_dict(state)
    assert other.num_updates == 30 and torch.equal(other.model.weight, ema.model.weight)


def test_ema_follows_whichever_model_it_is_given_and_its_buffers():
    # the tensor lists are cached per live model: a new model, restored weights and
    # buffers must still be followed
    a, b = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    ema = EMA(a, beta=0.5)
    with torch.no_grad():
        a.weight.fill_(2.0)
        a.running_mean.fill_(3.0)
    ema.update(a)  # beta_0 = min(0.5, 1/10) = 0.1
    assert torch.allclose(ema.model.weight, torch.full((2,), 0.1 * 1 + 0.9 * 2))
    assert torch.equal(ema.model.running_mean, a.running_mean)
    a.load_state_dict(b.state_dict())  # in-place: weight 1, running mean 0
    ema.update(a)  # beta_1 = 2/11
    want = 2 / 11 * 1.9 + 9 / 11 * 1.0
    assert torch.allclose(ema.model.weight, torch.full((2,), want))
    assert torch.equal(ema.model.running_mean, torch.zeros(2))
    with torch.no_grad():
        b.weight.fill_(-1.0)
    ema.update(b)  # beta_2 = 3/12
    assert torch.allclose(ema.model.weight, torch.full((2,), 0.25 * want + 0.75 * -1.0))


def test_atomic_checkpoint_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "c.pt"
    save_atomic({"step": 1}, path)
    with pytest.raises(Exception):  # noqa: B017 - any pickling error
        save_atomic({"step": 2, "bad": lambda: 0}, path)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="could not be read"):
        load_checkpoint(path)


class _ExactLogRatio(nn.Module):
    """Logit of D* for p* = N(1, 1) against p_θ = N(0, 1): log p*/p_θ = x − ½."""

    def forward(self, x):
        return x[:, 0] - 0.5


def test_rejection_sampling_moves_samples_towards_the_target():
    g = nn.Identity()  # p_θ = N(0, 1) in 1-D
    gen = torch.Generator().manual_seed(0)
    res = rejection_sample(g, _ExactLogRatio(), 4000, z_dim=1, generator=gen, burn_in=20000,
                           gamma=0.0)  # fmt: skip
    # γ = 0 is exact rejection sampling: the accepted samples follow N(1, 1)
    x = res.samples[:, 0].double()
    assert float(x.mean()) == pytest.approx(1.0, abs=0.08)
    assert float(x.std()) == pytest.approx(1.0, abs=0.08)
    # acceptance = E_θ[e^(s − M)] = e^(−M) since E_θ[p*/p_θ] = 1
    assert res.acceptance_rate == pytest.approx(math.exp(-res.max_logit), rel=0.15)
    default = rejection_sample(g, _ExactLogRatio(), 10, z_dim=1, generator=gen, burn_in=2000)
    assert default.gamma == 0.0  # exact rejection sampling by default
    shifted = rejection_sample(g, _ExactLogRatio(), 2000, z_dim=1, generator=gen, burn_in=20000,
                               shift_quantile=0.5)  # fmt: skip
    # Azadi et al.'s shift (γ = a quantile of F, negative here) accepts more than exact
    # rejection: the samples move part of the way from N(0, 1) towards N(1, 1)
    assert shifted.gamma < 0 and shifted.acceptance_rate > res.acceptance_rate
    assert 0.3 < float(shifted.samples.mean()) < 0.95
    with pytest.raises(ValueError, match="n must be >= 1"):
        rejection_sample(g, _ExactLogRatio(), 0, z_dim=1, generator=gen)
    with pytest.raises(ValueError, match="shift_quantile or gamma, not both"):
        rejection_sample(g, _ExactLogRatio(), 5, z_dim=1, generator=gen, gamma=0.0,
                         shift_quantile=0.5)  # fmt: skip
    with pytest.raises(ValueError, match="shift_quantile must be in"):
        rejection_sample(g, _ExactLogRatio(), 5, z_dim=1, generator=gen, shift_quantile=2.0)
    # G far from the data: exact rejection would accept ~e^-M; the median shift takes over
    with pytest.warns(RuntimeWarning, match="far from the data"):
        far = rejection_sample(g, _ExactLogRatio(), 50, z_dim=1, generator=gen, burn_in=2000,
                               min_acceptance=0.9)  # fmt: skip
    assert far.gamma < 0 and far.samples.shape == (50, 1)


def test_standardization_matches_the_moments():
    from gan.data import Data, standardization

    loc, scale = standardization(load_data("grid25"))
    # centres uniform on {−4, −2, 0, 2, 4}: Var = (16 + 4 + 0 + 4 + 16) / 5 = 8, plus σ² = 0.05²
    assert loc.tolist() == [0.0, 0.0] and scale == pytest.approx(math.sqrt(8 + 0.05**2))
    loc, scale = standardization(load_data("ring8"))
    assert float(loc.abs().max()) < 1e-6 and scale == pytest.approx(math.sqrt(0.5 + 1e-4))
    x = np.random.default_rng(0).normal([1.0, -3.0, 0.5], [2.0, 0.1, 1.0], size=(500, 3))
    loc, scale = standardization(Data("x", (3,), train=torch.tensor(x, dtype=torch.float32)))
    np.testing.assert_allclose(loc.numpy(), x.mean(0), rtol=1e-5, atol=1e-5)
    assert scale == pytest.approx(math.sqrt(x.var(0).mean()), rel=1e-5)
    with pytest.raises(ValueError, match="zero variance"):
        standardization(Data("c", (2,), train=torch.ones(4, 2)))


def test_normalize_wraps_both_networks_in_the_same_affine_map():
    torch.manual_seed(0)
    cfg = TrainConfig(data="grid25", normalize=True, hidden=16, g_layers=1, d_layers=1, pac=2)
    g, d = build_models(cfg, (2,))
    s = math.sqrt(8 + 0.05**2)
    z, x = torch.randn(6, 16), torch.randn(6, 2) * 3
    torch.testing.assert_close(g(z), s * g.inner(z))  # loc = 0 for grid25
    torch.testing.assert_close(d(x), d.inner(x / s))
    assert d(x).shape == (3,) and g.z_dim == 16 and d.pac == 2
    # the standardisation is part of the state dict (it travels in checkpoints)
    assert {"loc", "scale"} <= set(g.state_dict()) and {"loc", "scale"} <= set(d.state_dict())


# ---- class labels (issue 14) ---------------------------------------------------------------


def _png(path, value: int, size: int = 8) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(path)


def test_digits_labels_match_scikit_learn():
    from sklearn.datasets import load_digits

    raw = load_digits()
    data = load_data("digits", conditional=True)
    assert data.class_names == tuple("0123456789") and data.n_classes == 10
    flat = torch.from_numpy(raw.images.reshape(len(raw.images), -1) / 8.0 - 1.0).float()
    for x, y in ((data.train, data.labels), (data.test, data.test_labels)):
        # each image's label is sklearn's target of the identical image
        match = (torch.cdist(x.reshape(len(x), -1), flat) < 1e-5).float().argmax(1)
        assert torch.equal(torch.from_numpy(raw.target)[match], y)
    assert int(data.class_counts().sum()) == len(data.train)
    assert load_data("digits").labels is None and load_data("digits").class_names is None


def test_image_folder_with_class_subfolders(tmp_path):
    # class folders named out of order: classes are the sorted names
    for name, value, n in (("zebra", 250, 3), ("ant", 10, 2), ("moth", 128, 4)):
        for i in range(n):
            _png(tmp_path / name / f"{i}.png", value)
    (tmp_path / ".hidden").mkdir()
    data = load_data(str(tmp_path), conditional=True)
    assert data.class_names == ("ant", "moth", "zebra")
    assert data.labels.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2]
    pix = data.train.mean(dim=(1, 2, 3))
    want = torch.tensor([10.0] * 2 + [128.0] * 4 + [250.0] * 3) / 255 * 2 - 1
    torch.testing.assert_close(pix, want)
    # labelled draws come from their class only
    gen = torch.Generator().manual_seed(0)
    y = torch.tensor([2, 0, 1, 2, 0] * 20)
    x = data.sample(len(y), gen, labels=y)
    torch.testing.assert_close(x.mean(dim=(1, 2, 3)), want[torch.tensor([0, 2, 6])[y]])
    xb, yb = data.sample_labelled(50, gen)
    torch.testing.assert_close(xb.mean(dim=(1, 2, 3)), want[torch.tensor([0, 2, 6])[yb]])
    moved = data.to(torch.device("cpu"))
    assert moved.class_names == data.class_names and torch.equal(moved.labels, data.labels)
    assert torch.equal(moved.class_counts(), torch.tensor([2, 4, 3]))


def test_class_folder_errors(tmp_path):
    _png(tmp_path / "a" / "0.png", 1)
    (tmp_path / "b" / "nested").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"class folder '.*b' holds no images"):
        load_data(str(tmp_path), conditional=True)
    _png(tmp_path / "b" / "0.png", 2)
    _png(tmp_path / "loose.png", 3)
    with pytest.raises(ValueError, match="outside them"):
        load_data(str(tmp_path), conditional=True)
    flat = tmp_path / "flat"
    _png(flat / "0.png", 1)
    _png(flat / "1.png", 2)
    with pytest.raises(
        ValueError,
        match="no class subfolders; labels come from digits, fashion-mnist, mnist, an image",
    ):
        load_data(str(flat), conditional=True)
    assert load_data(str(flat)).labels is None  # unconditional use is unchanged


def test_npz_with_x_and_y(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)), np.array([7, 3, 3, 7, 9, 3, 7, 9, 9, 3, 7, 7])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load_data(str(tmp_path / "d.npz"), conditional=True)
    assert data.class_names == ("3", "7", "9") and data.shape == (3,)
    assert data.labels.tolist() == np.unique(y, return_inverse=True)[1].tolist()
    torch.testing.assert_close(data.train, torch.from_numpy(x).float())
    np.savez(tmp_path / "nolabels.npz", x=x)
    with pytest.raises(ValueError, match="holds arrays \\['x'\\], not x and y; labels come from"):
        load_data(str(tmp_path / "nolabels.npz"), conditional=True)
    np.savez(tmp_path / "float.npz", x=x, y=y + 0.5)
    with pytest.raises(ValueError, match="y must hold integer class labels"):
        load_data(str(tmp_path / "float.npz"), conditional=True)
    np.savez(tmp_path / "short.npz", x=x, y=y[:5])
    with pytest.raises(ValueError, match="one label per sample"):
        load_data(str(tmp_path / "short.npz"), conditional=True)
    np.save(tmp_path / "a.npy", x)
    with pytest.raises(ValueError, match="one array; labels come from"):
        load_data(str(tmp_path / "a.npy"), conditional=True)


@pytest.mark.parametrize("name", ["ring8", "grid25", "swissroll"])
def test_conditional_without_labels_names_the_sources(name):
    with pytest.raises(ValueError, match=r"needs class labels.*digits.*subfolder.*x and y"):
        load_data(name, conditional=True)


def test_image_sizes_48_and_128_load(tmp_path):
    for side in (48, 128):
        x = np.zeros((2, 3, side, side), dtype=np.float32)
        np.save(tmp_path / f"i{side}.npy", x)
        assert load_data(str(tmp_path / f"i{side}.npy")).shape == (3, side, side)
