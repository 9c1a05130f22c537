/* nvlm.h - the public C API of nvlm, a vision-language model runtime whose
 * image features reach the language model in one of NVLM's three ways:
 * D (image tokens in the decoder stream), X (gated cross-attention to the
 * tiles) or H (thumbnail in the stream, tiles through cross-attention),
 * chosen when the model is loaded.
 *
 * Use:
 *     nvlm_options opt;
 *     nvlm_options_init(&opt);
 *     opt.fusion = "x";
 *     char err[1024];
 *     nvlm_model *m = nvlm_load("model-dir", &opt, err, sizeof err);
 *     nvlm_session *s = nvlm_session_new(m, err, sizeof err);
 *     nvlm_add_image_file(s, "table.png", err, sizeof err);
 *     nvlm_add_text(s, "What is in row 2?", err, sizeof err);
 *     nvlm_generate(s, &gen, on_token, user, err, sizeof err);
 *     nvlm_session_free(s);
 *     nvlm_free(m);
 *
 * Every function that can fail returns 0 (or a non-NULL pointer) on success
 * and -1 (or NULL) on failure with a message in `err`. The caller owns what
 * a *_new / nvlm_load returns and frees it with the matching *_free.
 *
 * A model may have several sessions, but runs one call at a time: the
 * decoder's scratch and the cross-attention keys of the image live in the
 * model, so calls on sessions of one model must not overlap (each
 * nvlm_generate sets them up again for its own session).
 */
#ifndef NVLM_H
#define NVLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nvlm_model nvlm_model;
typedef struct nvlm_session nvlm_session;

typedef struct nvlm_options {
    const char *fusion; /* "d", "x" or "h"; NULL = the model's default head */
    int threads;        /* <= 0: all available cores */
    int max_tiles;      /* <= 0: the model's max_dynamic_patch */
    int64_t max_pixels; /* images above this are refused; <= 0: 64 Mpx */
    int max_context;    /* <= 0: 4096 tokens (not checked against the
                           model's max_position_embeddings) */
    const char *dtype;  /* weight matrices: NULL or "stored" = as the file
                           stores them (f16 / bf16 / q8_0 / q4_0 / q4_k
                           read in place, no copy); "f32", "bf16", "f16",
                           "q8_0", "q4_0", "q4_k" = converted at load */
} nvlm_options;

void nvlm_options_init(nvlm_options *opt);

nvlm_model *nvlm_load(const char *dir, const nvlm_options *opt, char *err,
                      size_t errlen);
void nvlm_free(nvlm_model *model);

/* The instruction that asks the model for a Markdown transcription of a
 * table image (config.json `nvlm_table_prompt`, else "Convert the table to
 * Markdown.", the task the bundled models were trained on). */
const char *nvlm_table_prompt(const nvlm_model *model);

/* The cell reader of a model trained to read one table cell per image
 * (config.json `nvlm_cell_reader`: {"prompt", "line_height",
 * "strip_height"}): returns 1 and fills what is not NULL, or 0 when the
 * model has none. See vision/cell_tile.h for what the numbers mean. */
int nvlm_cell_reader(const nvlm_model *model, const char **prompt,
                     int *line_height, int *strip_height);

/* The side of the model's square tiles in pixels (0 for hub families that
 * do not tile). */
int nvlm_tile_size(const nvlm_model *model);

/* The model card's warning (config.json `nvlm_model_card.warning`), or
 * NULL: a model that is known not to do its job says so, and the commands
 * print it, so that its answers are never taken as real. */
const char *nvlm_model_warning(const nvlm_model *model);

/* The OpenBLAS kernel set matrix products run on ("Haswell", "Zen", ...),
 * so that a benchmark can say which kernels ran. */
const char *nvlm_blas_kernels(void);

/* The kernels of weights stored in bf16, f16, q8_0 or q4_0 ("avx512bf16
 * (bf16, q8_0, q4_0 x 8+ rows: oneDNN)", "avx512", "avx2" or "c"): the CPU's level, or a
 * lower one named by NV_LOWP_ISA=avx512|avx2|c. */
const char *nvlm_lowp_kernels(void);

/* 1 when the model has the fusion head `name` ("d", "x" or "h"). */
int nvlm_has_fusion(const nvlm_model *model, const char *name);

/* The head chosen at load ("d", "x" or "h"). */
const char *nvlm_fusion(const nvlm_model *model);

nvlm_session *nvlm_session_new(nvlm_model *model, char *err, size_t errlen);
void nvlm_session_free(nvlm_session *s);

/* One image per session (the NVLM prompt holds one). */
int nvlm_add_image_file(nvlm_session *s, const char *path, char *err,
                        size_t errlen);
/* The image as 8-bit RGB pixels (width * height * 3 bytes, row-major),
 * preprocessed as an image file would be. The pixels are copied. */
int nvlm_add_image_rgb(nvlm_session *s, int width, int height,
                       const uint8_t *rgb, char *err, size_t errlen);
/* Runs the vision encoder once over the images of several sessions of one
 * model (each added with nvlm_add_image_*; sessions without an image, or
 * already encoded, are skipped): one matrix product per layer for all of
 * their tiles instead of one per image. Each session's nvlm_generate then
 * skips its vision pass. Hub families encode one image at a time. */
int nvlm_encode_sessions(nvlm_session **sessions, int n, char *err,
                         size_t errlen);
/* Copies into s the keys and values of the leading prompt tokens of
 * `from` (a session of the same model that has generated) that no image
 * touched: the chat template and system prompt before the image. s's next
 * prompts start after the tokens they share with that prefix instead of
 * computing them again (nvlm_stats.prompt_tokens_reused says how many).
 * Many questions with one template, e.g. one per table cell, then pay for
 * the template once. `from` may be freed afterwards. The text generated is
 * the same as without; logits may differ in their last bits (the products
 * run over fewer rows). A model of a hub family, or a session that keeps
 * every prompt logit, shares nothing (not an error). */
int nvlm_session_reuse_prefix(nvlm_session *s, const nvlm_session *from,
                              char *err, size_t errlen);
/* Appends text to the user's turn. */
int nvlm_add_text(nvlm_session *s, const char *text, char *err,
                  size_t errlen);

typedef struct nvlm_gen_params {
    int max_new_tokens; /* default 256 */
    float temperature;  /* 0 = greedy */
    int top_k;          /* 0 = off */
    float top_p;        /* 1 = off */
    uint64_t seed;
    int ignore_eos; /* 1: do not stop at <|im_end|> / eos */
    int raw_prompt; /* 1: tokenize the text as given, no chat template; the
                       image goes where the model's image marker stands */
    int want_logprob; /* 1: fill nvlm_stats.logprob and min_token_prob (one
                         more pass over the vocabulary per token: ~0.2 ms
                         at 32 000 entries, so off by default) */
} nvlm_gen_params;

void nvlm_gen_params_init(nvlm_gen_params *p);

/* Called once per generated token with its id and its decoded bytes
 * (which may be part of a UTF-8 character). Return non-zero to stop. */
typedef int (*nvlm_token_fn)(void *user, int32_t id, const char *text,
                             size_t len);

typedef struct nvlm_stats {
    int prompt_tokens;
    int prompt_tokens_reused; /* of prompt_tokens, taken from another
                                 session (nvlm_session_reuse_prefix) */
    int generated_tokens;
    int tiles;
    int image_tokens_in_stream;
    int xattn_tokens;
    double ms_preprocess, ms_vision, ms_prefill, ms_decode;
    double ms_projector;   /* the projector's part of ms_vision */
    double ms_first_token; /* nvlm_generate's start to the first token
                              picked (vision + prefill + one sampling) */
    /* Why the generation stopped, so that a cut-off answer is never taken
     * for a whole one: "eos" (the model's stop token: the answer is
     * complete), "limit" (max_new_tokens reached), "context" (the context,
     * nvlm_options.max_context, is full), "callback" (the token callback
     * asked to stop); NULL when nvlm_generate failed. A static string. */
    const char *stop_reason;
    /* With nvlm_gen_params.want_logprob (NAN otherwise): how sure the
     * model was of what it wrote, under its own distribution (softmax of
     * the logits at temperature 1, whatever sampled): the sum of the
     * log-probabilities of the generated tokens, the stop token included,
     * and the smallest probability among them (1 when nothing was
     * generated). A reader can re-read an answer it doubts. */
    double logprob;
    double min_token_prob;
} nvlm_stats;

int nvlm_generate(nvlm_session *s, const nvlm_gen_params *p, nvlm_token_fn fn,
                  void *user, char *err, size_t errlen);

/* A JSON description of the model (architecture, parameter counts per
 * part, fusion heads) and, when image_path is not NULL, of what the image
 * becomes under each fusion head the model has: tile grid, image tokens in
 * the decoder stream, cross-attention tokens and the decoder prompt length
 * for `question` (NULL = empty). Returns malloc'd text; NULL on error. */
char *nvlm_describe_json(nvlm_model *model, const char *image_path,
                         const char *question, char *err, size_t errlen);

/* The ids of the last prompt and generation, and its statistics; valid
 * until the next call on the session. */
const int32_t *nvlm_prompt_ids(const nvlm_session *s, int *n);
const int32_t *nvlm_generated_ids(const nvlm_session *s, int *n);
const nvlm_stats *nvlm_last_stats(const nvlm_session *s);

#ifdef __cplusplus
}
#endif

#endif
