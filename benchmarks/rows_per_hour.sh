#!/usr/bin/env bash
# Rows per hour, serial against --jobs 2, in one sitting on this machine.
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-runs/rows_per_hour}; rm -rf "$OUT"; mkdir -p "$OUT"
run() { local name=$1; shift; local t0=$EPOCHREALTIME; $PY -m hashnet_lite reproduce "$@" --no-progress --device cpu > $OUT/$name.log 2>&1; echo "$name $(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME - $t0}")"; }
D="--data digits --bits 32 --methods HashNet HashNet-W HashNet-sgn DHN"
F="--data fashion-mnist --bits 32 --iters 300 --methods HashNet DHN"
run digits-serial $D --out $OUT/ds
run digits-jobs2 $D --jobs 2 --out $OUT/dj
run fashion-serial $F --out $OUT/fs
run fashion-jobs2 $F --jobs 2 --out $OUT/fj
