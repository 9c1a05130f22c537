/* test_decoder_golden.h - shared by the decoder tests: loading a golden
 * case (config, weights, golden.safetensors) and comparing arrays with a
 * printed error. Header-only so each test stays one executable. */
#ifndef NV_TEST_DECODER_GOLDEN_H
#define NV_TEST_DECODER_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/safetensors.h"
#include "text/decoder.h"

typedef struct golden_case {
    char dir[1024];
    nv_llm_config cfg;
    nv_safetensors *weights;
    nv_safetensors *golden;
    nv_decoder *dec;
    nv_pool *pool;
} golden_case;

/* Opens $NV_GOLDEN_DIR/hf/<name>; exits (fails) when anything is missing. */
static void golden_open(golden_case *g, const char *name, int max_T,
                        int max_ctx)
{
    nv_error err = {{0}};
    memset(g, 0, sizeof *g);
    snprintf(g->dir, sizeof g->dir, "%s/hf/%s", check_golden_dir(), name);
    char path[1200];
    snprintf(path, sizeof path, "%s/model", g->dir);
    if (nv_llm_config_load(path, &g->cfg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    g->weights = nv_st_open(path, &err);
    snprintf(path, sizeof path, "%s/golden.safetensors", g->dir);
    g->golden = g->weights ? nv_st_open(path, &err) : NULL;
    g->pool = g->golden ? nv_pool_create(2, &err) : NULL;
    g->dec = g->pool ? nv_decoder_load(g->weights, &g->cfg, g->pool,
                                       max_T, max_ctx, &err)
                     : NULL;
    if (!g->dec) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        exit(1);
    }
}

static void golden_close(golden_case *g)
{
    nv_decoder_free(g->dec);
    nv_pool_free(g->pool);
    nv_st_close(g->golden);
    nv_st_close(g->weights);
}

static void golden_f32(const golden_case *g, const char *name, nv_tensor *t)
{
    nv_error err = {{0}};
    if (nv_st_get_f32(g->golden, name, -1, NULL, t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

static void golden_i64(const golden_case *g, const char *name, nv_tensor *t)
{
    nv_error err = {{0}};
    if (nv_st_get_i64(g->golden, name, t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

/* Checks max|got - want| <= tol and prints the measured error. */
static int check_close(const char *what, const float *got, const float *want,
                       long n, double tol)
{
    double d = check_max_abs_diff(got, want, n);
    printf("  %-40s max|diff| = %.3g (tol %.3g)\n", what, d, tol);
    return check_true(d <= tol, what, __FILE__, __LINE__);
}

/* A forward pass against the reference: every hidden state hidden
 * [L+1, T, H] within 5e-6 * max(1, max|golden layer|), the logits [T, V]
 * within 1e-4 * max|golden logit|. Returns that logit scale. */
static double check_forward(const float *hidden, const float *ref_hidden,
                            int L, int T, int H, const float *logits,
                            const float *ref_logits, int V)
{
    for (int l = 0; l <= L; l++) {
        char what[64];
        snprintf(what, sizeof what, "hidden_states[%d]", l);
        const float *want = ref_hidden + (size_t)l * T * H;
        double scale = check_max_abs(want, (long)T * H);
        check_close(what, hidden + (size_t)l * T * H, want, (long)T * H,
                    5e-6 * (scale > 1 ? scale : 1));
    }
    double lscale = check_max_abs(ref_logits, (long)T * V);
    check_close("logits", logits, ref_logits, (long)T * V, 1e-4 * lscale);
    return lscale;
}

#endif
