/* test_tokenizer_golden.c - the llama3 and qwen3 tokenizer.json files
 * against the reference tokenizations in $NV_GOLDEN_DIR/tokenizers/
 * (25 cases each, made by @lenml/tokenizers, a transformers.js fork, with
 * add_special_tokens off): the ids must be equal, and decoding those ids
 * must give the reference text exactly. Both loaders are used: the file
 * itself and its directory. Then all cases joined by a special token and
 * repeated three times, one long text in which words recur (exercising the
 * word cache), must give the reference ids joined by that token's id. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/json.h"
#include "text/tokenizer.h"

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s (%zu):", what, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

static void check_case(const nv_tokenizer *tok, const char *name,
                       const cJSON *c)
{
    const cJSON *text = nv_json_get(c, "text");
    const cJSON *ids = nv_json_get(c, "ids");
    const cJSON *decoded = nv_json_get(c, "decoded");
    if (!CHECK(cJSON_IsString(text) && cJSON_IsArray(ids) &&
               cJSON_IsString(decoded)))
        return;
    size_t want_n = (size_t)cJSON_GetArraySize(ids);
    int32_t *want = malloc((want_n ? want_n : 1) * sizeof *want);
    size_t k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, ids) want[k++] = (int32_t)it->valuedouble;

    nv_error err = {{0}};
    int32_t *got = NULL;
    size_t got_n = 0;
    int rc = nv_tokenizer_encode(tok, text->valuestring,
                                 strlen(text->valuestring), 1, &got, &got_n,
                                 &err);
    CHECK(rc == 0);
    int same = rc == 0 && got_n == want_n &&
               (want_n == 0 || !memcmp(got, want, want_n * sizeof *want));
    if (!CHECK(same)) {
        fprintf(stderr, "%s: text '%s' (%s)\n", name, text->valuestring,
                err.msg);
        print_ids("want", want, want_n);
        print_ids("got ", got, got_n);
    }
    char *back = nv_tokenizer_decode(tok, want, want_n, &err);
    if (!CHECK(back && !strcmp(back, decoded->valuestring)))
        fprintf(stderr, "%s: decoded '%s', want '%s'\n", name,
                back ? back : err.msg, decoded->valuestring);
    free(back);
    free(got);
    free(want);
}

/* Appends to a growable buffer (exits when out of memory: a test). */
static void append(void **buf, size_t *n, size_t *cap, const void *src,
                   size_t len)
{
    if (*n + len > *cap) {
        *cap = (*n + len) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf)
            exit(1);
    }
    memcpy((char *)*buf + *n, src, len);
    *n += len;
}

static void check_joined(const nv_tokenizer *tok, const cJSON *list,
                         const char *sep, int32_t sep_id)
{
    void *text = NULL, *want = NULL;
    size_t text_n = 0, text_cap = 0, want_n = 0, want_cap = 0;
    for (int round = 0; round < 3; round++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, list)
        {
            const char *t = nv_json_get(c, "text")->valuestring;
            append(&text, &text_n, &text_cap, t, strlen(t));
            append(&text, &text_n, &text_cap, sep, strlen(sep));
            const cJSON *it;
            cJSON_ArrayForEach(it, nv_json_get(c, "ids"))
            {
                int32_t id = (int32_t)it->valuedouble;
                append(&want, &want_n, &want_cap, &id, sizeof id);
            }
            append(&want, &want_n, &want_cap, &sep_id, sizeof sep_id);
        }
    }
    nv_error err = {{0}};
    int32_t *got = NULL;
    size_t n = 0;
    CHECK(nv_tokenizer_encode(tok, text, text_n, 1, &got, &n, &err) == 0);
    if (!CHECK(n * sizeof *got == want_n && !memcmp(got, want, want_n)))
        fprintf(stderr, "joined cases: %zu ids, want %zu\n", n,
                want_n / sizeof(int32_t));
    free(got);
    free(text);
    free(want);
}

static int run_cases(const char *golden, const char *name, int by_dir,
                     const char *sep, int32_t sep_id)
{
    char path[4096], cases_path[4096];
    snprintf(cases_path, sizeof cases_path, "%s/tokenizers/%s/cases.json",
             golden, name);
    if (by_dir)
        snprintf(path, sizeof path, "%s/tokenizers/%s", golden, name);
    else
        snprintf(path, sizeof path, "%s/tokenizers/%s/tokenizer.json",
                 golden, name);
    nv_error err = {{0}};
    cJSON *cases = nv_json_load(cases_path, 0, &err);
    nv_tokenizer *tok = nv_tokenizer_load(path, &err);
    if (!CHECK(cases && tok)) {
        fprintf(stderr, "%s\n", err.msg);
        cJSON_Delete(cases);
        nv_tokenizer_free(tok);
        return 0;
    }
    const cJSON *list = nv_json_get(cases, "cases");
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, list)
    {
        check_case(tok, name, c);
        n++;
    }
    check_joined(tok, list, sep, sep_id);
    cJSON_Delete(cases);
    nv_tokenizer_free(tok);
    return n;
}

int main(void)
{
    const char *golden = check_golden_dir();
    int n = run_cases(golden, "llama3", 0, "<|eot_id|>", 128009) +
            run_cases(golden, "qwen3", 1, "<|im_end|>", 151645);
    printf("%d golden cases\n", n);
    CHECK(n == 50);
    return check_summary("test_tokenizer_golden");
}
