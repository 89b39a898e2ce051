#!/usr/bin/env bash
# The two-sample calibration rows that a 2-core CPU cannot afford (MMDAgg and MMD-FUSE at
# n = m = 2000: seconds per draw there), on CUDA: 1,000 null draws each at d = 1 and 50.
# Run after benchmarks/gpu_check.sh when device time is left; the rows go to RESULTS.md.
# Usage (repository root, CUDA machine): bash benchmarks/gpu_calibration.sh [python] [draws]
set -u
PY="${1:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
DRAWS="${2:-1000}"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { echo "no CUDA: nothing to run"; exit 1; }
"$PY" benchmarks/bench_two_sample.py calibration --device cuda --statistics mmd-agg,mmd-fuse \
  --sizes 2000 --draws "$DRAWS" --agg-divisor 1 --dims 1,50
