#!/bin/bash
# Stage 1 on one machine: pre-generate the tables on every core, then train the
# ViT (tools/train/pretrain_vit.py). Run from the repository root:
#   tools/train/run_pretrain.sh OUT_DIR [extra pretrain_vit.py options]
# Environment: PY (python with torch, Pillow, numpy; default python3), DEVICE
# (cuda), N_TRAIN (8000), N_EVAL (200), STEPS (2000), BATCH (32), WORKERS (8),
# DATA (/tmp/tablegen), SEED (1).
set -euo pipefail
out=${1:?usage: run_pretrain.sh OUT_DIR [options]}
shift
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
N_TRAIN=${N_TRAIN:-8000}
N_EVAL=${N_EVAL:-200}
STEPS=${STEPS:-2000}
BATCH=${BATCH:-32}
WORKERS=${WORKERS:-8}
DATA=${DATA:-/tmp/tablegen}
SEED=${SEED:-1}

jobs=$(nproc)
per=$(( (N_TRAIN + jobs - 1) / jobs ))
SECONDS=0
rm -rf "$DATA"
mkdir -p "$DATA"
pids=()
for k in $(seq 0 $((jobs - 1))); do
    "$PY" -m tools.tablegen --out "$DATA/train_$k" --split train --seed "$SEED" \
        --start $((k * per)) --count "$per" 2>>"$DATA/gen.log" &
    pids+=($!)
done
"$PY" -m tools.tablegen --out "$DATA/val" --split val --seed "$SEED" --count "$N_EVAL" \
    2>>"$DATA/gen.log" & pids+=($!)
"$PY" -m tools.tablegen --out "$DATA/heldout" --split heldout --seed "$SEED" \
    --count "$N_EVAL" 2>>"$DATA/gen.log" & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done
cat "$DATA/gen.log"
echo "run_pretrain: generated $((per * jobs)) train images on $jobs processes in" \
     "${SECONDS} s"

folders=$(ls -d "$DATA"/train_* | paste -sd, -)
"$PY" tools/train/pretrain_vit.py --data "$folders" --val-data "$DATA/val" \
    --heldout-data "$DATA/heldout" --device "$DEVICE" --steps "$STEPS" --batch "$BATCH" \
    --workers "$WORKERS" --seed "$SEED" --out "$out" "$@"
