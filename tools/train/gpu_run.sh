#!/bin/bash
# One device run of the bundled model's training (docs/training.md, "GPU run"):
# generate the tables on every core, continue stage 1 (ViT) and stage 2 (LM) from the CPU
# checkpoints, then stages 3 and 4 for heads d, x and h, and evaluate. Everything the run
# needs sits in RUN (a copy of tools/, the fonts, the stage-1 train_state.pt and the stage-2
# LM), so it runs from any checkout. Results go to OUT (at most 8 files):
#   log.jsonl summary.json vit.safetensors lm_base.safetensors fusion.safetensors
#   lm_d.safetensors lm_x.safetensors lm_h.safetensors
# Usage: tools/train/gpu_run.sh RUN OUT   (env: DEVICE cuda, N_TRAIN, N_EVAL, VIT_MIN,
# VIT_STEPS, VIT_ARGS, LM_MIN, LM_STEPS, S3, S4, BATCH, EVAL_N, MAX_NEW, PY, WORKERS)
set -euo pipefail
run=$(cd "${1:?usage: gpu_run.sh RUN OUT}" && pwd)
out=${2:?usage: gpu_run.sh RUN OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
N_TRAIN=${N_TRAIN:-12000}
N_EVAL=${N_EVAL:-64}
VIT_STEPS=${VIT_STEPS:-1200}      # the stage-1 schedule length of the CPU run (resumed)
VIT_MIN=${VIT_MIN:-1.25}
LM_STEPS=${LM_STEPS:-1500}
LM_MIN=${LM_MIN:-0.5}
S3=${S3:-35}                      # seconds of head d per head in stage 3 (-> one step count)
S4=${S4:-40}
BATCH=${BATCH:-16}
EVAL_N=${EVAL_N:-64}
MAX_NEW=${MAX_NEW:-520}
WORKERS=${WORKERS:-$(( $(nproc) > 2 ? $(nproc) - 2 : 0 ))}
data=${DATA:-/tmp/nvlm_tables}
cd "$run/repo"
SECONDS=0
# Fonts: the Debian packages if present, else the carried copies.
if ! "$PY" -c "from tools.tablegen import fonts; fonts.discover()" >/dev/null 2>&1; then
    export NVLM_FONT_DIRS="$run/fonts"
    echo "gpu_run: using carried fonts"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
rm -rf "$data"; mkdir -p "$data"
jobs=$(( $(nproc) > 2 ? $(nproc) - 2 : 1 )); per=$(( (N_TRAIN + jobs - 1) / jobs ))
pids=()
for k in $(seq 0 $((jobs - 1))); do
    "$PY" -m tools.tablegen --out "$data/train_$k" --split train --seed 1 --start $((k * per)) \
        --count "$per" 2>>"$data/gen.log" & pids+=($!)
done
"$PY" -m tools.tablegen --out "$data/test" --split test --seed 1 --count "$N_EVAL" 2>>"$data/gen.log" & pids+=($!)
"$PY" -m tools.tablegen --out "$data/heldout" --split heldout --seed 1 --count "$N_EVAL" 2>>"$data/gen.log" & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done
echo "gpu_run: $((per * jobs)) train + 2x$N_EVAL eval images in $SECONDS s"
folders=$(ls -d "$data"/train_* | paste -sd, -)

# Stage 1 continued (same options as the CPU run, which set the schedule length).
"$PY" tools/train/pretrain_vit.py --resume "$run/vit_state" --data "$folders" \
    --val-data "$data/test" --heldout-data "$data/heldout" --device "$DEVICE" \
    --steps "$VIT_STEPS" --batch 32 --max-tiles 4 --seed 1 --workers "$WORKERS" \
    --max-minutes "$VIT_MIN" --log-every 100 --out /tmp/nvlm_vit ${VIT_ARGS:-} 2>&1 | grep -v Warning \
    || echo "gpu_run: pretrain_vit exit status $?"
cp /tmp/nvlm_vit/model.safetensors "$out/vit.safetensors"
echo "gpu_run: stage 1 done at $SECONDS s"

# Stage 2 continued (fresh optimizer, from the CPU weights).
"$PY" tools/train/train_stages.py lm --init "$run/lm/lm.safetensors" --out /tmp/nvlm_lm \
    --device "$DEVICE" --steps "$LM_STEPS" --batch 64 --lr 1e-3 --seed 2 \
    --workers 4 --max-minutes "$LM_MIN" | tail -4
cp "$run/lm/lm_dims.json" /tmp/nvlm_lm/
echo "gpu_run: stage 2 done at $SECONDS s"

# Stages 3 and 4, heads d, x, h: same data, steps, batch, seed; then evaluation.
"$PY" tools/train/train_stages.py fusion --vit /tmp/nvlm_vit --lm /tmp/nvlm_lm/lm.safetensors \
    --data "$folders" --eval-data "$data/test,$data/heldout" --eval-count "$EVAL_N" \
    --eval-batch "$EVAL_N" --max-new "$MAX_NEW" --device "$DEVICE" --batch "$BATCH" \
    --workers "$WORKERS" --seconds3 "$S3" --seconds4 "$S4" \
    --max-seconds-per-head "$(( S4 * 3 / 2 ))" --seed 1 --out "$out" \
    | grep -v '"step"' | cut -c1-600
echo "gpu_run: all done at $SECONDS s"
