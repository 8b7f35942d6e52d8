#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one short run, each stage under its own time limit so
# that a slow one leaves the others' results. Logs and JSON lines go under $OUT (default:
# runs/gpu_check).
#   bash benchmarks/gpu_check.sh            # every stage (the limits add up to about 9 minutes)
#   bash benchmarks/gpu_check.sh preset     # the preset run only
#   bash benchmarks/gpu_check.sh graphs     # CUDA graphs: the CUDA tests, the preset run eager and under
#                                           # reduce-overhead, the step's floor, AlexNet's ratio (~7.5 min)
# Needs the Fashion-MNIST idx files where load_data finds them ($HASHNET_LITE_DATA or Debian's).
set -u
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$(pwd)
PY=${PYTHON:-python3}
stage=${1:-all}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/gpu.txt"
bench() { $PY benchmarks/train_throughput.py "$@"; }
if [ "$stage" = graphs ]; then
  timeout 100 $PY -m pytest -o addopts="" -p no:cacheprovider -q -rs tests/test_cuda.py 2>&1 | tee "$OUT/tests.log" | tail -n 15
  timeout 60 $PY benchmarks/train_throughput.py --skip-matrix --preset-run --preset-precisions fp32 \
    --json "$OUT/preset.jsonl" 2>&1 | tee "$OUT/preset.log"
  timeout 100 $PY benchmarks/train_throughput.py --skip-matrix --preset-run --preset-precisions fp32 \
    --preset-compile reduce-overhead --json "$OUT/preset.jsonl" 2>&1 | tee "$OUT/preset-graphs.log"
  timeout 100 $PY benchmarks/step_floor.py --precision fp32 --json "$OUT/floor.jsonl" 2>&1 | tee "$OUT/floor.log"
  timeout 90 $PY benchmarks/train_throughput.py --backbones alexnet --batch-sizes 256 --compile \
    --compile-mode reduce-overhead --compile-precisions bf16 --no-host-row --json "$OUT/cudagraphs.jsonl" 2>&1 \
    | tee "$OUT/cudagraphs.log"
  exit 0
fi
if [ "$stage" = all ]; then
  timeout 110 $PY -m pytest -o addopts="" -p no:cacheprovider -q -rs -s tests/test_cuda.py tests/test_batches.py tests/data/test_jpeg.py 2>&1 \
    | tee "$OUT/tests.log" | tail -n 25
fi
timeout 90 $PY benchmarks/train_throughput.py --skip-matrix --preset-run --jpeg $([ "$stage" = all ] && echo 1024 || echo 0) \
  --json "$OUT/preset.jsonl" 2>&1 | tee "$OUT/preset.log"
if [ "$stage" = all ]; then
  timeout 140 $PY benchmarks/train_throughput.py --backbones cnn alexnet resnet50 --batch-sizes 64 256 \
    --json "$OUT/throughput.jsonl" 2>&1 | tee "$OUT/throughput.log"
  timeout 130 $PY benchmarks/train_throughput.py --backbones resnet50 alexnet cnn --batch-sizes 256 --compile \
    --compile-precisions bf16 --no-host-row --json "$OUT/compile.jsonl" 2>&1 | tee "$OUT/compile.log"
  # CUDA graphs: AlexNet's bf16 step left the GPU idle a third of the time (launch overhead).
  timeout 110 $PY benchmarks/train_throughput.py --backbones alexnet resnet50 --batch-sizes 256 --compile \
    --compile-mode reduce-overhead --compile-precisions bf16 --no-host-row --json "$OUT/cudagraphs.jsonl" 2>&1 \
    | tee "$OUT/cudagraphs.log"
fi
