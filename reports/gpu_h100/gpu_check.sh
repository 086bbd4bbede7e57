#!/usr/bin/env bash
# GPU check for qkernels (issue 2's cuda backend): CUDA-device tests, CUDA bench of the metrics, metrics section on cuda.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD TORCH_DEVICE_BACKEND_AUTOLOAD=0 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $OUT/gpu.txt
python3 -c "import sys, torch, pennylane, ot, torch_pruning, numpy, pandas; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.is_available(), pennylane.__version__, ot.__version__, numpy.__version__, pandas.__version__)" | tee -a $OUT/gpu.txt
python3 -m qkernels devices | tee $OUT/devices.txt
echo "== device tests (QK_DEVICE=cuda, required)"
QK_DEVICE=cuda QK_REQUIRE_DEVICE=1 timeout 200 python3 -m pytest -q -p no:cacheprovider --benchmark-disable -o addopts="" \
  tests/test_device.py tests/test_latency.py tests/test_timing.py tests/test_backends.py tests/test_spectral.py tests/test_distances.py \
  2>&1 | tee $OUT/tests_cuda.log | tail -15
echo "== bench_metrics on cuda"
QK_DEVICE=cuda QK_REQUIRE_DEVICE=1 timeout 200 python3 -m pytest -q -p no:cacheprovider -o addopts="" bench/bench_metrics.py \
  --benchmark-json=$OUT/bench_metrics_cuda.json --benchmark-timer=qkernels.timing.sync_timer 2>&1 | tail -25
echo "== metrics section on cuda"
timeout 150 python3 -m qkernels run --sections metrics --device cuda --out /tmp/run_cuda --no-progress 2>&1 | tail -3
tar czf $OUT/run_cuda_metrics.tgz -C /tmp run_cuda && grep -A8 "### Speed goals" /tmp/run_cuda/report.md
