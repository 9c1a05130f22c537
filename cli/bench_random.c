/* bench_random.c - writes a random-weight nvlm model directory of a named
 * shape (see bench_random.h). */
#include "cli/bench_random.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/files.h"
#include "core/tensor.h"
#include "text/bytelevel.h"

typedef struct random_shape {
    const char *name;
    int nvidia_vit; /* NVLM-D's InternViT variant (RMSNorm, dummy heads) */
    int vit_hidden, vit_intermediate, vit_layers, vit_heads;
    int patch, image_size;
    int qk_norm, qkv_bias, layer_norm;
    int projector_mid, projector_bias; /* mid 0 = LLM hidden size */
    int hidden, intermediate, layers, heads, kv_heads, vocab, tied;
    int xattn_layers[8];
    int n_xattn;
    int max_tiles;
} random_shape;

static const random_shape shapes[] = {
    {"tiny", 1, 32, 64, 2, 2, 7, 28, 1, 0, 0, 64, 0,
     64, 64, 4, 4, 2, 280, 0, {1, 3}, 2, 12},
    {"nvlm-1b", 0, 1024, 4096, 24, 16, 14, 448, 0, 1, 1, 0, 1,
     896, 4864, 24, 14, 2, 151936, 1, {3, 7, 11, 15, 19, 23}, 6, 12},
    /* The decoder issue 15 compared with llama.cpp (134 M parameters, dim
     * 768, 12 layers, ffn 2048, vocab 32000, untied), behind a small ViT,
     * for decode and prefill figures of the language model. */
    {"llama-134m", 0, 64, 256, 2, 2, 14, 224, 0, 1, 1, 0, 1,
     768, 2048, 12, 12, 12, 32000, 0, {5, 11}, 2, 1},
    /* Llama 3.2 11B Vision's language model (dim 4096, 32 self-attention
     * layers, 8 cross-attention blocks, GQA 32 / 8 heads, ffn 14336, vocab
     * 128256, untied): 9.8 B parameters, a 20 GB bf16 file, behind the
     * same small ViT - for memory (issue 15: q4 must fit in 24 GB). */
    {"llama-11b", 0, 64, 256, 2, 2, 14, 224, 0, 1, 1, 0, 1,
     4096, 14336, 32, 32, 8, 128256, 0, {3, 7, 11, 15, 19, 23, 27, 31}, 8, 1},
};

/* Ids of the byte-level tokenizer's special tokens (after the 256 bytes). */
enum { TOK_ENDOFTEXT = 256, TOK_IM_START, TOK_IM_END, TOK_VISION_PAD,
       TOK_COUNT };

const char *nv_bench_random_shapes(void)
{
    return "tiny, nvlm-1b, llama-134m, llama-11b";
}

typedef enum init_kind {
    INIT_MATRIX, /* variance 1 / fan_in */
    INIT_UNIT,   /* variance 1 (embeddings) */
    INIT_NORM,   /* 1 +- 0.1 */
    INIT_SMALL,  /* variance 0.01 */
    INIT_GATE,   /* (-1, 1) */
} init_kind;

typedef struct tensor_spec {
    char name[112];
    int ndim;
    int64_t shape[4];
    init_kind init;
} tensor_spec;

typedef struct spec_list {
    tensor_spec *items;
    size_t n, cap;
} spec_list;

static int add(spec_list *l, init_kind init, int ndim, const int64_t *shape,
               nv_error *err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int add(spec_list *l, init_kind init, int ndim, const int64_t *shape,
               nv_error *err, const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        tensor_spec *items = realloc(l->items, sizeof *items * cap);
        if (!items)
            return nv_fail(err, "random model: out of memory");
        l->items = items;
        l->cap = cap;
    }
    tensor_spec *t = &l->items[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->init = init;
    return 0;
}

/* Shorthands for 1-D and 2-D shapes. */
static int add1(spec_list *l, init_kind k, int64_t a, nv_error *err,
                const char *prefix, const char *name)
{
    int64_t s[1] = {a};
    return add(l, k, 1, s, err, "%s%s", prefix, name);
}

static int add2(spec_list *l, init_kind k, int64_t a, int64_t b,
                nv_error *err, const char *prefix, const char *name)
{
    int64_t s[2] = {a, b};
    return add(l, k, 2, s, err, "%s%s", prefix, name);
}

static int vision_specs(const random_shape *s, spec_list *l, nv_error *err)
{
    int64_t C = s->vit_hidden, I = s->vit_intermediate, p = s->patch;
    int64_t g = s->image_size / s->patch;
    int64_t W = (s->vit_heads + (s->nvidia_vit ? 7 : 0)) * (C / s->vit_heads);
    int64_t cls[3] = {1, 1, C}, pos[3] = {1, g * g + 1, C};
    int64_t patch[4] = {C, 3, p, p};
    const char *e = "vision_model.embeddings.";
    if (add(l, INIT_UNIT, 3, cls, err, "%sclass_embedding", e) ||
        add(l, INIT_MATRIX, 4, patch, err, "%spatch_embedding.weight", e) ||
        add1(l, INIT_SMALL, C, err, e, "patch_embedding.bias") ||
        add(l, INIT_UNIT, 3, pos, err, "%sposition_embedding", e))
        return -1;
    for (int i = 0; i < s->vit_layers; i++) {
        char pre[64];
        snprintf(pre, sizeof pre, "vision_model.encoder.layers.%d.", i);
        int rc = add1(l, INIT_NORM, C, err, pre, "norm1.weight") ||
                 add1(l, INIT_NORM, C, err, pre, "norm2.weight") ||
                 add2(l, INIT_MATRIX, 3 * W, C, err, pre, "attn.qkv.weight") ||
                 add2(l, INIT_MATRIX, C, W, err, pre, "attn.proj.weight") ||
                 add1(l, INIT_SMALL, C, err, pre, "attn.proj.bias") ||
                 add1(l, INIT_SMALL, C, err, pre, "ls1") ||
                 add1(l, INIT_SMALL, C, err, pre, "ls2") ||
                 add2(l, INIT_MATRIX, I, C, err, pre, "mlp.fc1.weight") ||
                 add1(l, INIT_SMALL, I, err, pre, "mlp.fc1.bias") ||
                 add2(l, INIT_MATRIX, C, I, err, pre, "mlp.fc2.weight") ||
                 add1(l, INIT_SMALL, C, err, pre, "mlp.fc2.bias");
        if (!rc && s->layer_norm)
            rc = add1(l, INIT_SMALL, C, err, pre, "norm1.bias") ||
                 add1(l, INIT_SMALL, C, err, pre, "norm2.bias");
        if (!rc && s->qkv_bias)
            rc = add1(l, INIT_SMALL, 3 * W, err, pre, "attn.qkv.bias");
        if (!rc && s->qk_norm)
            rc = add1(l, INIT_NORM, W, err, pre, "attn.q_norm.weight") ||
                 add1(l, INIT_NORM, W, err, pre, "attn.k_norm.weight");
        if (rc)
            return -1;
    }
    return 0;
}

static int projector_specs(const random_shape *s, spec_list *l,
                           nv_error *err)
{
    static const char *const prefixes[3] = {"mlp1.", "x_mlp1.", "h_mlp1."};
    int64_t in = 4 * (int64_t)s->vit_hidden, H = s->hidden;
    int64_t M = s->projector_mid ? s->projector_mid : H;
    for (int k = 0; k < 3; k++) {
        const char *pre = prefixes[k];
        if (add1(l, INIT_NORM, in, err, pre, "0.weight") ||
            add1(l, INIT_SMALL, in, err, pre, "0.bias") ||
            add2(l, INIT_MATRIX, M, in, err, pre, "1.weight") ||
            add2(l, INIT_MATRIX, H, M, err, pre, "3.weight") ||
            (s->projector_bias &&
             (add1(l, INIT_SMALL, M, err, pre, "1.bias") ||
              add1(l, INIT_SMALL, H, err, pre, "3.bias"))))
            return -1;
    }
    return 0;
}

static int llm_specs(const random_shape *s, spec_list *l, nv_error *err)
{
    int64_t H = s->hidden, I = s->intermediate, V = s->vocab;
    int64_t d = s->hidden / s->heads;
    int64_t q = s->heads * d, kv = s->kv_heads * d;
    const char *lm = "language_model.";
    if (add2(l, INIT_UNIT, V, H, err, lm, "model.embed_tokens.weight") ||
        add1(l, INIT_NORM, H, err, lm, "model.norm.weight") ||
        (!s->tied && add2(l, INIT_MATRIX, V, H, err, lm, "lm_head.weight")))
        return -1;
    for (int i = 0; i < s->layers; i++) {
        char pre[80];
        snprintf(pre, sizeof pre, "language_model.model.layers.%d.", i);
        if (add1(l, INIT_NORM, H, err, pre, "input_layernorm.weight") ||
            add1(l, INIT_NORM, H, err, pre, "post_attention_layernorm.weight") ||
            add2(l, INIT_MATRIX, q, H, err, pre, "self_attn.q_proj.weight") ||
            add1(l, INIT_SMALL, q, err, pre, "self_attn.q_proj.bias") ||
            add2(l, INIT_MATRIX, kv, H, err, pre, "self_attn.k_proj.weight") ||
            add1(l, INIT_SMALL, kv, err, pre, "self_attn.k_proj.bias") ||
            add2(l, INIT_MATRIX, kv, H, err, pre, "self_attn.v_proj.weight") ||
            add1(l, INIT_SMALL, kv, err, pre, "self_attn.v_proj.bias") ||
            add2(l, INIT_MATRIX, H, q, err, pre, "self_attn.o_proj.weight") ||
            add2(l, INIT_MATRIX, I, H, err, pre, "mlp.gate_proj.weight") ||
            add2(l, INIT_MATRIX, I, H, err, pre, "mlp.up_proj.weight") ||
            add2(l, INIT_MATRIX, H, I, err, pre, "mlp.down_proj.weight"))
            return -1;
    }
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < s->n_xattn; j++) {
            char pre[64];
            snprintf(pre, sizeof pre, "%c_xattn.%d.", "xh"[k], j);
            if (add1(l, INIT_NORM, H, err, pre, "input_layernorm.weight") ||
                add2(l, INIT_MATRIX, q, H, err, pre, "q_proj.weight") ||
                add2(l, INIT_MATRIX, kv, H, err, pre, "k_proj.weight") ||
                add2(l, INIT_MATRIX, kv, H, err, pre, "v_proj.weight") ||
                add2(l, INIT_MATRIX, H, q, err, pre, "o_proj.weight") ||
                add1(l, INIT_NORM, d, err, pre, "q_norm.weight") ||
                add1(l, INIT_NORM, d, err, pre, "k_norm.weight") ||
                add1(l, INIT_GATE, 1, err, pre, "attn_gate") ||
                add1(l, INIT_GATE, 1, err, pre, "mlp_gate") ||
                add1(l, INIT_NORM, H, err, pre,
                     "post_attention_layernorm.weight") ||
                add2(l, INIT_MATRIX, I, H, err, pre, "mlp.gate_proj.weight") ||
                add2(l, INIT_MATRIX, I, H, err, pre, "mlp.up_proj.weight") ||
                add2(l, INIT_MATRIX, H, I, err, pre, "mlp.down_proj.weight"))
                return -1;
        }
    return 0;
}

static int64_t numel(const tensor_spec *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* splitmix64: a tiny, well-mixed generator; the stream of tensor k is
 * seeded from k so every tensor is reproducible on its own. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (-1, 1). */
static float next_uniform(uint64_t *state)
{
    return (float)((double)(next_u64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static int write_tensor(FILE *f, const tensor_spec *t, uint64_t seed,
                        uint16_t *buf, size_t buf_len, const char *path,
                        nv_error *err)
{
    int64_t n = numel(t);
    double fan_in = t->ndim >= 2 ? (double)(n / t->shape[0]) : 1.0;
    /* A uniform (-a, a) has variance a^2 / 3. */
    double scale = t->init == INIT_MATRIX  ? sqrt(3.0 / fan_in)
                   : t->init == INIT_UNIT  ? sqrt(3.0)
                   : t->init == INIT_SMALL ? 0.1 * sqrt(3.0)
                   : t->init == INIT_NORM  ? 0.1
                                           : 1.0;
    float offset = t->init == INIT_NORM ? 1.0f : 0.0f;
    uint64_t state = seed;
    for (int64_t done = 0; done < n;) {
        size_t chunk = (size_t)(n - done) < buf_len ? (size_t)(n - done)
                                                    : buf_len;
        for (size_t i = 0; i < chunk; i++)
            buf[i] = nv_f32_to_bf16(offset +
                                    (float)scale * next_uniform(&state));
        if (fwrite(buf, sizeof(uint16_t), chunk, f) != chunk)
            return nv_fail(err, "%s: write failed (disk full?)", path);
        done += (int64_t)chunk;
    }
    return 0;
}

static int write_safetensors(const spec_list *l, const char *path,
                             nv_error *err)
{
    cJSON *hdr = cJSON_CreateObject();
    int64_t offset = 0;
    for (size_t i = 0; hdr && i < l->n; i++) {
        const tensor_spec *t = &l->items[i];
        cJSON *e = cJSON_AddObjectToObject(hdr, t->name);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *offs = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        if (!offs || !cJSON_AddStringToObject(e, "dtype", "BF16")) {
            cJSON_Delete(hdr);
            hdr = NULL;
            break;
        }
        for (int k = 0; k < t->ndim; k++)
            cJSON_AddItemToArray(shape,
                                 cJSON_CreateNumber((double)t->shape[k]));
        int64_t bytes = numel(t) * 2;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + bytes)));
        offset += bytes;
    }
    char *text = hdr ? cJSON_PrintUnformatted(hdr) : NULL;
    cJSON_Delete(hdr);
    if (!text)
        return nv_fail(err, "random model: out of memory");
    size_t len = strlen(text);
    size_t padded = (len + 7) / 8 * 8;
    FILE *f = fopen(path, "wb");
    size_t buf_len = 1 << 16;
    uint16_t *buf = malloc(sizeof(uint16_t) * buf_len);
    int rc = (!f || !buf) ? nv_fail(err, "%s: cannot create", path) : 0;
    if (!rc) {
        uint64_t hl = padded;
        unsigned char le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (unsigned char)(hl >> (8 * k));
        rc = fwrite(le, 1, 8, f) != 8 || fwrite(text, 1, len, f) != len
                 ? nv_fail(err, "%s: write failed", path)
                 : 0;
        for (size_t k = len; k < padded && !rc; k++)
            rc = fputc(' ', f) == EOF ? nv_fail(err, "%s: write failed", path)
                                      : 0;
    }
    for (size_t i = 0; i < l->n && !rc; i++)
        rc = write_tensor(f, &l->items[i], 0x6e766c6dull * 1000003u + i, buf,
                          buf_len, path, err);
    if (f && fclose(f) && !rc)
        rc = nv_fail(err, "%s: write failed", path);
    free(buf);
    free(text);
    return rc;
}

static cJSON *int_list(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *config_json(const random_shape *s)
{
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(
                                   s->nvidia_vit ? "NVLM_D_Model"
                                                 : "InternVLChatModel"));
    cJSON_AddStringToObject(c, "model_type",
                            s->nvidia_vit ? "NVLM_D" : "internvl_chat");
    cJSON_AddNumberToObject(c, "downsample_ratio", 0.5);
    cJSON_AddNumberToObject(c, "force_image_size", s->image_size);
    cJSON_AddNumberToObject(c, "max_dynamic_patch", s->max_tiles);
    cJSON_AddNumberToObject(c, "min_dynamic_patch", 1);
    cJSON_AddStringToObject(c, "ps_version", "v2");
    cJSON_AddNumberToObject(c, "select_layer", -1);
    cJSON_AddStringToObject(c, "template", "chatml");
    cJSON_AddBoolToObject(c, "use_thumbnail", 1);
    cJSON_AddStringToObject(c, "nvlm_default_head", "d");
    cJSON *heads = cJSON_AddObjectToObject(c, "nvlm_heads");
    cJSON_AddObjectToObject(heads, "d");
    cJSON_AddItemToObject(cJSON_AddObjectToObject(heads, "x"), "xattn_layers",
                          int_list(s->xattn_layers, s->n_xattn));
    cJSON_AddItemToObject(cJSON_AddObjectToObject(heads, "h"), "xattn_layers",
                          int_list(s->xattn_layers, s->n_xattn));
    cJSON *v = cJSON_AddObjectToObject(c, "vision_config");
    cJSON_AddStringToObject(v, "hidden_act", "gelu");
    cJSON_AddNumberToObject(v, "hidden_size", s->vit_hidden);
    cJSON_AddNumberToObject(v, "image_size", s->image_size);
    cJSON_AddNumberToObject(v, "intermediate_size", s->vit_intermediate);
    cJSON_AddNumberToObject(v, "layer_norm_eps", 1e-6);
    cJSON_AddStringToObject(v, "norm_type",
                            s->layer_norm ? "layer_norm" : "rms_norm");
    cJSON_AddNumberToObject(v, "num_attention_heads", s->vit_heads);
    cJSON_AddNumberToObject(v, "num_channels", 3);
    cJSON_AddNumberToObject(v, "num_hidden_layers", s->vit_layers);
    cJSON_AddNumberToObject(v, "patch_size", s->patch);
    cJSON_AddBoolToObject(v, "qk_normalization", s->qk_norm);
    cJSON_AddBoolToObject(v, "qkv_bias", s->qkv_bias);
    cJSON *lm = cJSON_AddObjectToObject(c, "llm_config");
    cJSON *larch = cJSON_AddArrayToObject(lm, "architectures");
    cJSON_AddItemToArray(larch, cJSON_CreateString("Qwen2ForCausalLM"));
    cJSON_AddStringToObject(lm, "model_type", "qwen2");
    cJSON_AddNumberToObject(lm, "bos_token_id", TOK_ENDOFTEXT);
    cJSON_AddNumberToObject(lm, "eos_token_id", TOK_IM_END);
    cJSON_AddStringToObject(lm, "hidden_act", "silu");
    cJSON_AddNumberToObject(lm, "hidden_size", s->hidden);
    cJSON_AddNumberToObject(lm, "intermediate_size", s->intermediate);
    cJSON_AddNumberToObject(lm, "max_position_embeddings", 32768);
    cJSON_AddNumberToObject(lm, "num_attention_heads", s->heads);
    cJSON_AddNumberToObject(lm, "num_hidden_layers", s->layers);
    cJSON_AddNumberToObject(lm, "num_key_value_heads", s->kv_heads);
    cJSON_AddNumberToObject(lm, "rms_norm_eps", 1e-6);
    cJSON_AddNullToObject(lm, "rope_scaling");
    cJSON_AddNumberToObject(lm, "rope_theta", 1000000.0);
    cJSON_AddBoolToObject(lm, "tie_word_embeddings", s->tied);
    cJSON_AddNumberToObject(lm, "vocab_size", s->vocab);
    return c;
}

static cJSON *added_token(int id, const char *content)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "single_word", 0);
    cJSON_AddBoolToObject(t, "lstrip", 0);
    cJSON_AddBoolToObject(t, "rstrip", 0);
    cJSON_AddBoolToObject(t, "normalized", 0);
    cJSON_AddBoolToObject(t, "special", 1);
    return t;
}

/* The byte-level BPE of docs/model-format.md 8.1 with no merges. */
static cJSON *tokenizer_json(void)
{
    static const char qwen2_split[] =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "version", "1.0");
    cJSON *added = cJSON_AddArrayToObject(t, "added_tokens");
    cJSON_AddItemToArray(added, added_token(TOK_ENDOFTEXT, "<|endoftext|>"));
    cJSON_AddItemToArray(added, added_token(TOK_IM_START, "<|im_start|>"));
    cJSON_AddItemToArray(added, added_token(TOK_IM_END, "<|im_end|>"));
    cJSON_AddItemToArray(added, added_token(TOK_VISION_PAD, "<|vision_pad|>"));
    cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "normalizer"), "type",
                            "NFC");
    cJSON *pre = cJSON_AddObjectToObject(t, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *seq = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex",
                            qwen2_split);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", 0);
    cJSON_AddItemToArray(seq, split);
    cJSON *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", 0);
    cJSON_AddBoolToObject(bl, "trim_offsets", 0);
    cJSON_AddBoolToObject(bl, "use_regex", 0);
    cJSON_AddItemToArray(seq, bl);
    cJSON_AddItemToObject(t, "decoder", cJSON_Duplicate(bl, 1));
    cJSON *model = cJSON_AddObjectToObject(t, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        uint32_t cp = nv_bytelevel_char((unsigned char)b);
        char utf8[4] = {0};
        if (cp < 0x80) {
            utf8[0] = (char)cp;
        } else {
            utf8[0] = (char)(0xC0 | (cp >> 6));
            utf8[1] = (char)(0x80 | (cp & 0x3F));
        }
        cJSON_AddNumberToObject(vocab, utf8, b);
    }
    cJSON_AddArrayToObject(model, "merges");
    return t;
}

void nv_bench_random_remove(const char *dir)
{
    static const char *const files[] = {"config.json", "tokenizer.json",
                                        "model.safetensors"};
    char path[1200];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int nv_bench_random_known(const char *shape)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(shapes[i].name, shape))
            return 1;
    return 0;
}

/* The model of shape s into the existing, empty directory tmpl. */
static int write_into(const random_shape *s, const char *tmpl, nv_error *err)
{
    spec_list l = {0};
    char path[1200];
    cJSON *config = config_json(s), *tok = tokenizer_json();
    snprintf(path, sizeof path, "%s/config.json", tmpl);
    int rc = nv_cli_write_json(config, path, err);
    snprintf(path, sizeof path, "%s/tokenizer.json", tmpl);
    if (!rc)
        rc = nv_cli_write_json(tok, path, err);
    if (!rc)
        rc = vision_specs(s, &l, err) || projector_specs(s, &l, err) ||
             llm_specs(s, &l, err);
    snprintf(path, sizeof path, "%s/model.safetensors", tmpl);
    if (!rc)
        rc = write_safetensors(&l, path, err);
    cJSON_Delete(config);
    cJSON_Delete(tok);
    free(l.items);
    return rc ? -1 : 0;
}

static const random_shape *find_shape(const char *shape, nv_error *err)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(shapes[i].name, shape))
            return &shapes[i];
    nv_fail(err, "--random: unknown shape '%s' (known: %s)", shape,
            nv_bench_random_shapes());
    return NULL;
}

int nv_bench_random_write(const char *shape, char *dir, size_t size,
                          nv_error *err)
{
    const random_shape *s = find_shape(shape, err);
    if (!s)
        return -1;
    char tmpl[] = "/tmp/nvlm-random-XXXXXX";
    if (!mkdtemp(tmpl))
        return nv_fail(err, "--random: cannot create a directory in /tmp");
    snprintf(dir, size, "%s", tmpl);
    if (write_into(s, tmpl, err)) {
        nv_bench_random_remove(tmpl);
        return -1;
    }
    return 0;
}

int nv_bench_random_write_to(const char *shape, const char *dir,
                             nv_error *err)
{
    const random_shape *s = find_shape(shape, err);
    if (!s)
        return -1;
    if (mkdir(dir, 0755))
        return nv_fail(err, "--write %s: %s", dir, strerror(errno));
    if (write_into(s, dir, err)) {
        nv_bench_random_remove(dir);
        return -1;
    }
    return 0;
}
