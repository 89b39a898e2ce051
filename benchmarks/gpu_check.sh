#!/usr/bin/env bash
# One-shot GPU check: runs every test marked `gpu` (engines, set distances, the GAN step, the
# Inception, DINOv2 and CLIP precisions), the Inception and DINOv2/CLIP feature benchmarks and
# the GPU half of the set-distance benchmark. Needs scipy, scikit-learn, pytest, hypothesis.
# Usage (from the repository root, on a machine with CUDA and a CUDA build of torch):
#   bash benchmarks/gpu_check.sh [python]      # default python: .venv/bin/python or python3
set -u
PY="${1:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
"$PY" -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''); sys.exit(0 if torch.cuda.is_available() else 1)" || { echo "no CUDA: nothing to check"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import triton; print('triton', triton.__version__)" || echo "triton missing: the triton engine falls back to brute in 'auto'"
echo "== GPU tests =="
"$PY" -m pytest -q -m gpu tests -p no:cacheprovider
status=$?
echo "== GPU benchmark (Inception features: float32, tf32, bf16; pytorch-fid if installed) =="
"$PY" benchmarks/bench_inception.py --device cuda --batch 128 --repeats 10 || status=1
echo "== GPU benchmark (DINOv2 / CLIP embeddings: float32, tf32, bf16 + SDPA; transformers if installed) =="
"$PY" benchmarks/bench_featnets.py --device cuda --batch 64 --repeats 10 || status=1
echo "== GPU benchmark (the trainer's DCGAN step vs a plain loop; then with torch.compile) =="
"$PY" benchmarks/bench_train.py --case dcgan --steps 200 || status=1
"$PY" benchmarks/bench_train.py --case dcgan --steps 300 --compile || status=1
echo "== GPU benchmark (exact Chamfer) =="
"$PY" benchmarks/bench_sets.py --device cuda --timeout 240 "${@:2}"
exit $status
