"""Train the digits feature network shipped in ``metrics/weights/digits_net.pt``.

Deterministic on CPU (seed 0, one thread, deterministic algorithms), a few seconds. Data:
scikit-learn's bundled 8×8 digits (no download), pixels divided by 16 into ``[0, 1]``, a
stratified 75/25 train/test split with ``random_state=0``. Prints the test accuracy.

Usage:
    .venv/bin/python scripts/train_digits_net.py [--out metrics/weights/digits_net.pt]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metrics.networks._digits import WEIGHTS, DigitsNet  # noqa: E402

EPOCHS = 30
BATCH = 64
LR = 2e-3
SEED = 0


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): images (N, 64) in [0, 1] and int64 labels."""
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    as_t = torch.as_tensor
    return (
        as_t(x_tr, dtype=torch.float32),
        as_t(y_tr),
        as_t(x_te, dtype=torch.float32),
        as_t(y_te),
    )


def train(epochs: int = EPOCHS) -> tuple[DigitsNet, float]:
    """Train from seed ``SEED``; return the network (eval mode) and its test accuracy."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    x_tr, y_tr, x_te, y_te = digits_split()
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x_tr), generator=gen).split(BATCH):
            loss = torch.nn.functional.cross_entropy(net(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(x_te).argmax(1) == y_te).double().mean())
    return net, acc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)
    net, acc = train()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, args.out)
    print(f"test accuracy {acc:.4f}; weights written to {args.out}")


if __name__ == "__main__":
    main()
