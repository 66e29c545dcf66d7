#!/usr/bin/env bash
# The one script to run on a lent GPU machine (see the README): paper-configuration latency and
# OSVOS fine-tuning/propagation on CUDA, written to $OUT (or bench_results/) as JSON.
# The GPU machine has no internet: carry the .venv built here (`run(..., carry=[".venv"])`).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench_results}
mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
# interactive: lite + paper per-click latency (device "auto" picks CUDA; bf16 + channels_last there)
$PY -m benchmarks.run --only interactive --only encoding --json "$OUT/gpu_interactive.json"
# OSVOS: 500 fine-tuning steps of the paper configuration and batched propagation on CUDA
$PY - "$OUT/gpu_osvos.json" <<'PY'
import json, sys
from benchmarks.bench_osvos import run
from benchmarks.common import machine
res = {"machine": machine(), "osvos_cuda": run(3, device="cuda", paper=True)}
open(sys.argv[1], "w").write(json.dumps(res, indent=2, default=str))
print(json.dumps(res, indent=2, default=str))
PY
