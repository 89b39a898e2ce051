"""End-to-end FID of two folders of 64-px PNGs: ours against pytorch-fid and clean-fid.

Two folders of N seeded smooth-noise PNGs (bilinearly upsampled 8 × 8 noise plus fine
noise) are written to a temporary folder; every method computes the FID between them on the
same random Inception-v3 state dict in pytorch-fid's format (the real weights are not
downloaded here): ours loads it from a file with ``check_hash=False``; pytorch-fid gets it
through its ``load_state_dict_from_url`` (as ``scripts/make_inception_fixtures.py`` does);
clean-fid gets pytorch-fid's network on it as ``custom_feat_extractor`` after its own clean
resize. Each run is a fresh subprocess, so its wall time includes start-up and its peak RSS
(``ru_maxrss`` of the process plus its DataLoader workers) is its own. Rows:

- ``ours pytorch-fid`` (cold cache), then ``ours cached`` (the real side's statistics read
  from the cache: only the fake side is computed), against ``pytorch-fid``;
- ``ours clean`` against ``clean-fid``;
- ``ours pytorch-fid 2N``: the streamed peak memory when N doubles.

Run it in the fixture environment (pytorch-fid and clean-fid need torchvision); our rows run
under ``--ours-python`` (default: the checkout's ``.venv``, which has our dependencies)::

    PYTHONPATH=. /work/fidvenv/bin/python benchmarks/bench_fid_folders.py [--n 200] [--threads 2]
    # the issue's sizes: 10k against the faster peer, then our memory alone at 50k
    ... bench_fid_folders.py --n 10000 --skip clean-fid,ours-clean,ours-2n
    ... bench_fid_folders.py --n 50000 --skip pytorch-fid,clean-fid,ours-clean,ours-2n,ours-cached

``--skip`` takes ``ours``, ``ours-cached``, ``pytorch-fid``, ``ours-clean``, ``clean-fid`` and
``ours-2n``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OURS_PYTHON = ROOT / ".venv" / "bin" / "python"
FIXTURE = ROOT / "tests" / "metrics" / "fixtures" / "inception_parity.npz"


def make_folder(path: Path, n: int, seed: int, size: int) -> None:
    """``n`` seeded smooth-noise RGB PNGs of ``size`` px in ``path``."""
    import torch
    import torch.nn.functional as F
    from PIL import Image

    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        coarse = torch.from_numpy(rng.random((1, 3, 8, 8))).float()
        smooth = F.interpolate(coarse, (size, size), mode="bilinear", align_corners=False)[0]
        img = 0.8 * smooth + 0.2 * torch.from_numpy(rng.random((3, size, size))).float()
        arr = (img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(arr).save(path / f"{i:05d}.png")


def _state():
    sys.path.insert(0, str(ROOT))
    from scripts.make_inception_fixtures import _import_networks

    inc = _import_networks()
    with np.load(FIXTURE, allow_pickle=False) as z:
        stats = {k[3:]: z[k] for k in z.files if k.startswith("bn:")}
        return inc.random_state_dict(int(z["seed"]), running_stats=stats)


def _peak_mb() -> tuple[float, float]:
    """Peak RSS in MB of this process and of its largest child (a DataLoader worker)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024, kids / 1024  # ru_maxrss is in kB on Linux


def run_one(method: str, a: str, b: str, weights: str, batch: int, workers: int) -> dict:
    """One FID computation in this process; returns its value, wall time and peak RSS."""
    import torch

    t0 = time.perf_counter()
    if method.startswith("ours"):
        import warnings

        import metrics

        mode = "clean" if method == "ours-clean" else "pytorch-fid"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the unpublished test weights
            r = metrics.evaluate(a, b, metrics=["fid"], features=f"inception:{weights}",
                                 check_hash=False, resize=mode, device="cpu", batch_size=batch,
                                 num_workers=workers, options={"fid": {"groups": 0}})  # fmt: skip
        value = r["fid"].value
        cached = r.meta["provenance"]["real"].get("cached_statistics")
    elif method == "pytorch-fid":
        import pytorch_fid.inception as pf
        from pytorch_fid.fid_score import calculate_fid_given_paths

        state = torch.load(weights, weights_only=True)
        pf.load_state_dict_from_url = lambda *args, **kwargs: state  # our random weights
        value = calculate_fid_given_paths([a, b], batch, "cpu", 2048, num_workers=workers)
        cached = None
    else:  # clean-fid with pytorch-fid's network after clean-fid's own resize
        import pytorch_fid.inception as pf
        from cleanfid import fid as cf

        state = torch.load(weights, weights_only=True)
        pf.load_state_dict_from_url = lambda *args, **kwargs: state
        raw = pf.InceptionV3([3], resize_input=False, normalize_input=False).eval()

        def extractor(x):
            return raw((x - 128) / 128)[0].flatten(1)

        value = cf.compute_fid(a, b, mode="clean", num_workers=workers, batch_size=batch,
                               device=torch.device("cpu"), custom_feat_extractor=extractor,
                               verbose=False)  # fmt: skip
        cached = None
    return {"method": method, "fid": float(value), "seconds": time.perf_counter() - t0,
            "peak_mb": _peak_mb()[0], "worker_mb": _peak_mb()[1], "cached": cached}  # fmt: skip


def _subprocess(method: str, a: Path, b: Path, args, weights: Path, cache: Path) -> dict:
    env = {**os.environ, "DIVERGENCES_CACHE": str(cache), "OMP_NUM_THREADS": str(args.threads),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    python = args.ours_python if method.startswith("ours") else sys.executable
    cmd = [python, __file__, "--one", method, str(a), str(b), str(weights),
           "--batch", str(args.batch), "--workers", str(args.workers)]  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["wall"] = time.perf_counter() - t0  # including interpreter and import start-up
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="images per folder")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--ours-python", default=str(OURS_PYTHON) if OURS_PYTHON.exists() else
                    sys.executable, help="interpreter for our rows (default: .venv's, which "
                    "has the package's dependencies; the peers run under this one)")  # fmt: skip
    ap.add_argument("--skip", default="", help="comma-separated methods to leave out")
    ap.add_argument(
        "--one", nargs=4, metavar=("METHOD", "A", "B", "WEIGHTS"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.one:
        import torch

        torch.set_num_threads(args.threads if "OMP_NUM_THREADS" not in os.environ
                              else int(os.environ["OMP_NUM_THREADS"]))  # fmt: skip
        print(json.dumps(run_one(*args.one, batch=args.batch, workers=args.workers)))
        return
    import torch

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        for name, n, seed in (("real", args.n, 1), ("fake", args.n, 2), ("real2", 2 * args.n, 3),
                              ("fake2", 2 * args.n, 4)):  # fmt: skip
            if not (name.endswith("2") and "ours-2n" in skip):
                make_folder(d / name, n, seed, args.size)
        weights = d / "random.pth"
        torch.save(_state(), weights)
        print(f"folders written in {time.perf_counter() - t0:.1f} s; N={args.n} per side, "
              f"{args.size} px PNG, {args.threads} threads, batch {args.batch}, "
              f"{args.workers} workers, torch {torch.__version__}")  # fmt: skip
        plan = [("ours", "real", "fake", "cold"), ("ours", "real", "fake", "cached"),
                ("pytorch-fid", "real", "fake", ""), ("ours-clean", "real", "fake", "cold"),
                ("clean-fid", "real", "fake", ""), ("ours", "real2", "fake2", "2N")]  # fmt: skip
        rows = []
        for method, a, b, tag in plan:
            key = {"2N": "ours-2n", "cached": "ours-cached"}.get(tag, method)
            if key in skip or (tag == "cached" and "ours" in skip):
                continue
            cache = d / ("cache-clean" if method == "ours-clean" else f"cache-{a}")
            res = _subprocess(method, d / a, d / b, args, weights, cache)
            res["label"] = f"{method} {tag}".strip()
            rows.append(res)
            print(f"  {res['label']:<22} FID {res['fid']:12.4f}  {res['wall']:7.1f} s  "
                  f"{res['peak_mb']:7.0f} MB (worker {res['worker_mb']:.0f} MB)", flush=True)  # fmt: skip
    by = {r["label"]: r for r in rows}
    peers = [by[k]["wall"] for k in ("pytorch-fid", "clean-fid") if k in by]
    print(
        f"\n{'method':<22}{'FID':>12}{'wall s':>9}{'vs faster peer':>16}{'peak MB':>9}{'worker MB':>11}"
    )
    for r in rows:
        ratio = f"{min(peers) / r['wall']:.2f}x" if peers else "-"
        print(
            f"{r['label']:<22}{r['fid']:>12.4f}{r['wall']:>9.1f}{ratio:>16}{r['peak_mb']:>9.0f}{r['worker_mb']:>11.0f}"
        )
    if "ours cold" in by and "ours cached" in by:
        print(
            f"second run against cached reference statistics: "
            f"{by['ours cold']['wall'] / by['ours cached']['wall']:.2f}x faster than the first"
        )
    if "ours cold" in by and "ours 2N" in by:
        print(f"peak RSS at 2N / at N: {by['ours 2N']['peak_mb'] / by['ours cold']['peak_mb']:.2f}")
    for ours, peer in (("ours cold", "pytorch-fid"), ("ours-clean cold", "clean-fid")):
        if ours in by and peer in by:
            rel = abs(by[ours]["fid"] - by[peer]["fid"]) / abs(by[peer]["fid"])
            print(f"FID {ours} vs {peer}: relative difference {rel:.2e}")


if __name__ == "__main__":
    main()
