"""Data-parallel training and sharded evaluation with 2 gloo processes on CPU; GPU smoke tests.

One spawn of 2 processes (a module fixture) runs: the metric merges on hand-made shards, the
whole sharded ``evaluate_generator``, and a short training run. The tests then compare what the
ranks returned with metrics computed in this single process on the union of the same shards
(rebuilt from the same per-rank seeds and the same weights).
"""

from __future__ import annotations

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from divergences.estimators import js_from_discriminator
from gan import evaluation
from gan._dist import all_gather_cat, rank_seed
from gan.config import TrainConfig
from gan.data import load_data
from gan.models import MLPDiscriminator, MLPGenerator
from gan.training import train
from metrics import digits_features, fid, kid, mode_coverage, precision_recall
from metrics.parallel import shard_range

WORLD, N = 2, 301  # unequal shards: 151 + 150


def _ring_shard(ring, rank):
    """Rank's samples of ring8 blurred so that some of them are not high quality."""
    gen = torch.Generator().manual_seed(rank_seed(11, rank))
    x = ring.sample(len(shard_range(N, rank, WORLD)), gen)
    return x + 0.02 * torch.randn(x.shape, generator=gen)


def _digit_shard(digits, rank):
    gen = torch.Generator().manual_seed(rank_seed(12, rank))
    idx = torch.randint(len(digits.train), (len(shard_range(N, rank, WORLD)),), generator=gen)
    noise = torch.randn(digits.train[idx].shape, generator=gen)
    return (digits.train[idx] + 0.3 * noise).clamp(-1, 1)


def _nets():
    torch.manual_seed(0)
    g = MLPGenerator(4, 2, hidden=16, layers=2).eval()
    d = MLPDiscriminator(2, hidden=16, layers=2)
    return g, d


def _work(rank: int, out: str) -> dict:
    ring, digits = load_data("ring8"), load_data("digits")
    g, d = _nets()
    res = {
        "ring": evaluation.sample_metrics(_ring_shard(ring, rank), ring),
        "digits": evaluation.sample_metrics(_digit_shard(digits, rank), digits),
        "digits_fid": evaluation.generated_fid(_digit_shard(digits, rank), digits),
    }
    with torch.no_grad():
        real, fake = (
            _ring_shard(ring, rank),
            ring.sample(N // 2, torch.Generator().manual_seed(rank)),
        )
        est = js_from_discriminator(all_gather_cat(d(real)), all_gather_cat(d(fake + 0.1)))
        res["js"] = (est.value, est.stderr)
    res["gathered"] = all_gather_cat(torch.full((rank + 2, 3), float(rank)))
    fitted = evaluation.fit_discriminator(
        d, ring.sample, _ring_shard(ring, rank), generator=torch.Generator().manual_seed(
            rank_seed(3, rank)), steps=5, batch_size=64,
    )  # fmt: skip
    res["fitted"] = {k: v.clone() for k, v in fitted.state_dict().items()}
    gen = torch.Generator().manual_seed(rank_seed(5, rank))
    res["eval"] = evaluation.evaluate_generator(g, d, ring, n=N, z_dim=4, generator=gen,
                                                rejection=True, calibration_steps=10,
                                                drs_calibration_steps=30)  # fmt: skip
    cfg = TrainConfig(data="ring8", steps=12, batch_size=64, hidden=32, g_layers=2, d_layers=2,
                      r1=0.1, log_every=4, ckpt_every=4, eval_every=6, eval_samples=300,
                      progress=False, plots=False, rejection=False, out=out,
                      eval_js_steps=10, final_js_steps=20)  # fmt: skip
    t = train(cfg)
    res["train_eval"] = t.evaluation
    res["g"] = {k: v.clone() for k, v in t.generator.state_dict().items()}
    res["d"] = {k: v.clone() for k, v in t.discriminator.state_dict().items()}
    return res


def _worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.save(_work(rank, out), os.path.join(os.path.dirname(out), f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    out = str(tmp / "run")
    mp.spawn(_worker, args=(WORLD, str(tmp / "init"), out), nprocs=WORLD, join=True)
    return tmp, [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def test_mode_coverage_merged_equals_union(ranks):
    _, (r0, r1) = ranks
    ring = load_data("ring8")
    ref = mode_coverage(torch.cat([_ring_shard(ring, r) for r in range(WORLD)]), ring.centers,
                        ring.std)  # fmt: skip
    assert 0.05 < ref.high_quality < 0.95  # a mix of high-quality samples and others
    got = r0["ring"]
    assert (got["modes"], got["high_quality"], got["reverse_kl"]) == (
        ref.modes, ref.high_quality, ref.reverse_kl)  # fmt: skip
    assert r1["ring"] == {} and r1["digits"] == {}


def test_digits_fid_kid_pr_merged_equal_union(ranks):
    _, (r0, r1) = ranks
    digits = load_data("digits")
    net = digits_features()  # images in [0, 1]; the GAN's are in [-1, 1]
    union = torch.cat([_digit_shard(digits, r) for r in range(WORLD)])
    with torch.no_grad():
        f_fake, f_test = net((union + 1) / 2).double(), net((digits.test + 1) / 2).double()
    got = r0["digits"]
    assert got["fid"] == pytest.approx(float(fid(f_test, f_fake)), rel=1e-9)
    assert got["kid"] == pytest.approx(float(kid(f_test, f_fake, subset_size=len(f_fake)).mean),
                                       rel=1e-6)  # fmt: skip
    pr = precision_recall(f_test, f_fake, k=3)
    assert (got["precision"], got["recall"]) == pytest.approx((pr.precision, pr.recall))
    assert 10 < got["fid"] < 1000
    assert r0["digits_fid"] == pytest.approx(got["fid"], rel=1e-12) and r1["digits_fid"] is None


def test_js_gathers_logits_and_the_classifier_is_the_union_fit(ranks):
    _, (r0, r1) = ranks
    ring = load_data("ring8")
    _, d = _nets()
    with torch.no_grad():
        real = torch.cat([_ring_shard(ring, r) for r in range(WORLD)])
        fake = torch.cat([ring.sample(N // 2, torch.Generator().manual_seed(r)) for r in range(2)])
        est = js_from_discriminator(d(real), d(fake + 0.1))
    assert r0["js"] == r1["js"] == pytest.approx((est.value, est.stderr), rel=1e-6)
    assert torch.equal(r0["gathered"], torch.tensor([[0.0] * 3] * 2 + [[1.0] * 3] * 3))
    one = evaluation.fit_discriminator(
        d, ring.sample, torch.cat([_ring_shard(ring, r) for r in range(WORLD)]),
        generator=torch.Generator().manual_seed(rank_seed(3, 0)), steps=5, batch_size=64,
    ).state_dict()  # fmt: skip
    for k, v in one.items():
        assert torch.equal(r0["fitted"][k], v) and torch.equal(r1["fitted"][k], v), k


def test_sharded_evaluate_generator_equals_one_process_on_the_union(ranks):
    _, (r0, r1) = ranks
    ring = load_data("ring8")
    g, d = _nets()
    gens = [torch.Generator().manual_seed(rank_seed(5, r)) for r in range(WORLD)]
    shards = [evaluation.generate(g, len(shard_range(N, r, WORLD)), 4, gens[r]) for r in (0, 1)]
    ref = mode_coverage(torch.cat(shards), ring.centers, ring.std)
    halves = [len(s) // 2 for s in shards]
    d_js = evaluation.fit_discriminator(
        d, ring.sample, torch.cat([s[:h] for s, h in zip(shards, halves)]), generator=gens[0],
        steps=10,
    )  # fmt: skip
    with torch.no_grad():
        real = torch.cat([ring.sample(len(s) - h, gen) for s, h, gen in zip(shards, halves, gens)])
        js = js_from_discriminator(
            d_js(real), d_js(torch.cat([s[h:] for s, h in zip(shards, halves)]))
        )
    got = r0["eval"]
    assert (got["modes"], got["high_quality"], got["reverse_kl"]) == (
        ref.modes, ref.high_quality, ref.reverse_kl)  # fmt: skip
    assert (got["js"], got["js_stderr"]) == pytest.approx((js.value, js.stderr), rel=1e-6)
    assert 0 < got["drs_acceptance_rate"] <= 1 and "drs_js" in got and "drs_modes" in got
    assert r1["eval"] == {}


def test_two_gloo_processes_train_log_and_evaluate_once(ranks):
    tmp, (r0, r1) = ranks
    run = tmp / "run"
    assert (run / "checkpoint.pt").is_file()
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert sum(x["kind"] == "train" for x in lines) == 3  # rank 0 only, no duplicates
    evals = [x for x in lines if x["kind"] == "eval"]
    assert [x["step"] for x in evals] == [6, 12] and evals[-1]["final"]
    assert json.loads((run / "evaluation.json").read_text()) == r0["train_eval"]
    assert r0["train_eval"]["n_modes"] == 8 and "js" in r0["train_eval"]
    assert r1["train_eval"] == {}
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert len(ck["rng"]) == 2 and not torch.equal(ck["rng"][0], ck["rng"][1])
    for name in ("g", "d"):
        for k in r0[name]:
            assert torch.equal(r0[name][k], r1[name][k]), f"{name}.{k} differs across ranks"


def test_eval_samples_must_cover_every_rank(tmp_path):
    with pytest.raises(ValueError, match=r"n must be an integer >= 2 per process \(2\), got 1"):
        g, d = _nets()
        evaluation.evaluate_generator(g, d, load_data("ring8"), n=1, z_dim=4,
                                      generator=torch.Generator())  # fmt: skip
    cfg = TrainConfig(data="ring8", steps=2, eval_samples=1, out=str(tmp_path / "r"))
    with pytest.raises(ValueError, match=r"eval_samples must be 0 or >= 2 per process \(2\)"):
        train(cfg)


@pytest.mark.gpu
def test_cuda_bf16_compile_smoke(tmp_path):
    cfg = TrainConfig(data="ring8", steps=20, batch_size=256, hidden=64, log_every=10,
                      progress=False, plots=False, eval_samples=500, device="cuda", amp=True,
                      out=str(tmp_path / "r"))  # fmt: skip
    res = train(cfg)
    assert next(res.generator.parameters()).is_cuda
    assert res.evaluation["modes"] >= 0
    res = train(cfg.replace(compile=True, r1=0.0, out=str(tmp_path / "c")))
    assert res.step == 20
