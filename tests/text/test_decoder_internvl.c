/* test_decoder_internvl.c - the Qwen2 LLM inside InternVL (hf/internvl_single)
 * and NVIDIA NVLM-D (hf/internvl_tiles, rope_scaling "dynamic"), loaded from
 * the `llm_config` of the multimodal config with weights under
 * "language_model.". The golden embeddings hidden_states[0] (text embeddings
 * with the image features spliced in) go in as input embeddings; the later
 * hidden states, the logits and the 8 greedy tokens (prefill on embeddings,
 * then steps on token ids) must match the upstream code's outputs.
 * Also checks nv_decoder_embed against the golden embeddings at every
 * position that is not an image token.
 *
 * Tolerances as in test_decoder.c: hidden states 5e-6 * max(1, max|ref|),
 * logits 1e-4 * max|logit|; text embeddings are copies, so exact.
 */
#include "test_decoder_golden.h"
#include "text/sampling.h"

#define N_NEW 8

static void run_case(const char *name, nv_rope_type want_rope)
{
    golden_case g;
    golden_open(&g, name, 16, 512);
    printf("%s (prefix '%s', rope type %d)\n", name, g.cfg.weight_prefix,
           (int)g.cfg.rope.type);
    CHECK(strcmp(g.cfg.weight_prefix, "language_model.") == 0);
    CHECK(g.cfg.rope.type == want_rope);
    CHECK(!g.cfg.tie_word_embeddings && g.dec->lm_head.data != NULL);

    nv_tensor ids64, gen64, hs, ref_logits, img_pos;
    golden_i64(&g, "in_input_ids", &ids64);
    golden_i64(&g, "generated_ids", &gen64);
    golden_i64(&g, "image_context_positions", &img_pos);
    golden_f32(&g, "hidden_states", &hs);
    golden_f32(&g, "logits", &ref_logits);
    int T = (int)ids64.shape[1], H = g.cfg.hidden_size, V = g.cfg.vocab_size;
    int L = g.cfg.n_layers;
    CHECK(hs.shape[0] == L + 1 && hs.shape[2] == T && hs.shape[3] == H);
    CHECK(gen64.shape[1] == T + N_NEW);
    const float *ref_h = nv_tensor_f32(&hs);
    int32_t *ids = malloc((size_t)(T + N_NEW) * sizeof *ids);
    for (int t = 0; t < T; t++)
        ids[t] = (int32_t)((int64_t *)ids64.data)[t];

    /* Text rows of the golden embeddings are plain embedding lookups. */
    nv_error err = {{0}};
    float *emb = malloc((size_t)T * H * sizeof(float));
    char *is_image = calloc((size_t)T, 1);
    for (int64_t i = 0; i < nv_tensor_numel(&img_pos); i++) {
        int64_t p = ((int64_t *)img_pos.data)[i];
        if (CHECK(p >= 0 && p < T))
            is_image[p] = 1;
    }
    CHECK(nv_decoder_embed(g.dec, ids, T, emb, &err) == 0);
    double text_diff = 0;
    for (int t = 0; t < T; t++)
        if (!is_image[t]) {
            double d = check_max_abs_diff(emb + (size_t)t * H,
                                          ref_h + (size_t)t * H, H);
            text_diff = d > text_diff ? d : text_diff;
        }
    printf("  %-40s max|diff| = %.3g (tol 0)\n", "embed(ids) at text rows",
           text_diff);
    CHECK(text_diff == 0);

    /* Forward on the golden embeddings. */
    nv_kv_cache kv;
    float *logits = malloc((size_t)T * V * sizeof(float));
    float *hidden = malloc((size_t)(L + 1) * T * H * sizeof(float));
    CHECK(nv_decoder_kv_init(g.dec, &kv, T + N_NEW, &err) == 0);
    nv_decoder_run run = {.embeds = ref_h, .T = T, .logits = logits,
                          .hidden_states = hidden};
    if (!CHECK(nv_decoder_forward(g.dec, &kv, &run, &err) == 0))
        fprintf(stderr, "%s\n", err.msg);
    check_forward(hidden, ref_h, L, T, H, logits, nv_tensor_f32(&ref_logits),
                  V);

    /* Greedy: the prefill above gave the first token; then single steps on
     * ids, as upstream generate() does after an inputs_embeds prefill. */
    const int64_t *want = (const int64_t *)gen64.data + T;
    int same = 1, rc = 0;
    int32_t next = nv_argmax(logits + (size_t)(T - 1) * V, V);
    printf("  %-40s", "greedy, embeds prefill + kv cache");
    for (int i = 0; i < N_NEW && rc == 0; i++) {
        printf(" %d", (int)next);
        same &= next == want[i];
        if (i + 1 == N_NEW)
            break;
        nv_decoder_run step = {.ids = &next, .T = 1, .logits = logits,
                               .last_only = 1};
        rc = nv_decoder_forward(g.dec, &kv, &step, &err);
        next = nv_argmax(logits, V);
    }
    printf(same ? "  (match)\n" : "  (DIFFER)\n");
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    CHECK(rc == 0 && same);
    CHECK(kv.len == T + N_NEW - 1);

    free(is_image);
    free(emb);
    free(ids);
    free(hidden);
    free(logits);
    nv_kv_cache_free(&kv);
    nv_tensor_free(&ids64);
    nv_tensor_free(&gen64);
    nv_tensor_free(&hs);
    nv_tensor_free(&ref_logits);
    nv_tensor_free(&img_pos);
    golden_close(&g);
}

int main(void)
{
    run_case("internvl_single", NV_ROPE_DEFAULT);
    run_case("internvl_tiles", NV_ROPE_DYNAMIC);
    return check_summary("test_decoder_internvl");
}
