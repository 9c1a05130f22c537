/* test_family_text.c - the text-only hub checkpoints hf/llama
 * (LlamaForCausalLM, llama3 rope scaling, tied embeddings) and hf/qwen2
 * (Qwen2ForCausalLM, qkv bias) through the whole model (nvlm_load +
 * session), against transformers v4.47.1's goldens. Their directories ship
 * no tokenizer, so the model falls back to the byte-level vocabulary (ids
 * 0..255 = bytes): the prompt is the golden in_input_ids written as bytes.
 * Checks: prompt ids exactly, logits of every prompt position within
 * 1e-4 * max|logit|, 8 greedy ids exactly (KV cache on, EOS ignored).
 * Then each weight type at load against the same goldens (run_types). */
#include "hub_check.h"

static void run_case(const char *golden, const char *name)
{
    char dir[1024], path[1200], err[1024];
    nv_error e = {{0}};
    snprintf(dir, sizeof dir, "%s/hf/%s/model", golden, name);
    snprintf(path, sizeof path, "%s/hf/%s/golden.safetensors", golden, name);
    nv_safetensors *g = nv_st_open(path, &e);
    nv_tensor ids = {0};
    nvlm_model *m = NULL;
    nvlm_session *s = NULL;
    if (!CHECK(g && nv_st_get_i64(g, "in_input_ids", &ids, &e) == 0)) {
        fprintf(stderr, "%s: %s\n", name, e.msg);
        goto done;
    }
    int N = (int)ids.shape[1];
    char *text = calloc((size_t)N + 1, 1);
    int bytes_ok = text != NULL;
    for (int i = 0; bytes_ok && i < N; i++) {
        int64_t id = ((const int64_t *)ids.data)[i];
        bytes_ok = id > 0 && id < 256; /* a NUL would end the C string */
        if (bytes_ok)
            text[i] = (char)id;
    }
    CHECK(bytes_ok);
    m = hub_load_model(dir, NULL, 2, name);
    if (m && bytes_ok) {
        s = nvlm_session_new(m, err, sizeof err);
        if (CHECK(s != NULL) &&
            CHECK(nvlm_add_text(s, text, err, sizeof err) == 0))
            hub_check_generation(s, g, name);
    }
    free(text);
    /* A text-only model takes no image. */
    if (s) {
        snprintf(path, sizeof path, "%s/hf/image.png", golden);
        CHECK(nvlm_add_image_file(s, path, err, sizeof err) != 0);
        printf("%s: image refused: %s\n", name, err);
    }
done:
    nvlm_session_free(s);
    nvlm_free(m);
    nv_tensor_free(&ids);
    nv_st_close(g);
}

/* Issue 15 item 4 on a hub checkpoint: the same llama / qwen2 prompt with
 * the weights converted at load (--dtype), each type's logit error against
 * the f32 golden printed and bounded, in units of max|logit|: bf16 2e-2
 * (test_lowprec.c's), q8_0 8e-2 (its step, 1/127 of a block's largest
 * weight, is about 4x bf16's rounding on these Gaussian weights), 4-bit
 * 0.64 (a Q4 step is 1/7 of the block's largest weight; test_lowprec.c's
 * bound). These checkpoints' rows are not multiples of 256, so q4_k falls
 * back to Q4_0 for every matrix. With bf16 the 8 greedy ids must also be
 * the golden's. */
static void run_types(const char *golden, const char *name)
{
    static const struct {
        const char *dtype;
        double rel;
    } types[] = {{"bf16", 2e-2}, {"q8_0", 8e-2}, {"q4_0", 0.64},
                 {"q4_k", 0.64}};
    char dir[1024], path[1200], err[1024];
    nv_error e = {{0}};
    snprintf(dir, sizeof dir, "%s/hf/%s/model", golden, name);
    snprintf(path, sizeof path, "%s/hf/%s/golden.safetensors", golden, name);
    nv_safetensors *g = nv_st_open(path, &e);
    nv_tensor ids = {0}, logits = {0}, gen = {0};
    if (!CHECK(g && nv_st_get_i64(g, "in_input_ids", &ids, &e) == 0 &&
               nv_st_get_f32(g, "logits", -1, NULL, &logits, &e) == 0 &&
               nv_st_get_i64(g, "generated_ids", &gen, &e) == 0)) {
        fprintf(stderr, "%s: %s\n", name, e.msg);
        goto done;
    }
    int N = (int)ids.shape[1];
    char text[1024] = "";
    for (int i = 0; i < N && i < 1023; i++)
        text[i] = (char)((const int64_t *)ids.data)[i];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        nvlm_options opt;
        nvlm_options_init(&opt);
        opt.threads = 2;
        opt.dtype = types[t].dtype;
        nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
        nvlm_session *s = m ? nvlm_session_new(m, err, sizeof err) : NULL;
        char label[96];
        snprintf(label, sizeof label, "%s --dtype %s", name, types[t].dtype);
        if (CHECK(s != NULL) &&
            CHECK(nvlm_add_text(s, text, err, sizeof err) == 0) &&
            hub_generate(s, 0, label) == 0) {
            long n = (long)nv_tensor_numel(&logits);
            int np = 0;
            nvlm_prompt_ids(s, &np);
            if (t == 0)
                hub_compare_run(s, ids.data, N, logits.data, n, gen.data,
                                (int)gen.shape[1], types[t].rel, label);
            else if (CHECK(n == (long)np * s->m->llm.vocab_size))
                hub_close(label, "logits (all prompt positions)",
                          s->prompt_logits, logits.data, n, types[t].rel);
        } else {
            fprintf(stderr, "%s: %s\n", label, err);
        }
        nvlm_session_free(s);
        nvlm_free(m);
    }
done:
    nv_tensor_free(&ids);
    nv_tensor_free(&logits);
    nv_tensor_free(&gen);
    nv_st_close(g);
}

int main(void)
{
    const char *golden = check_golden_dir();
    run_case(golden, "llama");
    run_case(golden, "qwen2");
    run_types(golden, "llama");
    run_types(golden, "qwen2");
    return check_summary("family_text");
}
