#!/usr/bin/env bash
# Create .venv (idempotent) and install the package with its extras: EXTRAS (comma-separated,
# default "test"; `make docs` adds "docs"). Extras installed before are kept.
# Reuses a torch that is already importable, or the local CPU wheel in /opt/wheels,
# so that a fresh machine never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
EXTRAS=${EXTRAS:-test}
stamp="$VENV/.installed"  # holds the extras installed, comma-separated
have=$(cat "$stamp" 2>/dev/null || true)
missing=""
for extra in ${EXTRAS//,/ }; do
  case ",$have," in *",$extra,"*) ;; *) missing="$missing $extra" ;; esac
done
if [ -z "$missing" ] && [ "$stamp" -nt pyproject.toml ] && "$VENV/bin/python" -c "import torch, divergences" 2>/dev/null; then
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  # --system-site-packages lets the venv reuse a torch installed system-wide.
  "$PY" -m venv --system-site-packages "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  wheel=$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -n1 || true)
  if [ -n "$wheel" ]; then
    "$VENV/bin/python" -m pip install -qq "$wheel"
  else
    # No local build: ask for the CPU build from PyPI's default index.
    "$VENV/bin/python" -m pip install -qq torch
  fi
fi
all=$(printf '%s\n' ${have//,/ } ${EXTRAS//,/ } | sort -u | paste -sd, -)
"$VENV/bin/python" -m pip install -qq -e ".[$all]"
echo "$all" > "$stamp"
