"""Train the 28-px feature network shipped in ``metrics/weights/fashion_net.pt``.

Deterministic on the CPU (seed 0, one thread, deterministic algorithms). Data: Fashion-MNIST's
training split (60,000 images) from its IDX files (``metrics.io.datasets``: ``--data-root``,
``$DIVERGENCES_DATA``, or Debian's ``/usr/share/datasets/fashion-mnist``); pixels divided by
255. Adam with a cosine learning-rate decay, a fixed number of epochs (no model selection on
the test split). Prints the test accuracy (overall and per class) and the file's SHA-256,
which goes into ``metrics/_fashion.py`` (``SHA256``).

Usage:
    .venv/bin/python scripts/train_fashion_net.py [--out metrics/weights/fashion_net.pt]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metrics.io.atomic import atomic_open  # noqa: E402
from metrics.io.datasets import load_split  # noqa: E402
from metrics.networks._fashion import WEIGHTS, FashionNet  # noqa: E402

EPOCHS = 12
BATCH = 128
LR = 2e-3
WEIGHT_DECAY = 1e-4
SEED = 0


def accuracy(net: FashionNet, x: torch.Tensor, y: torch.Tensor) -> tuple[float, list[float]]:
    """(overall, per-class) accuracy of ``net`` on uint8 images ``x`` with labels ``y``."""
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    hit = (pred == y).double()
    return float(hit.mean()), [float(hit[y == k].mean()) for k in range(10)]


def train(epochs: int = EPOCHS, data_root: str | None = None, limit: int = 0):
    """Train from seed ``SEED``; return the network (eval mode) and the test accuracies."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    x_tr, y_tr = load_split("fashion-mnist", "train", data_root=data_root)
    x_te, y_te = load_split("fashion-mnist", "test", data_root=data_root)
    if limit:  # a quick check of the script, not the shipped network
        x_tr, y_tr, x_te, y_te = x_tr[:limit], y_tr[:limit], x_te[:limit], y_te[:limit]
    x_tr = x_tr.unsqueeze(1)
    net = FashionNet()
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    gen = torch.Generator().manual_seed(SEED)
    total = epochs * math.ceil(len(x_tr) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        for idx in torch.randperm(len(x_tr), generator=gen).split(BATCH):
            loss = torch.nn.functional.cross_entropy(net(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc, _ = accuracy(net, x_te, y_te)
        print(f"epoch {epoch + 1}/{epochs}: test accuracy {acc:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    return net.eval(), accuracy(net, x_te, y_te)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--data-root", default=None, help="folder holding the IDX files")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--limit", type=int, default=0, help="use only this many images (test)")
    args = parser.parse_args(argv)
    net, (acc, per_class) = train(args.epochs, args.data_root, args.limit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out, overwrite=True, what="--out") as fh:
        torch.save(net.state_dict(), fh)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"test accuracy {acc:.4f}; per class {', '.join(f'{a:.3f}' for a in per_class)}")
    print(f"weights written to {args.out} ({args.out.stat().st_size} bytes), SHA-256 {digest}")


if __name__ == "__main__":
    main()
