/* hub_check.h - what the whole-model tests (test_family_*.c,
 * test_model_fixtures.c) share: feeding a golden pixel tensor to a
 * session, comparing a finished run with the golden prompt ids / logits /
 * greedy ids, comparing arrays, and scratch model directories for the
 * refusal tests. Header-only, one test program per include. */
#ifndef NV_TESTS_HUB_CHECK_H
#define NV_TESTS_HUB_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "file_util.h"
#include "core/safetensors.h"
#include "fusion/model.h"

/* |got - want| <= rel * max|want| over n values; prints the error. */
static inline int hub_close(const char *label, const char *what,
                            const float *got, const float *want, long n,
                            double rel)
{
    double e = check_max_abs_diff(got, want, n);
    double tol = rel * check_max_abs(want, n);
    printf("%s: %s max err %.3g (tol %.3g)\n", label, what, e, tol);
    return CHECK(e <= tol);
}

/* Loads the model directory dir (fusion NULL = the model's default) with
 * `threads` threads; a failed check, its message printed after `label`,
 * and NULL when it cannot. */
static inline nvlm_model *hub_load_model(const char *dir, const char *fusion,
                                         int threads, const char *label)
{
    char err[1024] = "";
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.fusion = fusion;
    opt.threads = threads;
    nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
    if (!CHECK(m != NULL))
        fprintf(stderr, "%s: %s\n", label, err);
    return m;
}

/* Gives the session an image in the family's own pixel layout, as a
 * family's preprocess would have made it. */
static inline int hub_set_family_pixels(nvlm_session *s,
                                        const nv_tensor *pix, int n_tiles,
                                        int cols, int rows)
{
    nv_error e = {{0}};
    nv_family_image_free(&s->family_image);
    free(s->features);
    s->features = NULL;
    if (nv_tensor_alloc_f32(&s->family_image.pixels, pix->ndim, pix->shape,
                            &e))
        return -1;
    memcpy(s->family_image.pixels.data, pix->data,
           sizeof(float) * (size_t)nv_tensor_numel(pix));
    s->family_image.n_tiles = n_tiles;
    s->family_image.cols = cols;
    s->family_image.rows = rows;
    s->has_image = 1;
    s->n_tiles = n_tiles;
    return 0;
}

/* Compares a session that has generated (with keep_prompt_logits) against
 * a reference run: the prompt ids exactly (want_ids [n_ids]), the logits of
 * every prompt position within rel * max|want_logits| (n_logits values,
 * n_ids x vocab), and the generated ids exactly (want_gen [n_gen]: the
 * prompt ids, then the generated ones). Prints the errors. */
static inline void hub_compare_run(const nvlm_session *s,
                                   const int64_t *want_ids, int n_ids,
                                   const float *want_logits, long n_logits,
                                   const int64_t *want_gen, int n_gen,
                                   double rel, const char *label)
{
    int np = 0, ng = 0;
    const int32_t *pids = nvlm_prompt_ids(s, &np);
    int same = np == n_ids;
    for (int i = 0; same && i < n_ids; i++)
        same = pids[i] == want_ids[i];
    if (!CHECK(same)) {
        fprintf(stderr, "%s: prompt ids differ (%d vs %d ids):", label, np,
                n_ids);
        for (int i = 0; i < np; i++)
            fprintf(stderr, " %d", pids[i]);
        fprintf(stderr, "\n");
    }
    if (same &&
        CHECK(n_logits == (long)n_ids * s->m->llm.vocab_size))
        hub_close(label, "logits (all prompt positions)", s->prompt_logits,
                  want_logits, n_logits, rel);
    const int32_t *gids = nvlm_generated_ids(s, &ng);
    int gsame = ng == n_gen - n_ids;
    for (int i = 0; gsame && i < ng; i++)
        gsame = gids[i] == want_gen[n_ids + i];
    if (!CHECK(gsame)) {
        fprintf(stderr, "%s: generated", label);
        for (int i = 0; i < ng; i++)
            fprintf(stderr, " %d", gids[i]);
        fprintf(stderr, " want");
        for (int i = n_ids; i < n_gen; i++)
            fprintf(stderr, " %lld", (long long)want_gen[i]);
        fprintf(stderr, "\n");
    } else {
        printf("%s: %d greedy ids identical\n", label, ng);
    }
}

/* Runs the session: 8 greedy tokens, EOS ignored, every prompt logit kept,
 * raw: the prompt text as given. A failed check, its message printed
 * after `label`, and -1 when it cannot. */
static inline int hub_generate(nvlm_session *s, int raw, const char *label)
{
    char err[1024];
    s->keep_prompt_logits = 1;
    nvlm_gen_params p;
    nvlm_gen_params_init(&p);
    p.max_new_tokens = 8;
    p.ignore_eos = 1;
    p.raw_prompt = raw;
    if (!CHECK(nvlm_generate(s, &p, NULL, NULL, err, sizeof err) == 0)) {
        fprintf(stderr, "%s: %s\n", label, err);
        return -1;
    }
    return 0;
}

/* nvlm_stats.logprob and min_token_prob of a one-token answer against the
 * reference's logits at the last prompt position (want_gen[n_ids] is the
 * token it picks): log softmax computed here in double, independently of
 * the runtime; within 2e-4 * max|logit| (the logits' own tolerance,
 * twice: the logit and the log-sum-exp). */
static inline void hub_check_logprob(nvlm_session *s, const float *want_logits,
                                     int n_ids, const int64_t *want_gen,
                                     const char *label)
{
    char err[1024];
    int V = s->m->llm.vocab_size;
    const float *last = want_logits + (size_t)(n_ids - 1) * V;
    double max = last[0];
    for (int i = 1; i < V; i++)
        max = fmax(max, last[i]);
    double sum = 0;
    for (int i = 0; i < V; i++)
        sum += exp(last[i] - max);
    double want = last[want_gen[n_ids]] - max - log(sum);
    nvlm_gen_params p;
    nvlm_gen_params_init(&p);
    p.max_new_tokens = 1;
    p.ignore_eos = 1;
    p.want_logprob = 1;
    if (!CHECK(nvlm_generate(s, &p, NULL, NULL, err, sizeof err) == 0)) {
        fprintf(stderr, "%s: %s\n", label, err);
        return;
    }
    const nvlm_stats *st = nvlm_last_stats(s);
    double tol = 2e-4 * fmax(1.0, fmax(fabs(max), check_max_abs(last, V)));
    printf("%s: first token log-probability %.6f (reference %.6f, tol %.2g)\n",
           label, st->logprob, want, tol);
    CHECK(fabs(st->logprob - want) <= tol);
    CHECK(fabs(st->min_token_prob - exp(want)) <= tol);
}

/* Runs the session by hub_generate (not raw) and compares it with golden
 * `g` (in_input_ids [1, N], logits, generated_ids [1, N + 8]) by
 * hub_compare_run within 1e-4. */
static inline void hub_check_generation(nvlm_session *s,
                                        const nv_safetensors *g,
                                        const char *label)
{
    nv_error e = {{0}};
    nv_tensor ids = {0}, logits = {0}, gen = {0};
    if (!CHECK(nv_st_get_i64(g, "in_input_ids", &ids, &e) == 0 &&
               nv_st_get_f32(g, "logits", -1, NULL, &logits, &e) == 0 &&
               nv_st_get_i64(g, "generated_ids", &gen, &e) == 0)) {
        fprintf(stderr, "%s: %s\n", label, e.msg);
        goto done;
    }
    if (hub_generate(s, 0, label))
        goto done;
    hub_compare_run(s, ids.data, (int)ids.shape[1], logits.data,
                    (long)nv_tensor_numel(&logits), gen.data,
                    (int)gen.shape[1], 1e-4, label);
    hub_check_logprob(s, logits.data, (int)ids.shape[1], gen.data, label);
done:
    nv_tensor_free(&ids);
    nv_tensor_free(&logits);
    nv_tensor_free(&gen);
}

/* A scratch model directory: files are written or linked into it and all
 * removed by hub_tmp_clean. */
typedef struct hub_tmp {
    char dir[256];
    char names[16][64];
    int n;
} hub_tmp;

static inline int hub_tmp_make(hub_tmp *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/nvlm_hub_XXXXXX");
    t->n = 0;
    return mkdtemp(t->dir) ? 0 : -1;
}

static inline void hub_tmp_path(const hub_tmp *t, const char *name,
                                char *out, size_t size)
{
    snprintf(out, size, "%s/%s", t->dir, name);
}

static inline void hub_tmp_note(hub_tmp *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->names[i], name))
            return;
    size_t len = strlen(name);
    if (t->n < 16 && len < sizeof t->names[0])
        memcpy(t->names[t->n++], name, len + 1);
}

static inline int hub_tmp_write(hub_tmp *t, const char *name,
                                const char *text)
{
    char path[512];
    hub_tmp_path(t, name, path, sizeof path);
    if (test_write_text(path, text))
        return -1;
    hub_tmp_note(t, name);
    return 0;
}

/* Links src_dir/name into the scratch directory. */
static inline int hub_tmp_link(hub_tmp *t, const char *src_dir,
                               const char *name)
{
    char src[2200], dst[512];
    snprintf(src, sizeof src, "%s/%s", src_dir, name);
    hub_tmp_path(t, name, dst, sizeof dst);
    unlink(dst);
    hub_tmp_note(t, name);
    return symlink(src, dst);
}

static inline void hub_tmp_clean(hub_tmp *t)
{
    char path[512];
    for (int i = 0; i < t->n; i++) {
        hub_tmp_path(t, t->names[i], path, sizeof path);
        unlink(path);
    }
    rmdir(t->dir);
}

/* Loads dir (with fusion `fusion`, NULL = default) expecting a refusal
 * whose message holds `needle`. */
static inline void hub_expect_refusal(const char *dir, const char *fusion,
                                      const char *needle,
                                      const char *label)
{
    char err[1024] = "";
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.fusion = fusion;
    opt.threads = 1;
    nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
    if (!CHECK(m == NULL))
        fprintf(stderr, "%s: loaded, expected a refusal\n", label);
    nvlm_free(m);
    if (!CHECK(strstr(err, needle) != NULL))
        fprintf(stderr, "%s: message '%s' does not name '%s'\n", label, err,
                needle);
    else
        printf("%s: refused: %s\n", label, err);
}

#endif
