/* bench_prefill.c - `nvlm bench --prompt-tokens N`; see bench_prefill.h. */
#include "cli/bench_prefill.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/roofline.h"
#include "core/threads.h"
#include "fusion/model.h"
#include "fusion/model_cost.h"
#include "text/decoder.h"
#include "text/kv_cache.h"
#include "text/tokenizer.h"

typedef struct prefill_row {
    int threads;
    double ms;           /* median */
    double tokens_per_s; /* tokens / median */
    double gflops;       /* the pass's FLOPs / median */
} prefill_row;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The prompt's tokens repeated until n are taken. */
static int32_t *prompt_ids(const nvlm_model *m, const char *text, int n,
                           nv_error *err)
{
    int32_t *unit = NULL;
    size_t n_unit = 0;
    if (nv_tokenizer_encode(m->tok, text, strlen(text), 0, &unit, &n_unit,
                            err))
        return NULL;
    if (n_unit == 0) {
        nv_fail(err, "--prompt-tokens: the prompt '%s' has no tokens", text);
        return NULL;
    }
    int vocab = nv_llm_config_input_vocab(&m->llm);
    int32_t *ids = malloc(sizeof *ids * (size_t)n);
    if (!ids)
        nv_fail(err, "out of memory");
    for (int i = 0; ids && i < n; i++) {
        ids[i] = unit[(size_t)i % n_unit];
        if (ids[i] < 0 || ids[i] >= vocab) {
            nv_fail(err, "token id %d is outside the model's vocabulary of "
                    "%d", (int)ids[i], vocab);
            free(ids);
            ids = NULL;
        }
    }
    free(unit);
    return ids;
}

/* Loads the model with `threads` threads and times its prefills. */
static int measure(const bench_prefill_args *a, int threads, prefill_row *row,
                   nv_error *err)
{
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.threads = threads;
    opt.dtype = a->dtype;
    opt.max_context = a->tokens + 1 > 4096 ? a->tokens + 1 : 4096;
    char msg[1024];
    nvlm_model *m = nvlm_load(a->model_dir, &opt, msg, sizeof msg);
    if (!m)
        return nv_fail(err, "%s", msg);
    row->threads = nv_pool_size(m->pool);
    nv_kv_cache kv = {0};
    float *logits = malloc(sizeof(float) * (size_t)m->llm.vocab_size);
    double *ms = calloc((size_t)a->repeat, sizeof *ms);
    int32_t *ids = prompt_ids(m, a->prompt, a->tokens, err);
    int rc = ids ? 0 : -1;
    if (!rc && (!logits || !ms))
        rc = nv_fail(err, "out of memory");
    if (!rc)
        rc = nv_decoder_kv_init(m->dec, &kv, a->tokens, err);
    if (!rc)
        rc = nv_decoder_reserve(m->dec, a->tokens, a->tokens, err);
    for (int k = 0; k < a->warmup + a->repeat && !rc; k++) {
        nv_kv_cache_reset(&kv);
        nv_decoder_run run = {
            .ids = ids, .T = a->tokens, .logits = logits, .last_only = 1,
        };
        double t0 = now_ms();
        rc = nv_decoder_forward(m->dec, &kv, &run, err);
        if (k >= a->warmup)
            ms[k - a->warmup] = now_ms() - t0;
    }
    if (!rc) {
        qsort(ms, (size_t)a->repeat, sizeof *ms, cmp_double);
        int r = a->repeat;
        row->ms = r % 2 ? ms[r / 2] : 0.5 * (ms[r / 2 - 1] + ms[r / 2]);
        row->tokens_per_s = row->ms > 0 ? a->tokens * 1e3 / row->ms : 0;
        /* The layers' products and causal attention, and the last
         * position's logits (fusion/model_cost.h counts them). */
        double flops = nv_cost_decoder_layers(m, a->tokens, 0) +
                       2.0 * m->llm.hidden_size * m->llm.vocab_size;
        row->gflops = row->ms > 0 ? flops / (row->ms * 1e6) : 0;
        fprintf(stderr, "nvlm bench: prefill of %d tokens on %d thread(s): "
                "%.1f ms\n", a->tokens, row->threads, row->ms);
    }
    nv_kv_cache_free(&kv);
    free(ids);
    free(ms);
    free(logits);
    nvlm_free(m);
    return rc;
}

static int write_json(const bench_prefill_args *a, const prefill_row *rows,
                      int n, double speedup, const nv_roofline *roof,
                      nv_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "rows");
    cJSON_AddStringToObject(root, "model", a->model_name);
    cJSON_AddNumberToObject(root, "prompt_tokens", a->tokens);
    cJSON_AddStringToObject(root, "blas_kernels", nvlm_blas_kernels());
    cJSON_AddStringToObject(root, "lowp_kernels", nvlm_lowp_kernels());
    cJSON_AddNumberToObject(root, "repeat", a->repeat);
    cJSON_AddNumberToObject(root, "warmup", a->warmup);
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "threads", rows[i].threads);
        cJSON_AddNumberToObject(o, "median_ms", rows[i].ms);
        cJSON_AddNumberToObject(o, "tokens_per_s", rows[i].tokens_per_s);
        cJSON_AddNumberToObject(o, "gflops", rows[i].gflops);
        cJSON_AddItemToArray(list, o);
    }
    if (speedup > 0)
        cJSON_AddNumberToObject(root, "speedup", speedup);
    else
        cJSON_AddNullToObject(root, "speedup");
    if (roof) {
        cJSON *o = cJSON_AddObjectToObject(root, "roofline");
        cJSON_AddNumberToObject(o, "threads", rows[n - 1].threads);
        cJSON_AddNumberToObject(o, "fma_gflops", roof->fma_gflops);
        cJSON_AddNumberToObject(o, "bf16_gflops", roof->bf16_gflops);
        if (roof->bf16_engine)
            cJSON_AddStringToObject(o, "bf16_engine", roof->bf16_engine);
        else
            cJSON_AddNullToObject(o, "bf16_engine");
        cJSON_AddNumberToObject(o, "read_gbps", roof->read_gbps);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return nv_fail(err, "out of memory");
    FILE *f = fopen(a->json, "w");
    int ok = f && fputs(text, f) != EOF && fputc('\n', f) != EOF;
    if (f && fclose(f))
        ok = 0;
    free(text);
    return ok ? 0 : nv_fail(err, "cannot write %s", a->json);
}

int bench_prefill_run(const bench_prefill_args *a, nv_error *err)
{
    int want = a->threads > 0 ? a->threads : nv_threads_available();
    prefill_row rows[2] = {{0}};
    int n = 0;
    if (measure(a, 1, &rows[n++], err))
        return -1;
    if (want > 1 && measure(a, want, &rows[n++], err))
        return -1;
    double speedup = n == 2 && rows[1].ms > 0 ? rows[0].ms / rows[1].ms : 0;
    nv_roofline roof = {0};
    if (a->roofline) {
        fprintf(stderr, "nvlm bench: measuring the FMA peak and the read "
                "bandwidth...\n");
        nv_pool *pool = nv_pool_create(rows[n - 1].threads, err);
        int rc = pool ? nv_roofline_measure(pool, &roof, err) : -1;
        nv_pool_free(pool);
        if (rc)
            return -1;
    }
    printf("Model: %s; weights %s; prefill of %d text tokens (no image); "
           "OpenBLAS kernels %s; low-precision kernels %s; times are "
           "medians of %d run(s) after %d warm-up run(s), in ms.\n\n",
           a->model_name, a->dtype ? a->dtype : "stored", a->tokens,
           nvlm_blas_kernels(), nvlm_lowp_kernels(),
           a->repeat, a->warmup);
    printf("| threads | prefill ms | prefill tok/s | GFLOP/s |\n"
           "|--:|--:|--:|--:|\n");
    for (int i = 0; i < n; i++)
        printf("| %d | %.1f | %.1f | %.1f |\n", rows[i].threads, rows[i].ms,
               rows[i].tokens_per_s, rows[i].gflops);
    if (n == 2)
        printf("\nSpeed-up %d threads / 1 thread: %.2fx\n", rows[1].threads,
               speedup);
    if (a->roofline) {
        const prefill_row *r = &rows[n - 1];
        printf("\nRoofline on %d thread(s): f32 FMA peak %.0f GFLOP/s (%s), "
               "bf16 peak ", r->threads, roof.fma_gflops, roof.isa);
        if (roof.bf16_gflops > 0)
            printf("%.0f GFLOP/s (%s), read %.1f GB/s. Prefill on %d "
                   "thread(s): %.1f %% of the bf16 peak, %.1f %% of the FMA "
                   "peak.\n", roof.bf16_gflops, roof.bf16_engine,
                   roof.read_gbps, r->threads,
                   100.0 * r->gflops / roof.bf16_gflops,
                   100.0 * r->gflops / roof.fma_gflops);
        else
            printf("none (no AVX-512 BF16), read %.1f GB/s. Prefill on %d "
                   "thread(s): %.1f %% of the FMA peak.\n", roof.read_gbps,
                   r->threads, 100.0 * r->gflops / roof.fma_gflops);
    }
    return a->json ? write_json(a, rows, n, speedup,
                                a->roofline ? &roof : NULL, err)
                   : 0;
}
