#!/usr/bin/env bash
# The fidelity study on a GPU, in one run of under 10 minutes: each deep method's search
# (tune), the Fashion-MNIST table of every trained method at 16-64 bits (seed 0), seeds 1
# and 2 at 32 bits on the same split, models per hour at 1/2/4/8 runs sharing the GPU, and
# the search's ranking checked at the full budget on two methods. Every stage has its own
# time limit; finished rows survive a stage cut short. Everything lands in $OUT/study.tar.gz.
#   HASHNET_LITE_DATA=/path/with/fashion-mnist OUT=runs/gpu_study bash benchmarks/gpu_study.sh
set -u
OUT=${OUT:-runs/gpu_study}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$(pwd) OMP_NUM_THREADS=1
PY=${PYTHON:-python3}
J=${JOBS:-12}
R=runs/study
mkdir -p $R
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > $R/gpu.txt 2>&1
$PY -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())" >> $R/gpu.txt 2>&1
since() { awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME - $1}"; }
stage() { local name=$1 limit=$2; shift 2; local t0=$EPOCHREALTIME
  timeout "$limit" "$@" > "$R/$name.log" 2>&1; local rc=$?
  echo "$name rc=$rc seconds=$(since $t0)" | tee -a $R/stages.txt; }
COMMON="--data fashion-mnist --bits 32 --precision fp32 --no-progress"
stage tune 130 $PY -m hashnet_lite tune $COMMON --trials 6 --iters 2000 --jobs $J --out $R/tune \
  --save-choices hashnet_lite/tuned.json
cp hashnet_lite/tuned.json $R/ 2>/dev/null
METHODS="HashNet HashNet-W HashNet-sgn HashNet+C HashNet-nobin DHN DPSH DSH CSQ"
stage table 200 $PY -m hashnet_lite reproduce --data fashion-mnist --bits 16 32 48 64 --precision fp32 \
  --no-progress --methods $METHODS --jobs $J --out $R/fashion-mnist
for s in 1 2; do
  stage seed$s 60 $PY -m hashnet_lite reproduce $COMMON --seed $s --split-seed 0 --methods $METHODS --jobs 8 \
    --out $R/fashion-mnist-seed$s
done
# Models per hour with k runs sharing the GPU (1,000 steps of the preset each, fp32).
for k in 1 2 4 8; do
  t0=$EPOCHREALTIME
  for i in $(seq 1 $k); do
    timeout 30 $PY -m hashnet_lite train $COMMON --iters 1000 --seed $i --out $R/probe/k$k-$i > $R/probe-k$k-$i.log 2>&1 &
  done
  wait
  echo "probe k=$k seconds=$(since $t0)" | tee -a $R/stages.txt
done
stage check 70 $PY -m hashnet_lite tune $COMMON --methods HashNet DSH --trials 3 --jobs 6 --out $R/tune-full
find $R -name '*.pt' -delete
tar czf "$OUT/study.tar.gz" $R
ls -la "$OUT"
