/* model_load.c - nvlm_load: reads config.json, picks the fusion head, and
 * loads the shared ViT and LLM with that head's projector and gated
 * cross-attention blocks (docs/model-format.md sections 2, 3 and 10). */
#include "fusion/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/json.h"
#include "core/matmul.h"
#include "fusion/family_hub.h"

static const char *head_prefix[3] = {"", "x_", "h_"};

void nvlm_options_init(nvlm_options *opt)
{
    memset(opt, 0, sizeof *opt);
}

const char *nvlm_table_prompt(const nvlm_model *model)
{
    const cJSON *p = nv_json_get(model->config, "nvlm_table_prompt");
    return cJSON_IsString(p) && p->valuestring[0]
               ? p->valuestring
               : "Convert the table to Markdown.";
}

int nvlm_cell_reader(const nvlm_model *model, const char **prompt,
                     int *line_height, int *strip_height)
{
    const cJSON *r = nv_json_get(model->config, "nvlm_cell_reader");
    const cJSON *p = nv_json_get(r, "prompt");
    const cJSON *lh = nv_json_get(r, "line_height");
    const cJSON *sh = nv_json_get(r, "strip_height");
    if (!cJSON_IsObject(r) || !cJSON_IsString(p) || !cJSON_IsNumber(lh) ||
        !cJSON_IsNumber(sh))
        return 0;
    /* Checked at load (check_cell_reader), so the numbers are in range. */
    if (prompt)
        *prompt = p->valuestring;
    if (line_height)
        *line_height = (int)lh->valuedouble;
    if (strip_height)
        *strip_height = (int)sh->valuedouble;
    return 1;
}

int nvlm_tile_size(const nvlm_model *model)
{
    return model->family ? 0 : model->prep.tiling.tile_size;
}

const char *nvlm_blas_kernels(void)
{
    return nv_threads_blas_kernels();
}

const char *nvlm_lowp_kernels(void)
{
    return nv_linear_kernels();
}

const char *nvlm_model_warning(const nvlm_model *model)
{
    const cJSON *w = nv_json_get(nv_json_get(model->config, "nvlm_model_card"),
                                 "warning");
    return cJSON_IsString(w) && w->valuestring[0] ? w->valuestring : NULL;
}

int nvlm_has_fusion(const nvlm_model *model, const char *name)
{
    nv_fusion f;
    return name && nv_fusion_parse(name, &f) == 0 && model->heads_present[f];
}

const char *nvlm_fusion(const nvlm_model *model)
{
    return nv_fusion_name(model->fusion);
}

/* Reads `nvlm_heads` and `nvlm_default_head`; fills which heads exist and
 * returns the default one. A config without `nvlm_heads` is a plain
 * NVLM-D / InternVL checkpoint: head d only. */
static int parse_heads(nvlm_model *m, nv_fusion *default_head, nv_error *err)
{
    const char *file = m->config_path;
    const cJSON *heads = nv_json_get(m->config, "nvlm_heads");
    if (!heads || cJSON_IsNull(heads)) {
        m->heads_present[NV_FUSION_D] = 1;
        *default_head = NV_FUSION_D;
        return 0;
    }
    if (!cJSON_IsObject(heads))
        return nv_fail(err, "%s: 'nvlm_heads' is not an object", file);
    const cJSON *h;
    int first = -1;
    cJSON_ArrayForEach(h, heads) {
        nv_fusion f;
        if (!h->string || nv_fusion_parse(h->string, &f))
            return nv_fail(err, "%s: nvlm_heads: unknown head '%s' (known: "
                           "d, x, h)", file, h->string ? h->string : "");
        if (!cJSON_IsObject(h))
            return nv_fail(err, "%s: nvlm_heads.%s is not an object", file,
                           h->string);
        m->heads_present[f] = 1;
        if (first < 0)
            first = (int)f;
    }
    if (first < 0)
        return nv_fail(err, "%s: 'nvlm_heads' names no head", file);
    const char *def = NULL;
    if (nv_json_str_opt(m->config, "nvlm_default_head", file, NULL, &def,
                        err))
        return -1;
    if (def) {
        nv_fusion f;
        if (nv_fusion_parse(def, &f) || !m->heads_present[f])
            return nv_fail(err, "%s: nvlm_default_head '%s' is not one of "
                           "the heads in nvlm_heads", file, def);
        *default_head = f;
    } else {
        *default_head = m->heads_present[NV_FUSION_D] ? NV_FUSION_D
                                                       : (nv_fusion)first;
    }
    return 0;
}

/* Reads the chosen head's xattn_layers into m (heads x and h). */
static int parse_xattn_layers(nvlm_model *m, nv_error *err)
{
    const char *file = m->config_path;
    const char *name = nv_fusion_name(m->fusion);
    const cJSON *head = nv_json_get(nv_json_get(m->config, "nvlm_heads"),
                                    name);
    const cJSON *list = nv_json_get(head, "xattn_layers");
    if (!list || !cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return nv_fail(err, "%s: nvlm_heads.%s.xattn_layers must be a "
                       "non-empty list of decoder layer indices", file, name);
    int n = cJSON_GetArraySize(list);
    if (n > NV_MODEL_MAX_XATTN)
        return nv_fail(err, "%s: nvlm_heads.%s.xattn_layers has %d entries "
                       "(at most %d)", file, name, n, NV_MODEL_MAX_XATTN);
    int j = 0, prev = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        char key[96];
        snprintf(key, sizeof key, "nvlm_heads.%s.xattn_layers[%d]", name, j);
        int64_t v;
        if (nv_json_as_int(it, key, file, 0, m->llm.n_layers - 1, &v, err))
            return -1;
        if (v <= prev)
            return nv_fail(err, "%s: nvlm_heads.%s.xattn_layers must be "
                           "strictly increasing integers in [0, %d)", file,
                           name, m->llm.n_layers);
        prev = (int)v;
        m->xattn_layer[j++] = prev;
    }
    m->n_xattn = n;
    return 0;
}

/* Every per-head override must replace a real LM tensor (3.3). */
static int check_overrides(const nvlm_model *m, nv_error *err)
{
    const char *lm = "language_model.";
    for (size_t i = 0; i < nv_st_count(m->st); i++) {
        const nv_st_entry *e = nv_st_at(m->st, i);
        for (int f = 0; f < 3; f++) {
            char pre[40];
            snprintf(pre, sizeof pre, "%c_%s", "dxh"[f], lm);
            size_t np = strlen(pre);
            if (strncmp(e->name, pre, np) != 0)
                continue;
            char base[600];
            if (snprintf(base, sizeof base, "%s%s", lm, e->name + np) >=
                (int)sizeof base)
                return nv_fail(err, "%s: override name '%.80s...' is longer "
                               "than %zu bytes", e->file, e->name,
                               sizeof base - 1);
            const nv_st_entry *b = nv_st_find(m->st, base);
            if (!b)
                return nv_fail(err, "%s: override '%s' replaces no tensor "
                               "(no '%s')", e->file, e->name, base);
            if (b->ndim != e->ndim ||
                memcmp(b->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim))
                return nv_fail(err, "%s: override '%s' has a different shape "
                               "from '%s'", e->file, e->name, base);
        }
    }
    return 0;
}

/* The head asked for in the options: 0 with *wanted = 0 when none is;
 * -1 when the name is not d, x or h. */
static int requested_fusion(const nvlm_options *opt, int *wanted,
                            nv_fusion *f, nv_error *err)
{
    *wanted = opt && opt->fusion && opt->fusion[0];
    if (*wanted && nv_fusion_parse(opt->fusion, f))
        return nv_fail(err, "unknown fusion '%s' (d, x or h)", opt->fusion);
    return 0;
}

/* xattn_at_layer with no block before any layer. */
static int init_xattn_at_layer(nvlm_model *m, nv_error *err)
{
    m->xattn_at_layer = malloc(sizeof(int) * (size_t)m->llm.n_layers);
    if (!m->xattn_at_layer)
        return nv_fail(err, "out of memory");
    for (int l = 0; l < m->llm.n_layers; l++)
        m->xattn_at_layer[l] = -1;
    return 0;
}

static int load_xattn_blocks(nvlm_model *m, nv_error *err)
{
    if (init_xattn_at_layer(m, err))
        return -1;
    if (m->fusion == NV_FUSION_D)
        return 0;
    if (parse_xattn_layers(m, err))
        return -1;
    nv_xattn_dims dims = {
        .hidden = m->llm.hidden_size,
        .n_heads = m->llm.n_heads,
        .n_kv_heads = m->llm.n_kv_heads,
        .head_dim = m->llm.head_dim,
        .rms_eps = (float)m->llm.rms_norm_eps,
    };
    for (int j = 0; j < m->n_xattn; j++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%sxattn.%d.",
                 head_prefix[m->fusion], j);
        if (nv_xattn_load(m->st, prefix, nv_xattn_default_names(), &dims,
                          &m->xattn[j], err))
            return -1;
        m->xattn_at_layer[m->xattn_layer[j]] = j;
    }
    return 0;
}

/* Tiling and normalisation settings from config.json. */
static int parse_preprocess(nvlm_model *m, const nvlm_options *opt,
                            nv_error *err)
{
    const char *file = m->config_path;
    const nv_vit_config *vc = nv_vit_config_of(m->vit);
    int64_t min_tiles, max_tiles;
    int thumb;
    if (nv_json_int_opt(m->config, "min_dynamic_patch", file, 1, &min_tiles,
                        err) ||
        nv_json_int_opt(m->config, "max_dynamic_patch", file, 6, &max_tiles,
                        err) ||
        nv_json_bool_opt(m->config, "use_thumbnail", file, 1, &thumb, err))
        return -1;
    if (opt && opt->max_tiles > 0)
        max_tiles = opt->max_tiles;
    if (min_tiles < 1 || max_tiles < min_tiles ||
        max_tiles > NV_MAX_TILES_LIMIT)
        return nv_fail(err, "%s: tile limits [%lld, %lld] out of range "
                       "[1, %d]", file, (long long)min_tiles,
                       (long long)max_tiles, NV_MAX_TILES_LIMIT);
    m->prep = nv_preprocess_opts_default();
    m->prep.tiling.tile_size = vc->image_size;
    m->prep.tiling.min_tiles = (int)min_tiles;
    m->prep.tiling.max_tiles = (int)max_tiles;
    m->prep.tiling.use_thumbnail = thumb;
    m->tokens_per_tile = nv_vit_config_tokens(vc);
    return 0;
}

static int load_tokens(nvlm_model *m, nv_error *err)
{
    const char *file = m->config_path;
    const char *tmpl = NULL;
    if (nv_json_str_opt(m->config, "template", file, "chatml", &tmpl, err))
        return -1;
    m->internvl_template = !strcmp(tmpl, "internvl2_5");
    if (strcmp(tmpl, "chatml") != 0 && !m->internvl_template)
        return nv_fail(err, "%s: template '%s' is not supported (chatml or "
                       "internvl2_5)", file, tmpl);
    if (m->internvl_template && m->fusion != NV_FUSION_D)
        return nv_fail(err, "%s: the %s head needs template 'chatml'", file,
                       nv_fusion_name(m->fusion));
    m->tok = nv_tokenizer_load_dir(m->dir, err);
    if (!m->tok)
        return -1;
    struct {
        const char *text;
        int32_t *id;
    } need[] = {{m->internvl_template ? "<IMG_CONTEXT>" : "<|vision_pad|>",
                 &m->image_token_id},
                {"<|im_end|>", &m->im_end_id}};
    int32_t start = nv_tokenizer_token_id(m->tok, "<|im_start|>");
    if (start < 0 || start >= m->llm.vocab_size)
        return nv_fail(err, "%s: the tokenizer has no '<|im_start|>' token "
                       "inside the model's vocabulary", m->dir);
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        *need[i].id = nv_tokenizer_token_id(m->tok, need[i].text);
        if (*need[i].id < 0 || *need[i].id >= m->llm.vocab_size)
            return nv_fail(err, "%s: the tokenizer has no '%s' token inside "
                           "the model's vocabulary", m->dir, need[i].text);
    }
    return 0;
}

/* nvlm's own layout: an InternVL / NVLM-D config (vision_config with
 * InternViT + llm_config), possibly with the x and h heads. */
static int is_native(const cJSON *config)
{
    return cJSON_IsObject(nv_json_get(config, "vision_config")) &&
           cJSON_IsObject(nv_json_get(config, "llm_config"));
}

static const char *architecture_of(const cJSON *config)
{
    const char *first = nv_hub_architecture(config);
    if (first)
        return first;
    const cJSON *t = nv_json_get(config, "model_type");
    return cJSON_IsString(t) ? t->valuestring : "(none)";
}

/* A config that names nvlm's own layout (or has its llm_config) but is
 * not is_native: a key is missing, and "unknown architecture
 * 'NVLM_D_Model'" would send the reader the wrong way. */
static int native_name(const cJSON *config)
{
    const char *a = architecture_of(config);
    return !strcmp(a, "NVLM_D_Model") || !strcmp(a, "InternVLChatModel") ||
           nv_json_get(config, "llm_config") != NULL;
}

static int common_setup(nvlm_model *m, const nvlm_options *opt,
                        nv_error *err)
{
    m->pool = nv_pool_create(opt ? opt->threads : 0, err);
    if (!m->pool)
        return -1;
    nv_threads_set_blas(nv_pool_size(m->pool));
    m->max_pixels = opt && opt->max_pixels > 0 ? opt->max_pixels
                                               : NV_IMAGE_DEFAULT_MAX_PIXELS;
    m->max_context = opt && opt->max_context > 0 ? opt->max_context : 4096;
    nv_weight_mode mode = NV_WEIGHTS_STORED;
    if (opt && opt->dtype && nv_weight_mode_parse(opt->dtype, &mode))
        return nv_fail(err, "unknown weight dtype '%s' (known: stored, f32, "
                       "bf16, f16, q8_0)", opt->dtype);
    m->st = nv_st_open(m->dir, err);
    if (!m->st)
        return -1;
    nv_st_set_weight_mode(m->st, mode);
    return 0;
}

/* The checkpoint's tokenizer; a text-only checkpoint that ships none (the
 * golden hf/llama, hf/qwen2) gets the byte-level vocabulary, ids 0..255 =
 * bytes (docs/models.md). */
static nv_tokenizer *load_family_tokenizer(const nvlm_model *m,
                                           const nv_family *fam,
                                           nv_error *err)
{
    char path[1200];
    struct stat sb;
    int has_json, has_vocab;
    snprintf(path, sizeof path, "%s/tokenizer.json", m->dir);
    has_json = stat(path, &sb) == 0;
    snprintf(path, sizeof path, "%s/vocab.json", m->dir);
    has_vocab = stat(path, &sb) == 0;
    if (fam->paradigm == NV_PARADIGM_TEXT && !has_json && !has_vocab)
        return nv_tokenizer_bytes(m->llm.vocab_size, err);
    return nv_tokenizer_load_dir(m->dir, err);
}

/* A hub family (fusion/family.h): its decoder, its own parts, and the
 * token its images take the place of. */
static int load_family(nvlm_model *m, const nvlm_options *opt, nv_error *err)
{
    const nv_family *fam = NULL;
    for (int i = 0; nv_families[i] && !fam; i++)
        if (nv_families[i]->matches(m->config))
            fam = nv_families[i];
    if (!fam && native_name(m->config)) {
        const cJSON *vc;
        return nv_json_obj_req(m->config, "vision_config", m->config_path,
                               &vc, err)
                   ? -1
                   : nv_json_obj_req(m->config, "llm_config",
                                     m->config_path, &vc, err);
    }
    if (!fam)
        return nv_fail(err, "%s: unknown architecture '%s' (known: "
                       "NVLM_D_Model, InternVLChatModel and the families in "
                       "docs/models.md)", m->config_path,
                       architecture_of(m->config));
    m->family = fam;
    m->fusion = fam->paradigm == NV_PARADIGM_X ? NV_FUSION_X : NV_FUSION_D;
    if (fam->paradigm != NV_PARADIGM_TEXT)
        m->heads_present[m->fusion] = 1;
    nv_fusion f;
    int wanted;
    if (requested_fusion(opt, &wanted, &f, err))
        return -1;
    if (wanted) {
        if (fam->paradigm == NV_PARADIGM_TEXT || f != m->fusion)
            return nv_fail(err, "%s: a %s model has %s; there is no '%s' "
                           "fusion", m->dir, fam->name,
                           fam->paradigm == NV_PARADIGM_TEXT
                               ? "no vision part"
                               : fam->paradigm == NV_PARADIGM_X
                                     ? "only cross-attention (x)"
                                     : "only image tokens in the stream (d)",
                           opt->fusion);
    }
    if (fam->llm_config(m->config, m->config_path, &m->llm, err) ||
        common_setup(m, opt, err))
        return -1;
    m->tok = load_family_tokenizer(m, fam, err);
    if (!m->tok)
        return -1;
    m->dec = nv_decoder_load(m->st, &m->llm, m->pool, 64, m->max_context,
                             err);
    if (!m->dec)
        return -1;
    if (init_xattn_at_layer(m, err))
        return -1;
    m->image_token_id = -1;
    m->im_end_id = nv_tokenizer_eos_id(m->tok);
    if (fam->paradigm == NV_PARADIGM_TEXT)
        return 0;
    if (fam->image_token) {
        m->image_token_id = nv_tokenizer_token_id(m->tok, fam->image_token);
        if (m->image_token_id < 0 ||
            m->image_token_id >= nv_llm_config_input_vocab(&m->llm))
            return nv_fail(err, "%s: the tokenizer has no '%s' token inside "
                           "the model's vocabulary", m->dir,
                           fam->image_token);
    }
    return fam->load(m->st, m->config, m->config_path, &m->llm,
                     &m->family_ctx, err);
}

/* `nvlm_cell_reader` (optional): the prompt and the geometry of the cell
 * tiles (vision/cell_tile.h) must fit the model's tiles. */
static int check_cell_reader(const nvlm_model *m, nv_error *err)
{
    const cJSON *r = nv_json_get(m->config, "nvlm_cell_reader");
    if (!r || cJSON_IsNull(r))
        return 0;
    const cJSON *p = nv_json_get(r, "prompt");
    const cJSON *lh = nv_json_get(r, "line_height");
    const cJSON *sh = nv_json_get(r, "strip_height");
    int S = m->prep.tiling.tile_size;
    if (!cJSON_IsObject(r) || !cJSON_IsString(p) || !p->valuestring[0])
        return nv_fail(err, "%s: nvlm_cell_reader must be an object with a "
                       "non-empty \"prompt\"", m->config_path);
    /* Range first: the cast to int is only defined inside it. */
    if (!cJSON_IsNumber(sh) || !(sh->valuedouble >= 4 && sh->valuedouble <= S) ||
        sh->valuedouble != (int)sh->valuedouble)
        return nv_fail(err, "%s: nvlm_cell_reader.strip_height must be a "
                       "whole number in [4, %d] (the tile size)",
                       m->config_path, S);
    if (!cJSON_IsNumber(lh) ||
        !(lh->valuedouble >= 4 && lh->valuedouble <= sh->valuedouble) ||
        lh->valuedouble != (int)lh->valuedouble)
        return nv_fail(err, "%s: nvlm_cell_reader.line_height must be a "
                       "whole number in [4, strip_height %d]", m->config_path,
                       (int)sh->valuedouble);
    return 0;
}

/* What a model directory holds, for the messages that refuse something
 * else. */
#define MODEL_DIR_HOLDS                                                      \
    "a model directory holds config.json, model.safetensors (or shards "     \
    "with model.safetensors.index.json) and tokenizer.json"

/* 1 when path names a GGUF file (llama.cpp's format), by its magic. */
static int is_gguf(const char *path)
{
    char magic[4] = {0};
    FILE *f = nv_fopen_regular(path, NULL); /* a FIFO would block */
    if (!f)
        return 0;
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return got == 4 && !memcmp(magic, "GGUF", 4);
}

/* -m pointing at something else than a directory is a common mistake (a
 * .gguf or .safetensors file): the message says what was found instead. */
static int check_model_dir(const char *dir, nv_error *err)
{
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return nv_fail(err, "%s: not a model directory: %s (%s)", dir,
                       strerror(errno), MODEL_DIR_HOLDS);
    if (S_ISDIR(sb.st_mode))
        return 0;
    size_t n = strlen(dir);
    if (is_gguf(dir) || (n >= 5 && !strcasecmp(dir + n - 5, ".gguf")))
        return nv_fail(err, "%s: a GGUF file, not a model directory: nvlm "
                       "does not read GGUF (%s, as on the Hugging Face hub)",
                       dir, MODEL_DIR_HOLDS);
    return nv_fail(err, "%s: a file, not a model directory (%s; give the "
                   "directory)", dir, MODEL_DIR_HOLDS);
}

static int load_all(nvlm_model *m, const nvlm_options *opt, nv_error *err)
{
    if (check_model_dir(m->dir, err))
        return -1;
    m->config = nv_json_load(m->config_path, 0, err);
    if (!m->config)
        return -1;
    if (!is_native(m->config))
        return load_family(m, opt, err);
    nv_fusion def = NV_FUSION_D;
    if (parse_heads(m, &def, err))
        return -1;
    m->fusion = def;
    nv_fusion f;
    int wanted;
    if (requested_fusion(opt, &wanted, &f, err))
        return -1;
    if (wanted) {
        if (!m->heads_present[f])
            return nv_fail(err, "%s: the model has no '%s' fusion head (it "
                           "has:%s%s%s)", m->dir, opt->fusion,
                           m->heads_present[0] ? " d" : "",
                           m->heads_present[1] ? " x" : "",
                           m->heads_present[2] ? " h" : "");
        m->fusion = f;
    }
    if (nv_llm_config_from_root(m->config, m->config_path, &m->llm, err))
        return -1;
    snprintf(m->llm.override_prefix, sizeof m->llm.override_prefix,
             "%c_%s", "dxh"[m->fusion], m->llm.weight_prefix);
    if (common_setup(m, opt, err) || check_overrides(m, err))
        return -1;
    if (load_tokens(m, err))
        return -1;
    if (nv_vit_load(m->st, m->config, m->config_path, &m->vit, err))
        return -1;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%smlp1.", head_prefix[m->fusion]);
    if (nv_projector_load(m->st, prefix, nv_vit_out_dim(m->vit),
                          m->llm.hidden_size, m->config_path, &m->proj,
                          err))
        return -1;
    if (parse_preprocess(m, opt, err) || check_cell_reader(m, err))
        return -1;
    m->dec = nv_decoder_load(m->st, &m->llm, m->pool, 64, m->max_context,
                             err);
    if (!m->dec)
        return -1;
    return load_xattn_blocks(m, err);
}

nvlm_model *nvlm_load(const char *dir, const nvlm_options *opt, char *errbuf,
                      size_t errlen)
{
    nv_error err = {{0}};
    nvlm_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    snprintf(m->config_path, sizeof m->config_path, "%s/config.json", dir);
    /* A cut path could name another directory. */
    int rc = strlen(dir) >= sizeof m->dir
                 ? nv_fail(&err, "%.64s...: the model directory's path is "
                           "longer than %zu bytes", dir, sizeof m->dir - 1)
                 : load_all(m, opt, &err);
    if (rc) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s", err.msg);
        nvlm_free(m);
        return NULL;
    }
    return m;
}

void nvlm_free(nvlm_model *m)
{
    if (!m)
        return;
    for (int j = 0; j < NV_MODEL_MAX_XATTN; j++)
        nv_xattn_free(m->xattn[j]);
    free(m->xattn_at_layer);
    if (m->family && m->family->free && m->family_ctx)
        m->family->free(m->family_ctx);
    nv_decoder_free(m->dec);
    nv_projector_free(m->proj);
    nv_vit_free(m->vit);
    nv_tokenizer_free(m->tok);
    nv_st_close(m->st);
    nv_pool_free(m->pool);
    cJSON_Delete(m->config);
    free(m);
}
