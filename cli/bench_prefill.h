/* bench_prefill.h - `nvlm bench --prompt-tokens N`: the decoder's prefill
 * of N text tokens (no image, no cross-attention), at 1 thread and at the
 * requested thread count, with the speed-up between them.
 *
 * The N ids are the tokens of the prompt text repeated until N are taken,
 * run as one forward pass from an empty KV cache (what nvlm_generate does
 * for a text prompt of N tokens before the first pick). The model is loaded
 * once per thread count (the pool and OpenBLAS's thread count are set at
 * load). Times are medians over the measured runs. GFLOP/s counts the
 * products and the causal attention as fusion/model_cost.h does; with
 * --roofline the machine's FMA and bf16 peaks are measured after the runs
 * and the prefill is given as a fraction of them.
 */
#ifndef NV_CLI_BENCH_PREFILL_H
#define NV_CLI_BENCH_PREFILL_H

#include "core/error.h"

typedef struct bench_prefill_args {
    const char *model_dir;
    const char *model_name; /* for the report: directory or random:SHAPE */
    const char *prompt;
    const char *json;       /* NULL: no JSON */
    const char *dtype;      /* --dtype (NULL: as stored) */
    int tokens;
    int threads;            /* <= 0: all available cores */
    int repeat, warmup;
    int roofline;           /* also measure the machine's peaks */
} bench_prefill_args;

/* Runs the benchmark and prints a Markdown report on stdout (and JSON with
 * a->json). */
int bench_prefill_run(const bench_prefill_args *a, nv_error *err);

#endif
