/* test_tokenizer_prompts.c - the slow-layout tokenizers of the golden
 * checkpoints (vocab.json + merges.txt + tokenizer_config.json) against the
 * ids the upstream processors fed the models: meta.json "query_text",
 * encoded with special tokens parsed, must equal in_input_ids.npy exactly.
 * internvl_tiles (NVLM-D: plain-text <Image>/<tile_k> tags around
 * <|vision_pad|>), internvl_tiles_wide, internvl_single (Qwen2Tokenizer
 * with Chinese text and <IMG_CONTEXT>). Decoding the ids must give the
 * prompt back. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/json.h"
#include "npy_i64.h"
#include "text/tokenizer.h"

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
    const char *query = NULL;
    if (!CHECK(meta && want && tok &&
               nv_json_str_req(meta, "query_text", meta_path, &query,
                               &err) == 0)) {
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
    return check_summary("test_tokenizer_prompts");
}
