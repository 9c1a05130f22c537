/* test_family_text.c - the text-only hub checkpoints hf/llama
 * (LlamaForCausalLM, llama3 rope scaling, tied embeddings) and hf/qwen2
 * (Qwen2ForCausalLM, qkv bias) through the whole model (nvlm_load +
 * session), against transformers v4.47.1's goldens. Their directories ship
 * no tokenizer, so the model falls back to the byte-level vocabulary (ids
 * 0..255 = bytes): the prompt is the golden in_input_ids written as bytes.
 * Checks: prompt ids exactly, logits of every prompt position within
 * 1e-4 * max|logit|, 8 greedy ids exactly (KV cache on, EOS ignored). */
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

int main(void)
{
    const char *golden = check_golden_dir();
    run_case(golden, "llama");
    run_case(golden, "qwen2");
    return check_summary("family_text");
}
