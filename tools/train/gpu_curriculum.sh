#!/bin/bash
# One device command of curriculum training (docs/training.md, "Session 3"): the three
# heads of the bundled model continue side by side, one process each on the one GPU,
# first on level 1 (1-3 body rows x 2-3 columns) for STEPS1 steps, then on the full
# generator (2-8 rows x 2-5 columns) for STEPS2 steps, on tables rendered as they are
# drawn (never repeated): d, x and h see the same tables in the same order for the same
# number of steps. Ends with a greedy evaluation of each head on EVAL_N test and EVAL_N
# style-held-out full tables.
# With VIT_STEPS > 0 it first continues the ViT (stage 1, pretrain_vit.py --init-vit) with
# two labels per patch (--slots 2: the left and the right half apart, so that the ~24 % of
# characters that share a patch get a label too), on VIT_IMAGES new tables, and the heads
# then continue over that ViT (it comes back as vit.safetensors). Leave STEPS1/STEPS2
# room for it (session 1: ~2 200 stage-1 steps of 32 a minute, ~30 s to render 12 000
# tables on 14 cores).
# With CHAR_PROBS=1 the heads' projectors also take stage 1's per-patch character
# probabilities (curriculum.py --char-head; config nvlm_char_probs, docs/model-format.md
# 5.1): the char head comes from this run's stage 1 (VIT_STEPS > 0) or from CHAR_HEAD (a
# carried pretrain_vit.py output folder, whose model.safetensors then is the ViT), the heads
# start fresh (projector shape) with ALIGN projector-only steps first, and the char head
# comes back inside vit.safetensors (and as pretrain_vit.py wrote it, in logs.tar.gz).
# With POINT=W (> 0) every head also gets W x the pointing loss (curriculum.py --point):
# one attention head of the decoder (image tokens in the stream) and one of the
# cross-attention (tiles in the memory) are told which image tokens hold the glyph of each
# transcribed byte. On the CPU this grounded head d where nothing else did (docs/training.md,
# "Session 5").
# Step costs measured on one H200 with the three heads side by side (session 3), batch 16:
# level 1 0.061 (d) to 0.085 (h) s, level 2 0.125 (d) to 0.165 (h) s; the defaults fill
# about 3.5 + 3 minutes. MAXMIN bounds each level's training in minutes all the same.
# Results in OUT (at most 8 files come back from a device run):
#   fusion_{d,x,h}.safetensors lm_{d,x,h}.safetensors (level 2, f16), logs.tar.gz,
#   vit.safetensors (with VIT_STEPS or CHAR_PROBS: the heads' ViT, with its char head)
# Usage: tools/train/gpu_curriculum.sh FONTS OUT
#   FONTS: a copy of the Debian font files, used when the machine has none
#   env: DEVICE (cuda), STEPS1 (2500; 0 skips level 1), STEPS2 (1000), MAXMIN (4, whole
#        minutes), BATCH (16), LR (1e-3),
#        EVAL_N (32), MAX_NEW (520), DEADLINE (seconds for the whole script, 540),
#        FROM_RUN (a run folder to continue from instead of the bundled heads),
#        VIT_STEPS (0), VIT_IMAGES (16000), VIT_LR (3e-4), VIT_MAXMIN (2), PY,
#        CHAR_PROBS (0), CHAR_HEAD (folder), ALIGN (200 with CHAR_PROBS, else 0),
#        POINT (0)
set -uo pipefail
fonts=${1:?usage: gpu_curriculum.sh FONTS OUT}
out=${2:?usage: gpu_curriculum.sh FONTS OUT}
mkdir -p "$out"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
STEPS1=${STEPS1:-2500}
STEPS2=${STEPS2:-1000}
MAXMIN=${MAXMIN:-4}
BATCH=${BATCH:-16}
LR=${LR:-1e-3}
EVAL_N=${EVAL_N:-32}
MAX_NEW=${MAX_NEW:-520}
DEADLINE=${DEADLINE:-540}
VIT_STEPS=${VIT_STEPS:-0}
VIT_IMAGES=${VIT_IMAGES:-16000}
VIT_LR=${VIT_LR:-3e-4}
VIT_MAXMIN=${VIT_MAXMIN:-2}
CHAR_PROBS=${CHAR_PROBS:-0}
ALIGN=${ALIGN:-$([ "$CHAR_PROBS" = 1 ] && echo 200 || echo 0)}
POINT=${POINT:-0}
WORKERS=${WORKERS:-$(( $(nproc) > 6 ? ($(nproc) - 4) / 3 : 1 ))}
SECONDS=0
run1=/tmp/nvlm_level1
run2=/tmp/nvlm_level2
rm -rf "$run1" "$run2"
mkdir -p "$run1" "$run2"
if ! "$PY" -c "from tools.tablegen import fonts; fonts.discover()" >/dev/null 2>&1; then
    export NVLM_FONT_DIRS="$fonts"
    echo "gpu_curriculum: using the fonts in $fonts"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
echo "gpu_curriculum: $(nproc) cores, $WORKERS renderers per head, python $("$PY" -c \
    'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)')"

vit_args=()
if [ "$VIT_STEPS" -gt 0 ]; then
    data=/tmp/nvlm_vitdata
    rm -rf "$data" /tmp/nvlm_vit
    jobs=$(nproc)
    per=$(( (VIT_IMAGES + jobs - 1) / jobs ))
    for k in $(seq 0 $((jobs - 1))); do
        "$PY" -m tools.tablegen --out "$data/train_$k" --split train --seed 2 \
            --start $((k * per)) --count "$per" 2>>/tmp/nvlm_vitdata.log &
    done
    "$PY" -m tools.tablegen --out "$data/val" --split val --seed 2 --count 64 \
        2>>/tmp/nvlm_vitdata.log &
    "$PY" -m tools.tablegen --out "$data/heldout" --split heldout --seed 2 --count 64 \
        2>>/tmp/nvlm_vitdata.log &
    wait
    echo "gpu_curriculum: $((per * jobs)) stage-1 tables at $SECONDS s"
    "$PY" tools/train/pretrain_vit.py --init-vit assets/models/nvlm-tables --slots 2 \
        --data "$(ls -d "$data"/train_* | paste -sd, -)" --val-data "$data/val" \
        --heldout-data "$data/heldout" --device "$DEVICE" --steps "$VIT_STEPS" --batch 32 \
        --lr "$VIT_LR" --max-tiles 4 --seed 1 --workers $(( jobs > 2 ? jobs - 2 : 0 )) \
        --max-minutes "$VIT_MAXMIN" --log-every 200 --out /tmp/nvlm_vit 2>&1 \
        | grep -v Warning | tail -n 12
    if [ -f /tmp/nvlm_vit/model.safetensors ]; then
        cp /tmp/nvlm_vit/model.safetensors "$out/vit.safetensors"
        vit_args=(--vit /tmp/nvlm_vit/model.safetensors)
    else
        echo "gpu_curriculum: stage 1 wrote no ViT; the heads keep the bundled one"
    fi
    echo "gpu_curriculum: stage 1 done at $SECONDS s"
fi

char_dir=
if [ "$CHAR_PROBS" = 1 ]; then
    if [ "$VIT_STEPS" -gt 0 ]; then
        char_dir=/tmp/nvlm_vit
    else
        char_dir=${CHAR_HEAD:?CHAR_PROBS=1 needs VIT_STEPS > 0 or CHAR_HEAD}
        vit_args=(--vit "$char_dir/model.safetensors")
    fi
    [ -f "$char_dir/char_head.safetensors" ] || { echo "gpu_curriculum: no char head in $char_dir"; exit 1; }
    vit_args+=(--char-head "$char_dir")
    cp "$char_dir/char_head.safetensors" "$char_dir/config.json" /tmp/nvlm_level1/
fi

common=(--stream --workers "$WORKERS" --train-count 0 --val-count 16 --steps3 0 --steps4 0
        --batch "$BATCH" --lr4 "$LR" --device "$DEVICE" --log-every 100 --seed 1
        --max-minutes "$MAXMIN" --init assets/models/nvlm-tables "${vit_args[@]}")
[ "$POINT" != 0 ] && common+=(--point "$POINT")

level() {  # level RUN LIMIT_S ARGS...: the three heads side by side
    local run=$1 limit=$2
    shift 2
    local pids=()
    for h in d x h; do
        timeout "$limit" "$PY" tools/train/curriculum.py train --head "$h" "${common[@]}" \
            --out "$run" "$@" >"$run/train_$h.log" 2>&1 & pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || echo "gpu_curriculum: a head exited with $?"; done
    for h in d x h; do
        grep -h 'stopped_at\|"eval"' "$run/log_$h.jsonl" 2>/dev/null | cut -c1-400
        tail -n 1 "$run/log_$h.jsonl" 2>/dev/null | cut -c1-300
        grep -i "error\|Traceback" "$run/train_$h.log" | tail -n 3
    done
    echo "gpu_curriculum: $run done at $SECONDS s"
}

start=(--keep-head)
[ "$CHAR_PROBS" = 1 ] && start=(--steps3 "$ALIGN")  # fresh heads: the projector widens
[ -n "${FROM_RUN:-}" ] && start=(--from-run "$FROM_RUN")
if [ "$STEPS1" -gt 0 ]; then
    level "$run1" $(( MAXMIN * 60 + 90 )) "${start[@]}" --rows 1 3 --cols 2 3 \
        --steps4 "$STEPS1" --eval-splits
    start=(--from-run "$run1")
fi
left=$(( DEADLINE - SECONDS - 15 ))
level "$run2" "$left" "${start[@]}" --rows 2 8 --cols 2 5 --steps4 "$STEPS2" \
    --eval-splits test heldout --eval-count "$EVAL_N" --eval-batch "$EVAL_N" --max-new "$MAX_NEW"
for h in d x h; do
    cp "$run2/fusion_$h.safetensors" "$run2/lm_$h.safetensors" "$out/" 2>/dev/null \
        || echo "gpu_curriculum: no level-2 weights of head $h"
done
if [ "$VIT_STEPS" -gt 0 ] || [ "$CHAR_PROBS" = 1 ]; then  # the ViT the heads ran over
    cp "$run2/vit.safetensors" "$out/vit.safetensors" 2>/dev/null \
        || echo "gpu_curriculum: no ViT in $run2"
fi
tar -czf "$out/logs.tar.gz" -C /tmp $(cd /tmp && ls nvlm_level*/train_*.log \
    nvlm_level*/log_*.jsonl nvlm_level*/result_*.json nvlm_level1/char_head.safetensors \
    nvlm_level1/config.json 2>/dev/null)
echo "gpu_curriculum: all done at $SECONDS s"
