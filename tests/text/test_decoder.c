/* test_decoder.c - the Llama and Qwen2 decoders against the outputs of
 * Hugging Face transformers (golden hf/llama, hf/qwen2): every hidden state,
 * the logits, and the 8 greedy tokens with the KV cache, without it (full
 * recompute each step) and with the prompt prefilled in two chunks.
 *
 * Tolerances: the goldens are f32 PyTorch runs whose f32-vs-f64 logit gap
 * is ~3e-6 (meta.json), so the same math in a different summation order
 * lands within a few 1e-6 relative. Hidden states: 5e-6 * max(1, max|ref|)
 * per layer; logits: 1e-4 * max|logit| (the project's bound); chunked vs
 * one-chunk prefill (same code, different BLAS blocking): 1e-5 * max|logit|.
 */
#include "test_decoder_golden.h"
#include "text/sampling.h"

#define MAX_CTX 64
#define N_NEW 8

/* Greedy continuation of prompt[0..T) by N_NEW tokens into out. With
 * use_cache the prompt is prefilled (in chunks of `chunk`, 0 = one) and each
 * token is one more step; without it every step recomputes the whole
 * sequence from an empty cache. */
static int greedy(nv_decoder *dec, const int32_t *prompt, int T, int chunk,
                  int use_cache, int32_t *out)
{
    nv_error err = {{0}};
    nv_kv_cache kv;
    int V = dec->cfg.vocab_size;
    float *logits = malloc((size_t)V * sizeof(float));
    int32_t seq[MAX_CTX];
    if (!logits || nv_decoder_kv_init(dec, &kv, MAX_CTX, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    memcpy(seq, prompt, (size_t)T * sizeof *seq);
    int n = T, rc = 0;
    for (int step = 0; step < N_NEW && rc == 0; step++) {
        nv_decoder_run run = {.logits = logits, .last_only = 1};
        if (!use_cache) {
            nv_kv_cache_reset(&kv);
            run.ids = seq;
            run.T = n;
            rc = nv_decoder_forward(dec, &kv, &run, &err);
        } else if (step == 0) {
            int done = 0;
            while (rc == 0 && done < n) {
                int len = chunk > 0 && n - done > chunk ? chunk : n - done;
                run.ids = seq + done;
                run.T = len;
                rc = nv_decoder_forward(dec, &kv, &run, &err);
                done += len;
            }
        } else {
            run.ids = seq + n - 1;
            run.T = 1;
            rc = nv_decoder_forward(dec, &kv, &run, &err);
        }
        seq[n++] = nv_argmax(logits, V);
    }
    if (rc)
        fprintf(stderr, "greedy: %s\n", err.msg);
    memcpy(out, seq + T, N_NEW * sizeof *out);
    nv_kv_cache_free(&kv);
    free(logits);
    return rc;
}

static void check_ids(const char *what, const int32_t *got,
                      const int64_t *want)
{
    int same = 1;
    printf("  %-40s", what);
    for (int i = 0; i < N_NEW; i++) {
        printf(" %d", (int)got[i]);
        same &= got[i] == want[i];
    }
    printf(same ? "  (match)\n" : "  (DIFFER)\n");
    check_true(same, what, __FILE__, __LINE__);
}

/* Runs the prompt in chunks of the given lengths, collecting all logits. */
static int chunked_logits(nv_decoder *dec, const int32_t *ids,
                          const int *lens, int n_chunks, float *logits)
{
    nv_error err = {{0}};
    nv_kv_cache kv;
    if (nv_decoder_kv_init(dec, &kv, MAX_CTX, &err))
        return -1;
    int done = 0, rc = 0;
    for (int i = 0; i < n_chunks && rc == 0; i++) {
        nv_decoder_run run = {.ids = ids + done, .T = lens[i],
                              .logits = logits +
                                        (size_t)done * dec->cfg.vocab_size};
        rc = nv_decoder_forward(dec, &kv, &run, &err);
        done += lens[i];
    }
    if (rc)
        fprintf(stderr, "chunked: %s\n", err.msg);
    nv_kv_cache_free(&kv);
    return rc;
}

static void run_case(const char *name)
{
    golden_case g;
    golden_open(&g, name, 4, MAX_CTX);
    printf("%s (prefix '%s', rope type %d)\n", name, g.cfg.weight_prefix,
           (int)g.cfg.rope.type);
    nv_tensor ids64, gen64, hs, ref_logits;
    golden_i64(&g, "in_input_ids", &ids64);
    golden_i64(&g, "generated_ids", &gen64);
    golden_f32(&g, "hidden_states", &hs);
    golden_f32(&g, "logits", &ref_logits);
    int T = (int)ids64.shape[1], H = g.cfg.hidden_size, V = g.cfg.vocab_size;
    int L = g.cfg.n_layers;
    CHECK(hs.shape[0] == L + 1 && hs.shape[2] == T && hs.shape[3] == H);
    CHECK(gen64.shape[1] == T + N_NEW);
    int32_t ids[MAX_CTX];
    for (int t = 0; t < T; t++)
        ids[t] = (int32_t)((int64_t *)ids64.data)[t];

    /* One forward over the prompt, every hidden state and logit. */
    nv_error err = {{0}};
    nv_kv_cache kv;
    float *logits = malloc((size_t)T * V * sizeof(float));
    float *hidden = malloc((size_t)(L + 1) * T * H * sizeof(float));
    CHECK(nv_decoder_kv_init(g.dec, &kv, MAX_CTX, &err) == 0);
    nv_decoder_run run = {.ids = ids, .T = T, .logits = logits,
                          .hidden_states = hidden};
    if (!CHECK(nv_decoder_forward(g.dec, &kv, &run, &err) == 0))
        fprintf(stderr, "%s\n", err.msg);
    CHECK(kv.len == T);
    const float *ref_h = nv_tensor_f32(&hs);
    double lscale = check_forward(hidden, ref_h, L, T, H, logits,
                                  nv_tensor_f32(&ref_logits), V);

    /* Prefill in chunks 5 + 7 equals one chunk. */
    float *logits2 = malloc((size_t)T * V * sizeof(float));
    int lens[2] = {5, T - 5};
    CHECK(chunked_logits(g.dec, ids, lens, 2, logits2) == 0);
    check_close("prefill 5+7 vs one chunk", logits2, logits, (long)T * V,
                1e-5 * lscale);
    int ones[MAX_CTX];
    for (int t = 0; t < T; t++)
        ones[t] = 1;
    CHECK(chunked_logits(g.dec, ids, ones, T, logits2) == 0);
    check_close("prefill 1 token at a time vs one", logits2, logits,
                (long)T * V, 1e-5 * lscale);

    /* Greedy tokens, three ways. */
    const int64_t *want = (const int64_t *)gen64.data + T;
    int32_t got[N_NEW];
    CHECK(greedy(g.dec, ids, T, 0, 1, got) == 0);
    check_ids("greedy, kv cache", got, want);
    CHECK(greedy(g.dec, ids, T, 0, 0, got) == 0);
    check_ids("greedy, no cache (recompute)", got, want);
    CHECK(greedy(g.dec, ids, T, 5, 1, got) == 0);
    check_ids("greedy, kv cache, prefill 5+7", got, want);

    free(logits2);
    free(hidden);
    free(logits);
    nv_kv_cache_free(&kv);
    nv_tensor_free(&ids64);
    nv_tensor_free(&gen64);
    nv_tensor_free(&hs);
    nv_tensor_free(&ref_logits);
    golden_close(&g);
}

int main(void)
{
    run_case("llama");
    run_case("qwen2");
    return check_summary("test_decoder");
}
