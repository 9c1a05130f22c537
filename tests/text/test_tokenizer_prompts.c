/* test_tokenizer_prompts.c - the slow-layout tokenizers of the golden
 * checkpoints (vocab.json + merges.txt + tokenizer_config.json) against the
 * ids the upstream processors fed the models: meta.json "query_text",
 * encoded with special tokens parsed, must equal in_input_ids.npy exactly.
 * internvl_tiles (NVLM-D: plain-text <Image>/<tile_k> tags around
 * <|vision_pad|>), internvl_tiles_wide, internvl_single (Qwen2Tokenizer
 * with Chinese text and <IMG_CONTEXT>). Decoding the ids must give the
 * prompt back.
 * The GPT2Tokenizer checkpoints store only meta.json "prompt", which their
 * processors expand before tokenizing; the test rebuilds that text by the
 * processors' documented rules (written out at each case) and checks the
 * ids the same way: llava_clip / llava_siglip, idefics3, mllama. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/json.h"
#include "npy_i64.h"
#include "text/tokenizer.h"

/* Replaces the first `from` in text by `to` (a malloc'd result). */
static char *replace_first(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    if (!at)
        return NULL;
    size_t head = (size_t)(at - text), tail = strlen(at + strlen(from));
    char *out = malloc(head + strlen(to) + tail + 1);
    memcpy(out, text, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

/* "<image>" expanded as each processor does it. */
static char *expand_prompt(const char *name, const char *prompt)
{
    char to[4096] = "";
    if (!strncmp(name, "llava", 5)) {
        /* LlavaProcessor: (56 / 14)^2 = 16 patches + 1 CLS - 1 (strategy
         * "default" drops CLS) = 16 image tokens */
        for (int i = 0; i < 16; i++)
            strcat(to, "<image>");
        return replace_first(prompt, "<image>", to);
    }
    if (!strcmp(name, "idefics3")) {
        /* Idefics3Processor, 2x2 split, image_seq_len 4: per tile
         * <fake_token_around_image><row_r_col_c> + 4 <image>, "\n" after
         * each row, then "\n<fake_token_around_image><global-img>" + 4
         * <image> + <fake_token_around_image> */
        for (int r = 1; r <= 2; r++) {
            for (int c = 1; c <= 2; c++) {
                char tile[128];
                snprintf(tile, sizeof tile,
                         "<fake_token_around_image><row_%d_col_%d>", r, c);
                strcat(to, tile);
                for (int i = 0; i < 4; i++)
                    strcat(to, "<image>");
            }
            strcat(to, "\n");
        }
        strcat(to, "\n<fake_token_around_image><global-img>");
        for (int i = 0; i < 4; i++)
            strcat(to, "<image>");
        strcat(to, "<fake_token_around_image>");
        return replace_first(prompt, "<image>", to);
    }
    /* MllamaProcessor: without a BOS in the prompt, the leading image
     * tokens are moved in front of an inserted <|begin_of_text|>. */
    return replace_first(prompt, "<|image|>", "<|image|><|begin_of_text|>");
}

static void check_prompt(const char *golden, const char *name)
{
    char dir[4096], meta_path[4096], ids_path[4096];
    snprintf(dir, sizeof dir, "%s/hf/%s/model", golden, name);
    snprintf(meta_path, sizeof meta_path, "%s/hf/%s/meta.json", golden, name);
    snprintf(ids_path, sizeof ids_path, "%s/hf/%s/in_input_ids.npy", golden,
             name);
    nv_error err = {{0}};
    cJSON *meta = nv_json_load(meta_path, 0, &err);
    size_t want_n = 0;
    int64_t *want = npy_read_i64(ids_path, &want_n);
    nv_tokenizer *tok = nv_tokenizer_load(dir, &err);
    const char *query = NULL, *prompt = NULL;
    char *expanded = NULL;
    if (meta && !nv_json_get(meta, "query_text") &&
        nv_json_str_req(meta, "prompt", meta_path, &prompt, &err) == 0)
        query = expanded = expand_prompt(name, prompt);
    else if (meta)
        nv_json_str_req(meta, "query_text", meta_path, &query, &err);
    if (!CHECK(meta && want && tok && query)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        goto done;
    }
    int32_t *got = NULL;
    size_t got_n = 0;
    CHECK(nv_tokenizer_encode(tok, query, strlen(query), 1, &got, &got_n,
                              &err) == 0);
    size_t mismatch = got_n == want_n ? want_n : 0;
    for (size_t i = 0; i < got_n && i < want_n && mismatch == want_n; i++)
        if (got[i] != want[i])
            mismatch = i;
    if (!CHECK(got_n == want_n && mismatch == want_n))
        fprintf(stderr, "%s: %zu ids, want %zu; first difference at %zu\n",
                name, got_n, want_n, mismatch);
    char *back = nv_tokenizer_decode(tok, got, got_n, &err);
    CHECK(back && !strcmp(back, query));
    printf("%s: %zu ids\n", name, got_n);
    free(back);
    free(got);
done:
    free(expanded);
    nv_tokenizer_free(tok);
    free(want);
    cJSON_Delete(meta);
}

int main(void)
{
    const char *golden = check_golden_dir();
    check_prompt(golden, "internvl_tiles");
    check_prompt(golden, "internvl_tiles_wide");
    check_prompt(golden, "internvl_single");
    check_prompt(golden, "llava_clip");
    check_prompt(golden, "llava_siglip");
    check_prompt(golden, "idefics3");
    check_prompt(golden, "mllama");
    return check_summary("test_tokenizer_prompts");
}
