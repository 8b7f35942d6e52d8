#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one short run (about 5 minutes on an H200): the CUDA
# tests, the throughput matrix, the 32-bit fashion-mnist preset run and JPEG decoding.
# Writes logs and JSON lines under $OUT (default: runs/gpu_check).
#   bash benchmarks/gpu_check.sh            # stage "main": tests, eager matrix, preset run, JPEG
#   bash benchmarks/gpu_check.sh compile    # stage "compile": the torch.compile rows
# Needs the Fashion-MNIST idx files where load_data finds them ($HASHNET_LITE_DATA or Debian's).
set -u
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$(pwd)
PY=${PYTHON:-python3}
stage=${1:-main}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/gpu.txt"
if [ "$stage" = main ]; then
  timeout 240 $PY -m pytest -o addopts="" -p no:cacheprovider -q -rs -s tests/test_cuda.py tests/test_batches.py 2>&1 \
    | tee "$OUT/tests.log" | tail -n 25
  timeout 300 $PY benchmarks/train_throughput.py --backbones cnn alexnet resnet50 --batch-sizes 64 256 \
    --preset-run --jpeg 1024 --json "$OUT/throughput.jsonl" 2>&1 | tee "$OUT/throughput.log"
else
  timeout 330 $PY benchmarks/train_throughput.py --backbones cnn alexnet resnet50 --batch-sizes 256 --compile \
    --compile-precisions bf16 fp16 fp32 --no-host-row --json "$OUT/compile.jsonl" 2>&1 | tee "$OUT/compile.log"
fi
