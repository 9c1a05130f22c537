/* test_decoder_errors.c - the decoder refuses bad weights and bad calls with
 * a clear error instead of crashing, and its layer hook behaves as promised.
 *
 * Weights: copies of the golden llama / qwen2 files with one tensor given a
 * wrong shape, or left out, must fail to load with a message naming that
 * tensor. Calls: a full KV cache, an out-of-range token id, a cache of the
 * wrong shape, missing input, all fail and leave the cache length as it was.
 * Hook: called before every layer and once before the final norm, in order,
 * with the chunk's T and pos0 and the same hidden rows that the
 * hidden-state capture reports; a hook that changes nothing changes no
 * logit, one that changes the stream changes them, and a failing hook stops
 * the pass with its message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/safetensors.h"
#include "text/decoder.h"

/* Writes the tensors of `src` to path, giving tensor `bad` the first
 * dimension reduced by one (its data shortened to match), or leaving it out
 * when drop is set. Returns 0 on success. */
static int write_modified(const nv_safetensors *src, const char *path,
                          const char *bad, int drop)
{
    cJSON *hdr = cJSON_CreateObject();
    size_t total = 0;
    for (size_t i = 0; i < nv_st_count(src); i++)
        total += nv_st_at(src, i)->nbytes;
    unsigned char *data = malloc(total ? total : 1);
    size_t off = 0;
    for (size_t i = 0; i < nv_st_count(src); i++) {
        const nv_st_entry *e = nv_st_at(src, i);
        int is_bad = strcmp(e->name, bad) == 0;
        if (is_bad && drop)
            continue;
        int64_t shape[NV_MAX_DIMS];
        memcpy(shape, e->shape, sizeof shape);
        size_t nbytes = e->nbytes;
        if (is_bad) {
            nbytes = nbytes / (size_t)shape[0] * (size_t)(shape[0] - 1);
            shape[0] -= 1;
        }
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "dtype", nv_dtype_name(e->dtype));
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < e->ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + nbytes)));
        cJSON_AddItemToObject(hdr, e->name, t);
        memcpy(data + off, e->data, nbytes);
        off += nbytes;
    }
    char *text = cJSON_PrintUnformatted(hdr);
    size_t hlen = strlen(text);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(len8, 1, 8, f) == 8 &&
             fwrite(text, 1, hlen, f) == hlen &&
             (off == 0 || fwrite(data, 1, off, f) == off);
    if (f && fclose(f) != 0)
        ok = 0;
    free(text);
    free(data);
    cJSON_Delete(hdr);
    return ok ? 0 : -1;
}

static void open_case(const char *name, nv_llm_config *cfg,
                      nv_safetensors **st)
{
    char path[1024];
    nv_error err = {{0}};
    snprintf(path, sizeof path, "%s/hf/%s/model", check_golden_dir(), name);
    *st = NULL;
    if (nv_llm_config_load(path, cfg, &err) ||
        !(*st = nv_st_open(path, &err))) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

/* Loading a copy with `tensor` broken must fail naming it. */
static void expect_load_error(const char *name, const char *tensor, int drop,
                              const char *also)
{
    nv_llm_config cfg;
    nv_safetensors *src;
    open_case(name, &cfg, &src);
    char dir[] = "/tmp/nv_decoder_test_XXXXXX";
    char path[256];
    if (!CHECK(mkdtemp(dir) != NULL)) {
        nv_st_close(src);
        return;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(write_modified(src, path, tensor, drop) == 0);
    nv_st_close(src);
    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(path, &err);
    CHECK(st != NULL);
    nv_decoder *dec = st ? nv_decoder_load(st, &cfg, NULL, 4, 16, &err)
                         : NULL;
    int ok = dec == NULL && strstr(err.msg, also);
    printf("  %s %s %s -> %s\n", name, drop ? "without" : "bad shape of",
           tensor, err.msg);
    check_true(ok, tensor, __FILE__, __LINE__);
    nv_decoder_free(dec);
    nv_st_close(st);
    unlink(path);
    rmdir(dir);
}

static void test_bad_weights(void)
{
    expect_load_error("llama", "model.layers.1.self_attn.q_proj.weight", 0,
                      "model.layers.1.self_attn.q_proj.weight");
    expect_load_error("llama", "model.layers.2.mlp.down_proj.weight", 0,
                      "model.layers.2.mlp.down_proj.weight");
    expect_load_error("llama", "model.embed_tokens.weight", 0,
                      "model.embed_tokens.weight");
    expect_load_error("llama", "model.norm.weight", 1, "model.norm.weight");
    expect_load_error("qwen2", "model.layers.0.self_attn.k_proj.bias", 0,
                      "model.layers.0.self_attn.k_proj.bias");
    expect_load_error("qwen2", "model.layers.1.self_attn.q_proj.bias", 1,
                      "q/k/v");
    expect_load_error("qwen2", "model.layers.0.post_attention_layernorm.weight",
                      1, "post_attention_layernorm");
}

typedef struct hook_log {
    int calls;
    int order_ok;
    int T, pos0;
    int capture_ok;
    const float *capture; /* hidden states of the same pass, or NULL */
    int H;
    float add;            /* added to every value at layer 1 */
    int fail_at;          /* layer to fail at, or -1 */
} hook_log;

static int hook(void *ctx, int layer, float *hidden, int T, int pos0,
                nv_error *err)
{
    hook_log *log = ctx;
    if (layer != log->calls || T != log->T || pos0 != log->pos0)
        log->order_ok = 0;
    log->calls++;
    if (log->capture &&
        memcmp(hidden, log->capture + (size_t)layer * T * log->H,
               (size_t)T * log->H * sizeof(float)) != 0 && layer < 3)
        log->capture_ok = 0;
    if (layer == log->fail_at)
        return nv_fail(err, "test hook refuses layer %d", layer);
    if (layer == 1)
        for (int i = 0; i < T * log->H; i++)
            hidden[i] += log->add;
    return 0;
}

static void test_calls_and_hooks(void)
{
    nv_llm_config cfg;
    nv_safetensors *st;
    open_case("llama", &cfg, &st);
    nv_error err = {{0}};
    /* f32 weights are borrowed from the mapping: st stays open. */
    nv_decoder *dec = nv_decoder_load(st, &cfg, NULL, 2, 8, &err);
    if (!CHECK(dec != NULL)) {
        fprintf(stderr, "%s\n", err.msg);
        nv_st_close(st);
        return;
    }
    int V = cfg.vocab_size, H = cfg.hidden_size, L = cfg.n_layers;
    int32_t ids[6] = {5, 17, 200, 3, 99, 42};
    float *ref = malloc((size_t)6 * V * sizeof(float));
    float *out = malloc((size_t)6 * V * sizeof(float));
    float *hid = malloc((size_t)(L + 1) * 6 * H * sizeof(float));
    nv_kv_cache kv;
    CHECK(nv_decoder_kv_init(dec, &kv, 8, &err) == 0);

    /* First 2 positions, then 4 more with a hook (the chunk grows the
     * scratch past the 2 reserved at load). */
    nv_decoder_run run = {.ids = ids, .T = 2, .logits = ref};
    CHECK(nv_decoder_forward(dec, &kv, &run, &err) == 0);
    nv_decoder_run plain = {.ids = ids + 2, .T = 4, .logits = ref + 2 * V,
                            .hidden_states = hid};
    CHECK(nv_decoder_forward(dec, &kv, &plain, &err) == 0);
    CHECK(kv.len == 6);

    hook_log log = {.order_ok = 1, .T = 4, .pos0 = 2, .capture_ok = 1,
                    .capture = hid, .H = H, .add = 0.0f, .fail_at = -1};
    nv_decoder_run hooked = plain;
    hooked.hidden_states = NULL;
    hooked.logits = out;
    hooked.hook = hook;
    hooked.hook_ctx = &log;
    CHECK(nv_kv_cache_truncate(&kv, 2, &err) == 0);
    CHECK(nv_decoder_forward(dec, &kv, &hooked, &err) == 0);
    CHECK(log.calls == L + 1 && log.order_ok && log.capture_ok);
    CHECK(memcmp(out, ref + 2 * V, (size_t)4 * V * sizeof(float)) == 0);

    log = (hook_log){.order_ok = 1, .T = 4, .pos0 = 2, .capture_ok = 1,
                     .H = H, .add = 0.5f, .fail_at = -1};
    CHECK(nv_kv_cache_truncate(&kv, 2, &err) == 0);
    CHECK(nv_decoder_forward(dec, &kv, &hooked, &err) == 0);
    CHECK(check_max_abs_diff(out, ref + 2 * V, 4L * V) > 1e-3);

    log = (hook_log){.order_ok = 1, .T = 4, .pos0 = 2, .capture_ok = 1,
                     .H = H, .fail_at = 2};
    CHECK(nv_kv_cache_truncate(&kv, 2, &err) == 0);
    CHECK(nv_decoder_forward(dec, &kv, &hooked, &err) == -1);
    CHECK(strstr(err.msg, "test hook refuses layer 2") != NULL);
    CHECK(kv.len == 2);

    /* Context full: 2 cached + 7 new > 8. Nothing changes. */
    int32_t many[7] = {1, 2, 3, 4, 5, 6, 7};
    nv_decoder_run big = {.ids = many, .T = 7, .logits = out};
    CHECK(nv_decoder_forward(dec, &kv, &big, &err) == -1);
    printf("  context full -> %s\n", err.msg);
    CHECK(strstr(err.msg, "context full") != NULL && kv.len == 2);
    big.T = 6;
    CHECK(nv_decoder_forward(dec, &kv, &big, &err) == 0 && kv.len == 8);
    big.T = 1;
    CHECK(nv_decoder_forward(dec, &kv, &big, &err) == -1 && kv.len == 8);

    /* Bad ids, missing input, wrong cache. */
    nv_kv_cache_reset(&kv);
    int32_t bad_ids[2] = {4, 300};
    nv_decoder_run bad = {.ids = bad_ids, .T = 2, .logits = out};
    CHECK(nv_decoder_forward(dec, &kv, &bad, &err) == -1);
    printf("  bad id -> %s\n", err.msg);
    CHECK(strstr(err.msg, "300") != NULL && kv.len == 0);
    bad_ids[1] = -1;
    CHECK(nv_decoder_forward(dec, &kv, &bad, &err) == -1);
    CHECK(nv_decoder_embed(dec, bad_ids, 2, out, &err) == -1);
    nv_decoder_run none = {.T = 2, .logits = out};
    CHECK(nv_decoder_forward(dec, &kv, &none, &err) == -1);
    nv_decoder_run zero = {.ids = ids, .T = 0, .logits = out};
    CHECK(nv_decoder_forward(dec, &kv, &zero, &err) == -1);
    nv_kv_cache other;
    CHECK(nv_kv_cache_init(&other, L, cfg.n_kv_heads + 1, cfg.head_dim, 8,
                           &err) == 0);
    CHECK(nv_decoder_forward(dec, &other, &run, &err) == -1);
    printf("  wrong cache -> %s\n", err.msg);
    nv_kv_cache_free(&other);
    CHECK(nv_kv_cache_init(&other, 1 << 30, 1 << 30, 1 << 30, 1 << 30,
                           &err) == -1);
    CHECK(nv_kv_cache_truncate(&kv, 1, &err) == -1);

    /* Last-only logits equal the last row of all logits; no logits at all
     * is allowed (a prefill that only fills the cache). */
    nv_kv_cache_reset(&kv);
    nv_decoder_run all = {.ids = ids, .T = 6, .logits = ref};
    CHECK(nv_decoder_forward(dec, &kv, &all, &err) == 0);
    nv_kv_cache_reset(&kv);
    nv_decoder_run last = {.ids = ids, .T = 6, .logits = out,
                           .last_only = 1};
    CHECK(nv_decoder_forward(dec, &kv, &last, &err) == 0);
    CHECK(check_max_abs_diff(out, ref + 5 * V, V) <= 1e-5);
    nv_kv_cache_reset(&kv);
    nv_decoder_run fill = {.ids = ids, .T = 6};
    CHECK(nv_decoder_forward(dec, &kv, &fill, &err) == 0 && kv.len == 6);

    nv_kv_cache_free(&kv);
    free(hid);
    free(out);
    free(ref);
    nv_decoder_free(dec);
    nv_st_close(st);
}

int main(void)
{
    test_bad_weights();
    test_calls_and_hooks();
    return check_summary("test_decoder_errors");
}
