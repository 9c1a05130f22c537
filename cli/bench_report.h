/* bench_report.h - the results of `nvlm bench` and the three ways they are
 * written: a Markdown table (stdout), JSON, and an SVG chart of time to
 * first token (with --cost-only: the FLOPs to the first token) and
 * KV-cache memory against tile count, one line per fusion. */
#ifndef NV_CLI_BENCH_REPORT_H
#define NV_CLI_BENCH_REPORT_H

#include "core/roofline.h"
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "fusion/model_cost.h"
#include "fusion/table_metrics.h"

/* One (fusion, image, tile limit) measurement. Times are medians over the
 * measured runs, in milliseconds. */
typedef struct bench_row {
    char fusion[2];
    char weights[8]; /* --dtype: stored, f32, bf16, f16, q8_0 */
    char image[256];  /* file name, or "WxH" for a synthetic image */
    int max_tiles;
    nv_model_cost cost; /* counts and analytic FLOPs / KV bytes */
    double ms_preprocess, ms_vit, ms_projector, ms_prefill;
    double ms_first_token; /* preprocess + vision + prefill + first pick */
    double decode_tokens_per_s;
    int generated;         /* tokens generated per run */
    char stop_reason[12];  /* nvlm_stats.stop_reason of the last run */
    int64_t peak_rss;      /* bytes; -1 when unknown */
    double decoder_weight_bytes; /* read once per decoded token */
    int labeled;           /* scores below are valid */
    nv_table_scores scores;
} bench_row;

typedef struct bench_report {
    const char *model;  /* directory or "random:SHAPE" */
    int threads;
    int repeat, warmup, new_tokens;
    int to_end; /* --labels without -n: answers run to the model's end,
                   new_tokens is only the cap */
    const char *peak_rss_scope; /* what peak_rss measures */
    const char *blas_kernels;   /* nvlm_blas_kernels() */
    const char *lowp_kernels;   /* nvlm_lowp_kernels() */
    int has_roofline;           /* --roofline: roof is measured */
    nv_roofline roof;
    int cost_only; /* no runs: the chart plots vision + prefill GFLOP in
                      place of time to first token */
    bench_row *rows;
    int n_rows;
} bench_report;

void bench_write_markdown(const bench_report *r, FILE *out);
int bench_write_json(const bench_report *r, const char *path, nv_error *err);
int bench_write_svg(const bench_report *r, const char *path, nv_error *err);

#endif
