"""SNGAN ResNet networks and their layers against direct formulas and the paper's layer shapes."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from gan.nets import (
    IMAGE_SIZES,
    ConditionalBatchNorm2d,
    Discriminator,
    Generator,
    ProjectionHead,
    SelfAttention2d,
)
from gan.nets.dcgan import ConditionalDCGANGenerator, ProjectionDCGANDiscriminator
from gan.nets.resnet import DBlock


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------- parameter counts, by hand
def _conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def _g_count(z, size, c_img, ch, n_classes=0):
    """The SNGAN generator's count from its layer list (Miyato et al. 2018, App. B)."""
    bottom = {48: 6, 28: 7}.get(size, 4)
    widths = {
        28: [ch] * 3,  # 7 -> 14 -> 28
        32: [ch] * 4,
        48: [8 * ch, 4 * ch, 2 * ch, ch],
        64: [16 * ch, 8 * ch, 4 * ch, 2 * ch, ch],
        128: [16 * ch, 16 * ch, 8 * ch, 4 * ch, 2 * ch, ch],
    }[size]
    bn = (lambda c: 2 * c * n_classes) if n_classes else (lambda c: 2 * c)  # γ, β (per class)
    n = z * widths[0] * bottom**2 + widths[0] * bottom**2  # l1 with bias
    for a, b in itertools.pairwise(widths):
        n += bn(a) + _conv(3, a, b) + bn(b) + _conv(3, b, b) + _conv(1, a, b)
    return n + 2 * widths[-1] + _conv(3, widths[-1], c_img)  # final BN + conv


def _d_count(size, c_img, ch, n_classes=0):
    """The SNGAN discriminator's count: optimized block, blocks, bias-free linear, embedding."""
    widths, downs = {
        28: ([ch] * 4, [True, True, False, False]),  # 28 -> 14 -> 7, 7, 7
        32: ([ch] * 4, [True, True, False, False]),
        48: ([ch, 2 * ch, 4 * ch, 8 * ch, 16 * ch], [True] * 4 + [False]),
        64: ([ch, 2 * ch, 4 * ch, 8 * ch, 16 * ch], [True] * 5),
        128: ([ch, 2 * ch, 4 * ch, 8 * ch, 16 * ch, 16 * ch], [True] * 5 + [False]),
    }[size]
    n = _conv(3, c_img, widths[0]) + _conv(3, widths[0], widths[0]) + _conv(1, c_img, widths[0])
    for a, b, down in zip(widths[:-1], widths[1:], downs[1:]):
        n += _conv(3, a, a) + _conv(3, a, b) + (_conv(1, a, b) if down or a != b else 0)
    return n + widths[-1] + n_classes * widths[-1]


def test_cifar10_configuration_parameter_counts():
    # The numbers the official Chainer networks give (pfnet-research/sngan_projection).
    g, d = Generator(128, 32, 3), Discriminator(32, 3)
    assert (g.ch, d.ch) == (256, 128)
    assert _count(g) == _g_count(128, 32, 3, 256) == 4_276_739
    assert _count(d) == _d_count(32, 3, 128) == 1_053_824
    gc, dc = Generator(128, 32, 3, n_classes=10), Discriminator(32, 3, n_classes=10)
    assert _count(gc) == _g_count(128, 32, 3, 256, 10) == 4_304_387
    assert _count(dc) == _d_count(32, 3, 128, 10) == 1_055_104


@pytest.mark.parametrize("size", IMAGE_SIZES)
def test_parameter_counts_follow_the_layer_shapes_at_every_size(size):
    assert _count(Generator(16, size, 3, ch=4)) == _g_count(16, size, 3, 4)
    assert _count(Generator(16, size, 1, 5, ch=4)) == _g_count(16, size, 1, 4, 5)
    assert _count(Discriminator(size, 3, ch=4)) == _d_count(size, 3, 4)
    assert _count(Discriminator(size, 1, 5, ch=4)) == _d_count(size, 1, 4, 5)


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize("size", IMAGE_SIZES)
@pytest.mark.parametrize("n_classes", [0, 3])
def test_output_shapes_and_range(size, n_classes):
    torch.manual_seed(0)
    g = Generator(8, size, 3, n_classes, ch=4)
    d = Discriminator(size, 3, n_classes, ch=4)
    y = torch.tensor([0, 2]) if n_classes else None
    x = g(torch.randn(2, 8), y)
    assert x.shape == (2, 3, size, size)
    assert float(x.detach().abs().max()) <= 1.0
    out = d(x, y)
    assert out.shape == (2,) and torch.isfinite(out).all()
    assert d.features(x).shape == (2, d.head.psi.weight.shape[1])


@pytest.mark.parametrize("size, g_att, d_att", [(32, 16, 16), (48, 24, 3), (64, 32, 32)])
def test_biggan_options_shapes_and_gradients(size, g_att, d_att):
    torch.manual_seed(0)
    g = Generator(8, size, 3, 4, ch=8, shared_embedding=6, attention=g_att,
                  spectral_norm=True, init="orthogonal")  # fmt: skip
    d = Discriminator(size, 3, 4, ch=8, attention=d_att, init="orthogonal")
    assert sum(isinstance(b, SelfAttention2d) for b in g.blocks) == 1
    assert sum(isinstance(b, SelfAttention2d) for b in d.blocks) == 1
    y = torch.tensor([0, 3, 1])
    d(g(torch.randn(3, 8), y), y).sum().backward()
    for name, p in [*g.named_parameters(), *d.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_orthogonal_init_gives_orthogonal_weights():
    g = Generator(8, 32, 3, ch=4, init="orthogonal")
    w = g.l1.weight.detach()  # (64, 8): orthonormal columns
    assert torch.allclose(w.T @ w, torch.eye(8), atol=1e-5)


# ---------------------------------------------------------------- the projection discriminator
def _d_block_ref(x, blk: DBlock):
    """A residual D block from its definition (official order: conv, then pool)."""
    h = x if blk.optimized else F.relu(x)
    h = F.conv2d(h, blk.c1.weight, blk.c1.bias, padding=1)
    h = F.conv2d(F.relu(h), blk.c2.weight, blk.c2.bias, padding=1)
    if blk.down:
        h = F.avg_pool2d(h, 2)
    if blk.optimized:
        s = F.conv2d(F.avg_pool2d(x, 2), blk.c_sc.weight, blk.c_sc.bias)
    elif blk.c_sc is not None:
        s = F.conv2d(x, blk.c_sc.weight, blk.c_sc.bias)
        s = F.avg_pool2d(s, 2) if blk.down else s
    else:
        s = x
    return h + s


@pytest.mark.parametrize("size", [32, 48])
def test_projection_discriminator_equals_its_direct_formula(size):
    torch.manual_seed(1)
    d = Discriminator(size, 3, n_classes=5, ch=4).double()
    for _ in range(3):  # a few power iterations so the normalised weights are not the initial ones
        d(torch.randn(2, 3, size, size, dtype=torch.float64), torch.tensor([0, 1]))
    d.eval()  # no power-iteration update: the weights read below are the ones the forward uses
    x = torch.randn(6, 3, size, size, dtype=torch.float64)
    y = torch.tensor([0, 4, 2, 2, 1, 3])
    with torch.no_grad():
        h = x
        for blk in d.blocks:
            h = _d_block_ref(h, blk)
        phi = F.relu(h).sum(dim=(2, 3))  # global sum pooling
        w_psi = d.head.psi.weight  # (1, C), spectrally normalised
        emb = d.head.embed.weight[y]  # (B, C)
        expected = (phi @ w_psi.T).squeeze(1) + (emb * phi).sum(1)
        got = d(x, y)
        assert torch.allclose(d.features(x), phi, rtol=1e-12, atol=1e-12)
        assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)
        # With the class term removed the head is ψ alone.
        assert torch.allclose(got - (emb * phi).sum(1), (phi @ w_psi.T).squeeze(1), atol=1e-12)


def test_spectral_norm_makes_every_discriminator_weight_unit_norm():
    torch.manual_seed(0)
    d = Discriminator(32, 3, n_classes=4, ch=4)
    x, y = torch.randn(1, 3, 32, 32), torch.tensor([3])
    for _ in range(40):  # one power iteration per training-mode forward
        d(x, y)
    d.eval()
    for name, mod in d.named_modules():
        if hasattr(mod, "parametrizations"):
            w = mod.weight.detach()
            sigma = torch.linalg.matrix_norm(w.reshape(w.shape[0], -1).double(), ord=2)
            assert float(sigma) == pytest.approx(1.0, abs=1e-2), name


def test_discriminator_scores_each_sample_independently():
    torch.manual_seed(0)
    d = Discriminator(32, 3, n_classes=3, ch=4).eval()
    x, y = torch.randn(5, 3, 32, 32), torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        whole = d(x, y)
        one_by_one = torch.cat([d(x[i : i + 1], y[i : i + 1]) for i in range(5)])
    assert torch.allclose(whole, one_by_one, atol=1e-5)


# ---------------------------------------------------------------- conditioning in G
def test_conditional_batch_norm_equals_bn_then_per_class_affine():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(4, n_classes=3).double()
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.randn(3, 4))
        cbn.shift.weight.copy_(torch.randn(3, 4))
    x = torch.randn(7, 4, 3, 3, dtype=torch.float64) * 3 + 1
    y = torch.tensor([0, 1, 2, 2, 1, 0, 0])
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    bn = (x - mean) / torch.sqrt(var + 1e-5)
    g, b = cbn.gain.weight[y], cbn.shift.weight[y]
    expected = bn * g[:, :, None, None] + b[:, :, None, None]
    assert torch.allclose(cbn(x, y), expected, atol=1e-12)
    cbn.eval()  # running statistics after one update: momentum 0.1 from (0, 1)
    rm, rv = 0.1 * mean, 0.9 + 0.1 * x.var(dim=(0, 2, 3), keepdim=True)
    expected = (x - rm) / torch.sqrt(rv + 1e-5) * g[:, :, None, None] + b[:, :, None, None]
    assert torch.allclose(cbn(x, y), expected, atol=1e-12)


def test_conditional_batch_norm_keeps_the_autocast_dtype():
    # Under bf16 autocast the output stays bf16 (no float32 copy of the activation for the next
    # convolution to cast back) and agrees with float32 to bf16's precision.
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(4, n_classes=3)
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.randn(3, 4))
        cbn.shift.weight.copy_(torch.randn(3, 4))
    x = torch.randn(6, 4, 5, 5) * 3 + 1
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    ref = cbn(x, y)
    ref.sum().backward()
    g_ref = cbn.gain.weight.grad.clone()
    cbn.gain.weight.grad = None
    with torch.autocast("cpu", torch.bfloat16):
        out = cbn(x.bfloat16(), y)
    assert out.dtype == torch.bfloat16
    u = 2.0**-9  # bf16's unit roundoff
    xh = (x - x.mean((0, 2, 3), keepdim=True)) / torch.sqrt(
        x.var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5
    )
    gam, bet = cbn.gain.weight[y][:, :, None, None], cbn.shift.weight[y][:, :, None, None]
    # five roundings, each at most u relative: x, its normalised value, γ, β and the output
    bound = 5 * u * (gam.abs() * (xh.abs() + 1) + bet.abs())
    assert ((out.float() - ref).abs() <= bound.detach()).all()
    out.float().sum().backward()
    # the tables keep float32 gradients; each sums its class's normalised values, each rounded
    # (input, normalised value, product) and the per-sample sums rounded once more
    assert cbn.gain.weight.grad.dtype == torch.float32
    g_bound = 4 * u * torch.stack([(xh[y == k].abs() + 1).sum((0, 2, 3)) for k in range(3)])
    assert ((cbn.gain.weight.grad - g_ref).abs() <= g_bound).all()


def test_conditional_dcgan_first_layer_is_its_transposed_convolution():
    # G computes its first layer (a transposed convolution of a 1 × 1 input) as a matrix product
    torch.manual_seed(0)
    g = ConditionalDCGANGenerator(8, (1, 28, 28), n_classes=3, channels=4, label_input=True)
    g = g.double()
    z, y = torch.randn(5, 8, dtype=torch.float64), torch.tensor([0, 2, 1, 1, 0])
    h = g.first(torch.cat([z, F.one_hot(y, 3).double()], 1)[:, :, None, None])
    h = F.relu(g.norms[0](h, y))
    for up, norm in zip(g.ups, g.norms[1:]):
        h = F.relu(norm(up(h), y))
    assert torch.allclose(g(z, y), torch.tanh(g.out(h)), atol=1e-12)


@pytest.mark.parametrize("sn", [False, True])
def test_dcgan_projection_discriminator_equals_its_direct_formula(sn):
    torch.manual_seed(2)
    d = ProjectionDCGANDiscriminator((1, 28, 28), n_classes=4, channels=3, spectral_norm=sn)
    d = d.double()
    for _ in range(3):  # a few power iterations, then none while the weights are read
        d(torch.randn(2, 1, 28, 28, dtype=torch.float64), torch.tensor([0, 3]))
    d.eval()
    x = torch.randn(6, 1, 28, 28, dtype=torch.float64)
    y = torch.tensor([0, 3, 3, 1, 0, 1])
    phi = d.trunk(x).flatten(1)
    w_psi, emb = d.head.psi.weight, d.head.embed.weight
    expected = (phi @ w_psi.T).squeeze(1) + (emb[y] * phi).sum(1)
    got = d(x, y)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)
    if not sn:  # ⟨e(y), φ⟩'s gradient: class k's row sums the features of its samples, absent 0
        got.sum().backward()
        rows = torch.stack([phi[y == k].sum(0) for k in range(4)]).detach()
        assert torch.allclose(d.head.embed.weight.grad, rows, atol=1e-12)
        assert (d.head.embed.weight.grad[2] == 0).all()


def test_shared_embedding_batch_norm_equals_bn_then_projected_affine():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(4, embed_dim=5).double()
    x, e = torch.randn(6, 4, 2, 2, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    bn = F.batch_norm(x, None, None, training=True, eps=1e-5)
    gamma = 1 + e @ cbn.gain.weight.T + cbn.gain.bias
    beta = e @ cbn.shift.weight.T + cbn.shift.bias
    expected = bn * gamma[:, :, None, None] + beta[:, :, None, None]
    assert torch.allclose(cbn(x, e), expected, atol=1e-12)


def test_conditional_generator_honours_labels():
    torch.manual_seed(0)
    g = Generator(8, 32, 1, n_classes=4, ch=4)
    with torch.no_grad():  # distinct per-class affines, as after training
        for m in g.modules():
            if isinstance(m, ConditionalBatchNorm2d):
                m.gain.weight.normal_(1, 0.5)
                m.shift.weight.normal_(0, 0.5)
    g.eval()
    z = torch.randn(4, 8)
    with torch.no_grad():
        a = g(z, torch.tensor([0, 1, 2, 3]))
        b = g(z, torch.tensor([0, 1, 2, 0]))
        single = g(z[3:], torch.tensor([3]))
    assert torch.allclose(a[:3], b[:3], atol=1e-6)  # eval mode: each sample on its own
    assert not torch.allclose(a[3], b[3], atol=1e-3)  # another label, another image
    assert torch.allclose(a[3:], single, atol=1e-6)


def test_one_by_one_shortcuts_commute_with_resampling():
    # The blocks convolve shortcuts before upsampling / after pooling: exact for 1x1 convs.
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    w, b = torch.randn(5, 3, 1, 1, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    assert torch.allclose(F.conv2d(up(x), w, b), up(F.conv2d(x, w, b)), atol=1e-12)
    assert torch.allclose(
        F.avg_pool2d(F.conv2d(x, w, b), 2), F.conv2d(F.avg_pool2d(x, 2), w, b), atol=1e-12
    )


# ---------------------------------------------------------------- self-attention
def test_self_attention_equals_its_formula():
    torch.manual_seed(0)
    att = SelfAttention2d(16, spectral_norm=False).double()
    with torch.no_grad():
        att.gamma.fill_(0.7)
    x = torch.randn(2, 16, 4, 6, dtype=torch.float64)
    assert torch.equal(SelfAttention2d(16)(x.float()), x.float())  # γ = 0: identity
    theta = torch.einsum("oc,bchw->bohw", att.theta.weight[:, :, 0, 0], x).flatten(2)
    phi = F.max_pool2d(torch.einsum("oc,bchw->bohw", att.phi.weight[:, :, 0, 0], x), 2)
    g = F.max_pool2d(torch.einsum("oc,bchw->bohw", att.g.weight[:, :, 0, 0], x), 2)
    phi, g = phi.flatten(2), g.flatten(2)
    expected = torch.empty_like(x)
    for b in range(2):
        beta = torch.softmax(theta[b].T @ phi[b], dim=1)  # (HW, HW/4): rows sum to 1
        o = (g[b] @ beta.T).view(8, 4, 6)
        expected[b] = x[b] + 0.7 * torch.einsum("oc,chw->ohw", att.o.weight[:, :, 0, 0], o)
    assert torch.allclose(att(x), expected, atol=1e-12)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: Generator(8, 24, 3), ValueError, r"img_size must be one of \(28, 32, 48"),
        (lambda: Discriminator(256, 3), ValueError, "img_size must be one of"),
        (lambda: Generator(0, 32, 3), ValueError, "z_dim must be >= 1"),
        (lambda: Generator(8, 32, 3, ch=2.5), TypeError, "ch must be an int"),
        (lambda: Discriminator(32, 0), ValueError, "channels must be >= 1"),
        (lambda: Discriminator(32, 3, -1), ValueError, "n_classes must be >= 0"),
        (lambda: Generator(8, 32, 3, shared_embedding=4), ValueError, "needs a conditional"),
        (lambda: Generator(8, 32, 3, attention=12), ValueError, r"one of \[8, 16, 32\]"),
        (lambda: Discriminator(32, 3, attention=32), ValueError, r"one of \[8, 16\]"),
        (lambda: Generator(8, 32, 3, init="he"), ValueError, "init must be one of"),
        (lambda: ConditionalBatchNorm2d(4), ValueError, "exactly one of n_classes"),
        (lambda: Discriminator(32, 3, spectral_norm=1), TypeError, "spectral_norm must be a bool"),
    ],
)
def test_bad_constructor_arguments_are_named(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_forward_inputs_are_named():
    g, gc = Generator(8, 32, 3, ch=4), Generator(8, 32, 3, 3, ch=4)
    d = Discriminator(32, 3, 3, ch=4)
    z = torch.randn(2, 8)
    with pytest.raises(ValueError, match=r"z must have shape \(B, 8\)"):
        g(torch.randn(2, 9))
    with pytest.raises(TypeError, match="z must be a floating-point"):
        g(torch.ones(2, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="y must be None"):
        g(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"y .* is required"):
        gc(z)
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        gc(z, torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="int64"):
        gc(z, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        gc(z, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3, 32, 32\)"):
        d(torch.randn(2, 3, 16, 16), torch.tensor([0, 1]))


def test_projection_head_without_classes_is_psi():
    head = ProjectionHead(5, spectral_norm=False).double()
    phi = torch.randn(3, 5, dtype=torch.float64)
    assert torch.allclose(head(phi), (phi @ head.psi.weight.T).squeeze(1), atol=1e-12)
