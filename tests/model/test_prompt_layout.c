/* test_prompt_layout.c - the D/X/H prompt layouts.
 *
 * D: the expanded prompt must equal NVIDIA's NVLM-D chat() query_text in
 * the goldens (hf/internvl_tiles: 3x2 + thumbnail, internvl_tiles_wide:
 * 2x1 + thumbnail) byte for byte.
 * All heads vs the PyTorch reference's fixtures (tests/fixtures/tiny_nvlm,
 * 1, 3 and 7 tiles): the prompt string and tokenisation units of
 * cases.json; the segments tokenised one by one with the fixture tokenizer
 * (image slots as <|vision_pad|> ids) give the golden in_input_ids; the key
 * count equals the memory rows; the cross rows equal the golden dense
 * xattn_mask.
 * X and H by hand: segments, tags, key counts and rows against the layouts
 * docs/model-format.md section 8.4 spells out. Bad arguments fail with a
 * message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/safetensors.h"
#include "fusion/prompt_layout.h"
#include "tests/check.h"
#include "text/tokenizer.h"

static const char sys_user[] = "<|im_start|>system\nAnswer the questions."
                           "<|im_end|><|im_start|>user\n";
static const char hand_question[] = "What is in the picture?";
static const char tail_after_image[] =
    "</Image>\nWhat is in the picture?<|im_end|><|im_start|>assistant\n";

/* Segment i is text equal to `text` with the given tile and rule. */
static int is_text(const nv_prompt_layout *L, int i, const char *text,
                   int tile, nv_cross_rule cross)
{
    if (i >= L->n_segments)
        return 0;
    const nv_prompt_segment *s = &L->segments[i];
    return s->kind == NV_SEGMENT_TEXT && !strcmp(s->text, text) &&
           s->tile == tile && s->cross == cross && s->count == 0;
}

static int is_image(const nv_prompt_layout *L, int i, int tile, int count)
{
    if (i >= L->n_segments)
        return 0;
    const nv_prompt_segment *s = &L->segments[i];
    return s->kind == NV_SEGMENT_IMAGE && !s->text && s->tile == tile &&
           s->count == count;
}

static void check_d_golden(const char *golden, const char *case_name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/hf/%s/meta.json", golden, case_name);
    nv_error err = {{0}};
    cJSON *meta = nv_json_load(path, 0, &err);
    if (!CHECK(meta != NULL)) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const char *query_text = NULL, *q = NULL, *image_token = NULL;
    const cJSON *grid = NULL;
    int64_t n_tiles = 0, per_tile = 0;
    int ok = nv_json_str_req(meta, "query_text", path, &query_text, &err) ==
                 0 &&
             nv_json_str_req(meta, "question", path, &q, &err) == 0 &&
             nv_json_str_req(meta, "image_context_token", path, &image_token,
                             &err) == 0 &&
             nv_json_int_req(meta, "num_image_token_per_tile", path,
                             &per_tile, &err) == 0 &&
             nv_json_obj_req(meta, "tile_grid", path, &grid, &err) == 0 &&
             nv_json_int_req(grid, "num_tiles", path, &n_tiles, &err) == 0;
    if (!CHECK(ok)) {
        fprintf(stderr, "%s\n", err.msg);
        cJSON_Delete(meta);
        return;
    }
    nv_prompt_layout L;
    if (!CHECK(nv_prompt_layout_build(&L, NV_FUSION_D, (int)n_tiles,
                                      (int)per_tile, q, NULL, &err) == 0)) {
        fprintf(stderr, "%s\n", err.msg);
        cJSON_Delete(meta);
        return;
    }
    char *text = nv_prompt_layout_text(&L, image_token, &err);
    if (CHECK(text != NULL) && !CHECK(strcmp(text, query_text) == 0))
        fprintf(stderr, "%s: layout gives\n%s\nexpected\n%s\n", case_name,
                text, query_text);
    printf("%s: D prompt of %d tiles, %zu bytes, equals query_text: %s\n",
           case_name, (int)n_tiles, text ? strlen(text) : 0,
           text && !strcmp(text, query_text) ? "yes" : "no");
    free(text);

    /* Slots: every tile once, in order, after its tag; text between slots
     * in one piece (so piecewise tokenizing equals whole-string). */
    CHECK(L.n_segments == 2 * (int)n_tiles + 1);
    int slots_in_order = 1;
    for (int i = 0; i < (int)n_tiles; i++)
        slots_in_order &= is_image(&L, 2 * i + 1, i, (int)per_tile) &&
                          L.segments[2 * i].kind == NV_SEGMENT_TEXT;
    CHECK(slots_in_order);
    CHECK(L.n_kv_tags == 0);
    CHECK(nv_prompt_layout_n_keys(&L, NULL, &err) == 0);
    nv_prompt_layout_free(&L);
    cJSON_Delete(meta);
}

/* D with one tile: NVLM-D's rule makes the only tile the thumbnail. */
static void check_d_one_tile(void)
{
    nv_error err = {{0}};
    nv_prompt_layout L;
    CHECK(nv_prompt_layout_build(&L, NV_FUSION_D, 1, 2, hand_question, NULL,
                                 &err) == 0);
    char *text = nv_prompt_layout_text(&L, "<P>", &err);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "%s<Image><tile_global_thumbnail><P><P>%s", sys_user,
             tail_after_image);
    CHECK(text && !strcmp(text, expect));
    free(text);
    nv_prompt_layout_free(&L);
}

static void check_x(void)
{
    nv_error err = {{0}};
    nv_prompt_layout L;
    const int P = 4;
    if (!CHECK(nv_prompt_layout_build(&L, NV_FUSION_X, 3, P, hand_question,
                                      NULL, &err) == 0))
        return;
    CHECK(L.n_segments == 6);
    CHECK(is_text(&L, 0, sys_user, -1, NV_CROSS_NONE));
    CHECK(is_text(&L, 1, "<Image>", -1, NV_CROSS_ALL));
    CHECK(is_text(&L, 2, "<tile_1>", 0, NV_CROSS_TILE));
    CHECK(is_text(&L, 3, "<tile_2>", 1, NV_CROSS_TILE));
    CHECK(is_text(&L, 4, "<tile_global_thumbnail>", 2, NV_CROSS_TILE));
    CHECK(is_text(&L, 5, tail_after_image, -1, NV_CROSS_ALL));
    CHECK(L.n_kv_tags == 0);

    char *text = nv_prompt_layout_text(&L, "<P>", &err);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "%s<Image><tile_1><tile_2><tile_global_thumbnail>%s", sys_user,
             tail_after_image);
    CHECK(text && !strcmp(text, expect));
    free(text);

    /* Rows: 3 head tokens see nothing, <Image> (2 tokens) all 12 keys, each
     * tag's tokens its tile's 4 keys, the tail (5 tokens) all. */
    const int n_keys = nv_prompt_layout_n_keys(&L, NULL, &err);
    CHECK(n_keys == 3 * P);
    int tag_row = -1, tile_row = -1;
    CHECK(nv_prompt_layout_memory_rows(&L, NULL, 2, &tag_row, &tile_row,
                                       &err) == 0 &&
          tag_row == 2 * P && tile_row == 2 * P);
    CHECK(nv_prompt_layout_memory_rows(&L, NULL, 3, &tag_row, &tile_row,
                                       &err) != 0);
    const int seg_tokens[6] = {3, 2, 3, 2, 4, 5};
    enum { ROWS = 19 };
    int begin[ROWS], end[ROWS];
    CHECK(nv_prompt_layout_cross_rows(&L, seg_tokens, n_keys, begin, end,
                                      ROWS, &err) == 0);
    const int want_begin[ROWS] = {0, 0, 0, 0, 0, 0, 0, 0, 4, 4,
                                  8, 8, 8, 8, 0, 0, 0, 0, 0};
    const int want_end[ROWS] = {0,  0,  0,  12, 12, 4,  4,  4,  8, 8,
                                12, 12, 12, 12, 12, 12, 12, 12, 12};
    int rows_ok = 1;
    for (int r = 0; r < ROWS; r++)
        rows_ok &= begin[r] == want_begin[r] && end[r] == want_end[r];
    CHECK(rows_ok);

    /* Mismatches are refused. */
    CHECK(nv_prompt_layout_cross_rows(&L, seg_tokens, n_keys, begin, end,
                                      ROWS - 1, &err) != 0);
    CHECK(nv_prompt_layout_cross_rows(&L, seg_tokens, n_keys, begin, end, 20,
                                      &err) != 0);
    CHECK(nv_prompt_layout_cross_rows(&L, seg_tokens, 11, begin, end, ROWS,
                                      &err) != 0);
    const int negative[6] = {3, -1, 3, 2, 4, 5};
    CHECK(nv_prompt_layout_cross_rows(&L, negative, n_keys, begin, end, ROWS,
                                      &err) != 0);
    nv_prompt_layout_free(&L);

    /* One tile: it plays the thumbnail and its tag sees its keys. */
    CHECK(nv_prompt_layout_build(&L, NV_FUSION_X, 1, P, hand_question, NULL,
                                 &err) == 0);
    CHECK(L.n_segments == 4);
    CHECK(is_text(&L, 2, "<tile_global_thumbnail>", 0, NV_CROSS_TILE));
    CHECK(nv_prompt_layout_n_keys(&L, NULL, &err) == P);
    nv_prompt_layout_free(&L);
}

static void check_h(void)
{
    nv_error err = {{0}};
    nv_prompt_layout L;
    const int P = 4;
    if (!CHECK(nv_prompt_layout_build(&L, NV_FUSION_H, 3, P, hand_question,
                                      NULL, &err) == 0))
        return;
    CHECK(L.n_segments == 4);
    CHECK(is_text(&L, 0, sys_user, -1, NV_CROSS_NONE));
    CHECK(is_text(&L, 1, "<Image><tile_global_thumbnail>", -1, NV_CROSS_ALL));
    CHECK(is_image(&L, 2, 2, P) && L.segments[2].cross == NV_CROSS_ALL);
    CHECK(is_text(&L, 3, tail_after_image, -1, NV_CROSS_ALL));
    CHECK(L.n_kv_tags == 2 && !strcmp(L.kv_tags[0], "<tile_1>") &&
          !strcmp(L.kv_tags[1], "<tile_2>"));

    char *text = nv_prompt_layout_text(&L, "<P>", &err);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "%s<Image><tile_global_thumbnail><P><P><P><P>%s", sys_user,
             tail_after_image);
    CHECK(text && !strcmp(text, expect));
    free(text);

    /* Keys: (3 tag tokens + 4) + (5 tag tokens + 4). */
    const int tag_tokens[2] = {3, 5};
    const int n_keys = nv_prompt_layout_n_keys(&L, tag_tokens, &err);
    CHECK(n_keys == 16);
    CHECK(nv_prompt_layout_n_keys(&L, NULL, &err) < 0);
    int tag_row = -1, tile_row = -1;
    CHECK(nv_prompt_layout_memory_rows(&L, tag_tokens, 0, &tag_row, &tile_row,
                                       &err) == 0 &&
          tag_row == 0 && tile_row == 3);
    CHECK(nv_prompt_layout_memory_rows(&L, tag_tokens, 1, &tag_row, &tile_row,
                                       &err) == 0 &&
          tag_row == 7 && tile_row == 12);
    CHECK(nv_prompt_layout_memory_rows(&L, tag_tokens, 2, &tag_row, &tile_row,
                                       &err) != 0);
    CHECK(nv_prompt_layout_memory_rows(&L, NULL, 0, &tag_row, &tile_row,
                                       &err) != 0);
    const int seg_tokens[4] = {2, 3, P, 2};
    enum { ROWS = 11 };
    int begin[ROWS], end[ROWS];
    CHECK(nv_prompt_layout_cross_rows(&L, seg_tokens, n_keys, begin, end,
                                      ROWS, &err) == 0);
    int rows_ok = 1;
    for (int r = 0; r < ROWS; r++)
        rows_ok &= begin[r] == 0 && end[r] == (r < 2 ? 0 : 16);
    CHECK(rows_ok);
    /* An image slot must hold exactly its count. */
    const int wrong_slot[4] = {2, 3, P + 1, 1};
    CHECK(nv_prompt_layout_cross_rows(&L, wrong_slot, n_keys, begin, end,
                                      ROWS, &err) != 0);
    CHECK(strstr(err.msg, "segment 2") != NULL);
    nv_prompt_layout_free(&L);

    /* One tile: thumbnail only, no keys at all. */
    CHECK(nv_prompt_layout_build(&L, NV_FUSION_H, 1, P, hand_question, NULL,
                                 &err) == 0);
    CHECK(L.n_kv_tags == 0 && L.kv_tags == NULL);
    CHECK(is_image(&L, 2, 0, P));
    CHECK(nv_prompt_layout_n_keys(&L, NULL, &err) == 0);
    nv_prompt_layout_free(&L);
}

static void check_no_image_and_errors(void)
{
    nv_error err = {{0}};
    nv_prompt_layout L;
    CHECK(nv_prompt_layout_build(&L, NV_FUSION_X, 0, 0, "Hi", "Be brief.",
                                 &err) == 0);
    char *text = nv_prompt_layout_text(&L, "<P>", &err);
    CHECK(text && !strcmp(text, "<|im_start|>system\nBe brief.<|im_end|>"
                                "<|im_start|>user\nHi<|im_end|>"
                                "<|im_start|>assistant\n"));
    free(text);
    CHECK(nv_prompt_layout_n_keys(&L, NULL, &err) == 0);
    nv_prompt_layout_free(&L);

    CHECK(nv_prompt_layout_build(&L, NV_FUSION_D, -1, 4, "q", NULL, &err) !=
          0);
    CHECK(strstr(err.msg, "-1 tiles") != NULL);
    CHECK(nv_prompt_layout_build(&L, NV_FUSION_D, 2, 0, "q", NULL, &err) !=
          0);
    CHECK(nv_prompt_layout_build(&L, NV_FUSION_H, 2, 4, NULL, NULL, &err) !=
          0);
    CHECK(nv_prompt_layout_build(&L, (nv_fusion)7, 2, 4, "q", NULL, &err) !=
          0);
    CHECK(L.segments == NULL && L.n_segments == 0);

    nv_fusion f = NV_FUSION_D;
    CHECK(nv_fusion_parse("H", &f) == 0 && f == NV_FUSION_H);
    CHECK(nv_fusion_parse("x", &f) == 0 && f == NV_FUSION_X);
    CHECK(nv_fusion_parse("dx", &f) != 0);
    CHECK(!strcmp(nv_fusion_name(NV_FUSION_X), "x"));
}

/* Tokenisation units of a layout: text segments on either side of an image
 * slot belong to one unit (the slot's special tokens split the text there
 * anyway); two adjacent text segments are separate units. Returns how many
 * units match `want` (array of strings) in order, or -1 on a mismatch. */
static int units_match(const nv_prompt_layout *L, const cJSON *want,
                       const char *image_token)
{
    char unit[8192];
    size_t len = 0;
    int n_units = 0, prev_image = 0, ok = 1;
    for (int i = 0; i <= L->n_segments && ok; i++) {
        const nv_prompt_segment *s = i < L->n_segments ? &L->segments[i]
                                                        : NULL;
        int starts_unit = !s || (s->kind == NV_SEGMENT_TEXT && !prev_image &&
                                 i > 0);
        if (starts_unit) {
            unit[len] = '\0';
            const cJSON *w = cJSON_GetArrayItem(want, n_units++);
            ok = cJSON_IsString(w) && !strcmp(w->valuestring, unit);
            if (!ok)
                fprintf(stderr, "unit %d: '%s' vs '%s'\n", n_units - 1, unit,
                        cJSON_IsString(w) ? w->valuestring : "(none)");
            len = 0;
        }
        if (!s)
            break;
        const char *piece = s->kind == NV_SEGMENT_TEXT ? s->text : image_token;
        int repeat = s->kind == NV_SEGMENT_TEXT ? 1 : s->count;
        for (int r = 0; r < repeat; r++) {
            size_t n = strlen(piece);
            if (len + n >= sizeof unit)
                return -1;
            memcpy(unit + len, piece, n);
            len += n;
        }
        prev_image = s->kind == NV_SEGMENT_IMAGE;
    }
    return ok && n_units == cJSON_GetArraySize(want) ? n_units : -1;
}

/* Tokenises the layout segment by segment; fills seg_tokens and returns the
 * id count, or -1. ids has room for max_ids. */
static int encode_layout(const nv_prompt_layout *L, const nv_tokenizer *tok,
                         int32_t image_id, int *seg_tokens, int64_t *ids,
                         int max_ids)
{
    nv_error err = {{0}};
    int n_ids = 0;
    for (int i = 0; i < L->n_segments; i++) {
        const nv_prompt_segment *s = &L->segments[i];
        int32_t *piece = NULL;
        size_t n = 0;
        if (s->kind == NV_SEGMENT_TEXT) {
            if (nv_tokenizer_encode(tok, s->text, strlen(s->text), 1, &piece,
                                    &n, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return -1;
            }
        } else {
            n = (size_t)s->count;
        }
        if (n > (size_t)(max_ids - n_ids)) {
            free(piece);
            return -1;
        }
        for (size_t k = 0; k < n; k++)
            ids[n_ids + (int)k] = piece ? piece[k] : image_id;
        free(piece);
        seg_tokens[i] = (int)n;
        n_ids += (int)n;
    }
    return n_ids;
}

static void check_fixture_case(const cJSON *c, const char *question, int T,
                               const char *fixture_dir,
                               const nv_tokenizer *tok)
{
    nv_error err = {{0}};
    const char *head = NULL, *prompt = NULL, *golden_name = NULL;
    int64_t n_tiles = 0, memory_rows = 0;
    const cJSON *segments = nv_json_get(c, "segments");
    nv_fusion fusion = NV_FUSION_D;
    if (!CHECK(nv_json_str_req(c, "head", "cases.json", &head, &err) == 0 &&
               nv_json_str_req(c, "prompt", "cases.json", &prompt, &err) ==
                   0 &&
               nv_json_str_req(c, "golden", "cases.json", &golden_name,
                               &err) == 0 &&
               nv_json_int_req(c, "tiles", "cases.json", &n_tiles, &err) ==
                   0 &&
               nv_json_int_req(c, "memory_rows", "cases.json", &memory_rows,
                               &err) == 0 &&
               cJSON_IsArray(segments) &&
               nv_fusion_parse(head, &fusion) == 0)) {
        fprintf(stderr, "cases.json: %s\n", err.msg);
        return;
    }
    nv_prompt_layout L;
    if (!CHECK(nv_prompt_layout_build(&L, fusion, (int)n_tiles, T, question,
                                      NULL, &err) == 0)) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    char *text = nv_prompt_layout_text(&L, "<|vision_pad|>", &err);
    CHECK(text && !strcmp(text, prompt));
    free(text);
    CHECK(units_match(&L, segments, "<|vision_pad|>") > 0);

    char path[4096];
    snprintf(path, sizeof path, "%s/tiny_nvlm/%s", fixture_dir, golden_name);
    nv_safetensors *st = nv_st_open(path, &err);
    nv_tensor want_ids = {0}, mask = {0};
    int *seg_tokens = calloc((size_t)L.n_segments, sizeof *seg_tokens);
    int64_t *ids = NULL;
    int *begin = NULL, *end = NULL;
    if (!CHECK(st && nv_st_get_i64(st, "in_input_ids", &want_ids, &err) == 0 &&
               want_ids.ndim == 2)) {
        fprintf(stderr, "%s\n", err.msg);
        goto done;
    }
    const int N = (int)want_ids.shape[1];
    ids = calloc((size_t)N + 1, sizeof *ids);
    const int32_t pad_id = nv_tokenizer_token_id(tok, "<|vision_pad|>");
    const int n_ids = encode_layout(&L, tok, pad_id, seg_tokens, ids, N + 1);
    CHECK(n_ids == N);
    CHECK(n_ids == N && !memcmp(ids, want_ids.data, (size_t)N * sizeof *ids));

    /* Keys: H needs the token count of each kv tag. */
    int tag_tokens[64] = {0};
    for (int i = 0; i < L.n_kv_tags && i < 64; i++) {
        int32_t *tag_ids = NULL;
        size_t n = 0;
        CHECK(nv_tokenizer_encode(tok, L.kv_tags[i], strlen(L.kv_tags[i]), 1,
                                  &tag_ids, &n, &err) == 0);
        free(tag_ids);
        tag_tokens[i] = (int)n;
    }
    const int n_keys = nv_prompt_layout_n_keys(&L, tag_tokens, &err);
    CHECK(n_keys == memory_rows);
    int mask_equal = 1;
    if (n_keys > 0 && n_ids == N) {
        begin = calloc((size_t)N, sizeof *begin);
        end = calloc((size_t)N, sizeof *end);
        CHECK(nv_prompt_layout_cross_rows(&L, seg_tokens, n_keys, begin, end,
                                          N, &err) == 0);
        if (CHECK(nv_st_get_i64(st, "xattn_mask", &mask, &err) == 0 &&
                  mask.ndim == 2 && mask.shape[0] == N &&
                  mask.shape[1] == n_keys)) {
            const int64_t *m = mask.data;
            for (int t = 0; t < N; t++)
                for (int s = 0; s < n_keys; s++)
                    mask_equal &= m[(size_t)t * n_keys + s] ==
                                  (s >= begin[t] && s < end[t]);
            CHECK(mask_equal);
        }
    }
    printf("fixture %s: %d ids %s, %d keys, cross rows %s\n", golden_name,
           n_ids, n_ids == N && !memcmp(ids, want_ids.data,
                                        (size_t)N * sizeof *ids)
                      ? "equal" : "DIFFER",
           n_keys, n_keys > 0 ? (mask_equal ? "equal the mask" : "DIFFER")
                              : "(no keys)");
done:
    free(seg_tokens);
    free(ids);
    free(begin);
    free(end);
    nv_tensor_free(&want_ids);
    nv_tensor_free(&mask);
    nv_st_close(st);
    nv_prompt_layout_free(&L);
}

static void check_fixtures(void)
{
    const char *fixture_dir = getenv("NV_FIXTURE_DIR");
    if (!CHECK(fixture_dir != NULL))
        return;
    char path[4096];
    nv_error err = {{0}};
    snprintf(path, sizeof path, "%s/tiny_nvlm/tokenizer.json", fixture_dir);
    nv_tokenizer *tok = nv_tokenizer_load(path, &err);
    snprintf(path, sizeof path, "%s/tiny_nvlm/cases.json", fixture_dir);
    cJSON *cases = tok ? nv_json_load(path, 0, &err) : NULL;
    const char *question = NULL;
    int64_t T = 0;
    const cJSON *list = cases ? nv_json_get(cases, "cases") : NULL;
    if (CHECK(cases && cJSON_IsArray(list) &&
              nv_json_str_req(cases, "question", path, &question, &err) ==
                  0 &&
              nv_json_int_req(cases, "tokens_per_tile", path, &T, &err) ==
                  0)) {
        CHECK(cJSON_GetArraySize(list) == 9);
        const cJSON *c;
        cJSON_ArrayForEach(c, list)
            check_fixture_case(c, question, (int)T, fixture_dir, tok);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    cJSON_Delete(cases);
    nv_tokenizer_free(tok);
}

int main(void)
{
    const char *golden = check_golden_dir();
    check_d_golden(golden, "internvl_tiles");
    check_d_golden(golden, "internvl_tiles_wide");
    check_d_one_tile();
    check_x();
    check_h();
    check_no_image_and_errors();
    check_fixtures();
    return check_summary("prompt_layout");
}
