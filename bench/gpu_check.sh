#!/usr/bin/env bash
# GPU readiness check of qkernels: one prepared script, about 10 minutes on one GPU.
#
#   bench/gpu_check.sh [OUT_DIR]        (default: reports/gpu_check_<UTC time>)
#
# Writes into OUT_DIR: env.json (versions, machine, devices), gpu.txt, devices.json, skipped.txt (every
# part that did not run, with its reason), tests_cuda.log (the device tests with QK_DEVICE=cuda),
# bench_cuda.json (bench_metrics + bench_quantum on CUDA, pytest-benchmark JSON with sync_timer),
# bench_lightning_gpu.json (bench_quantum on lightning.gpu, where it installs), latency_cuda.csv/.json
# (dense, pruned and deployed models at batch 1-256: qkernels.suite.speed.devicecheck) and latency_cpu.csv.
# Without a GPU every CUDA part is skipped with its reason and the CPU parts still run (tested by
# tests/suite/speed/test_gpu_check.py with QK_GPU_CHECK_SMALL=1, which shrinks every workload).
# Environment: PYTHON (default python3), QK_GPU_CHECK_SMALL=1 (tiny workloads, for the CPU test).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-reports/gpu_check_$(date -u +%Y%m%dT%H%M%SZ)}
PY=${PYTHON:-python3}
SMALL=${QK_GPU_CHECK_SMALL:-0}
mkdir -p "$OUT"
: > "$OUT/skipped.txt"
export PYTHONUNBUFFERED=1 TORCH_DEVICE_BACKEND_AUTOLOAD=0 PYTHONHASHSEED=0
skip() { echo "$1: skipped: $2" | tee -a "$OUT/skipped.txt"; }
small_args=(); [ "$SMALL" = 1 ] && small_args=(--small --batches 1,8)
bench_args=(--benchmark-json); [ "$SMALL" = 1 ] && bench_args=(--benchmark-disable --benchmark-json)

"$PY" - "$OUT" <<'PYEOF'
import json, sys
from qkernels.suite.envinfo import collect_env
json.dump(collect_env(seed=0, profile="gpu_check", device="cuda"), open(f"{sys.argv[1]}/env.json", "w"), indent=1, default=str)
PYEOF
"$PY" -m qkernels devices --json > "$OUT/devices.json" 2>&1 || true
CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
if [ "$CUDA" = 1 ]; then
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
    "$PY" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"; } > "$OUT/gpu.txt"
else
  reason=$("$PY" -c "import torch; print('torch ' + torch.__version__ + ': torch.cuda.is_available() is False' + ('' if torch.version.cuda else ' (a CPU build of torch)'))" 2>&1)
  echo "no CUDA device: $reason" > "$OUT/gpu.txt"
fi

echo "== 1. device tests on CUDA"
if [ "$CUDA" = 1 ]; then
  QK_DEVICE=cuda QK_REQUIRE_DEVICE=1 timeout 180 "$PY" -m pytest -q -p no:cacheprovider --benchmark-disable \
    tests/hw tests/geometry/test_spectral.py tests/geometry/test_distances.py 2>&1 | tee "$OUT/tests_cuda.log" | tail -3
else
  skip "device tests (QK_DEVICE=cuda)" "no CUDA device ($(cat "$OUT/gpu.txt"))"
fi

echo "== 2. metrics and quantum benchmarks on CUDA"
if [ "$CUDA" = 1 ]; then
  QK_DEVICE=cuda QK_REQUIRE_DEVICE=1 timeout 240 "$PY" -m pytest -q -p no:cacheprovider bench/bench_metrics.py \
    bench/bench_quantum.py "${bench_args[@]}"="$OUT/bench_cuda.json" --benchmark-timer=qkernels.hw.timing.sync_timer \
    2>&1 | tail -3
else
  skip "bench_metrics + bench_quantum on CUDA" "no CUDA device"
fi
if "$PY" -c "import pennylane as qml; qml.device('lightning.gpu', wires=2)" > "$OUT/lightning_gpu.txt" 2>&1; then
  QK_QDEVICE=lightning.gpu timeout 120 "$PY" -m pytest -q -p no:cacheprovider bench/bench_quantum.py \
    "${bench_args[@]}"="$OUT/bench_lightning_gpu.json" 2>&1 | tail -3
else
  skip "bench_quantum on lightning.gpu" "$(tail -1 "$OUT/lightning_gpu.txt")"
fi

echo "== 3. latency of dense, pruned and deployed models"
if [ "$CUDA" = 1 ]; then
  timeout 300 "$PY" -m qkernels.suite.speed.devicecheck --device cuda --compile --out "$OUT" "${small_args[@]}" 2>&1 | tail -2
else
  skip "latency on CUDA" "no CUDA device"
fi
timeout 300 "$PY" -m qkernels.suite.speed.devicecheck --device cpu --out "$OUT" --batches 1,8,32 "${small_args[@]}" \
  2>&1 | tail -2
echo "gpu_check: results in $OUT"
