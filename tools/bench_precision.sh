#!/bin/bash
# bench_precision.sh - issue 15's figures, in one run on this machine: the
# same random models loaded with their weights converted to f32 (what every
# release before issue 15 did), as stored (bf16 read in place), and as
# q8_0, q4_0 and q4_k (quantized at load), with the machine's own FMA
# peak, bf16 dot-product peak and read bandwidth measured in the same run
# (--roofline).
#
#     tools/bench_precision.sh [OUT_DIR]     (default /tmp/nvlm_precision)
#
#   1. llama-134m (the decoder issue 15 compared with llama.cpp, behind a
#      small ViT): decode tokens/s, peak resident memory, decode GB/s.
#   2. the same decoder's prefill of 512 text tokens, 1 and 2 threads.
#   3. nvlm-1b (InternViT-300M-like tower + a 0.5 B decoder): one 448 px
#      tile, ViT GFLOP/s and memory.
#   4. 1 and 2 again with the kernels capped at plain AVX-512
#      (NV_LOWP_ISA=avx512: bf16 widened to f32 in registers, q8_0 widened
#      too, bf16 prefill as f32 panels through OpenBLAS) - the kernels
#      before AVX-512 BF16 / VNNI and oneDNN, as a baseline in the same run.
# Needs build/cli/nvlm (meson setup build && ninja -C build). Keep
# OPENBLAS_CORETYPE as the environment sets it; the reports name the
# kernels that ran.
set -eu
nvlm=${NVLM:-build/cli/nvlm}
out=${1:-/tmp/nvlm_precision}
mkdir -p "$out"
t=${THREADS:-2}
"$nvlm" bench --random llama-134m --dtype f32,stored,q8_0,q4_0,q4_k --fusion d \
    --sizes 224x224 -n 64 --repeat 3 --warmup 1 -t "$t" --roofline \
    --json "$out/llama134m.json" | tee "$out/llama134m.md"
"$nvlm" bench --random llama-134m --dtype f32,stored,q8_0,q4_0,q4_k \
    --prompt-tokens 512 --repeat 3 --warmup 1 -t "$t" \
    | tee "$out/llama134m_prefill.md"
"$nvlm" bench --random nvlm-1b --dtype f32,stored,q8_0,q4_0,q4_k --fusion d \
    --sizes 448x448 --max-tiles 1 -n 8 --repeat 2 --warmup 1 -t "$t" \
    --roofline --json "$out/nvlm1b.json" | tee "$out/nvlm1b.md"
NV_LOWP_ISA=avx512 "$nvlm" bench --random llama-134m --dtype stored,q8_0 \
    --fusion d --sizes 224x224 -n 64 --repeat 3 --warmup 1 -t "$t" \
    | tee "$out/llama134m_avx512.md"
NV_LOWP_ISA=avx512 "$nvlm" bench --random llama-134m --dtype stored,q8_0 \
    --prompt-tokens 512 --repeat 3 --warmup 1 -t "$t" \
    | tee "$out/llama134m_prefill_avx512.md"
