"""Write tests/divergences/transport/fixtures/peers.npz: geomloss and POT values on tiny problems.

Run once, in a venv that has POT and geomloss (they are never imported by the package or the
tests): ``PYTHONPATH=$PWD /work/venvs/bench-ot/bin/python scripts/make_transport_fixtures.py``.
Conventions recorded with the values: geomloss's cost is |x−y|^p/p with ε = blur^p and
ρ = reach^p in those units, so p·geomloss equals ours with eps = p·blur^p, rho = p·reach^p;
POT's emd2 is the exact cost with the cost matrix |x−y|^2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import ot
import torch
from geomloss import SamplesLoss

OUT = Path(__file__).resolve().parents[1] / "tests/divergences/transport/fixtures/peers.npz"


def main() -> None:
    rng = np.random.default_rng(2025)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2)) + 0.7
    a, b = rng.random(6) + 0.2, rng.random(5) + 0.2
    a, b = a / a.sum(), 1.3 * b / b.sum()  # unequal masses for the unbalanced cases
    blur, reach = 0.5, 1.5
    tx, ty = torch.tensor(x), torch.tensor(y)
    ta, tb = torch.tensor(a), torch.tensor(b)
    tb1 = tb / tb.sum()
    out = {"x": x, "y": y, "a": a, "b": b, "blur": blur, "reach": reach}
    for debias in (False, True):
        loss = SamplesLoss(
            "sinkhorn",
            p=2,
            blur=blur,
            reach=reach,
            debias=debias,
            scaling=0.9999,
            backend="tensorized",
        )
        out[f"geomloss_unbalanced_debias{int(debias)}"] = float(loss(ta, tx, tb, ty))
        loss = SamplesLoss(
            "sinkhorn", p=2, blur=blur, debias=debias, scaling=0.9999, backend="tensorized"
        )
        out[f"geomloss_balanced_debias{int(debias)}"] = float(loss(ta, tx, tb1, ty))
    out["pot_emd2"] = float(ot.emd2(a, b / b.sum(), ot.dist(x, y)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OUT, **out)
    print({k: v for k, v in out.items() if np.ndim(v) == 0})


if __name__ == "__main__":
    main()
