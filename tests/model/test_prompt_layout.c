/* test_prompt_layout.c - the D/X/H prompt layouts.
 *
 * D: the expanded prompt must equal NVIDIA's NVLM-D chat() query_text in
 * the goldens (hf/internvl_tiles: 3x2 + thumbnail, internvl_tiles_wide:
 * 2x1 + thumbnail) byte for byte. X and H: the segments, tags, key counts
 * and cross-attention rows against the layouts the design spells out
 * (fusion/prompt_layout.h, docs/model-format.md). Bad arguments fail with
 * a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "fusion/prompt_layout.h"
#include "tests/check.h"

static const char head[] = "<|im_start|>system\nAnswer the questions."
                           "<|im_end|><|im_start|>user\n";
static const char question[] = "What is in the picture?";
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
    CHECK(nv_prompt_layout_build(&L, NV_FUSION_D, 1, 2, question, NULL,
                                 &err) == 0);
    char *text = nv_prompt_layout_text(&L, "<P>", &err);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "%s<Image><tile_global_thumbnail><P><P>%s", head,
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
    if (!CHECK(nv_prompt_layout_build(&L, NV_FUSION_X, 3, P, question, NULL,
                                      &err) == 0))
        return;
    CHECK(L.n_segments == 6);
    CHECK(is_text(&L, 0, head, -1, NV_CROSS_NONE));
    CHECK(is_text(&L, 1, "<Image>", -1, NV_CROSS_ALL));
    CHECK(is_text(&L, 2, "<tile_1>", 0, NV_CROSS_TILE));
    CHECK(is_text(&L, 3, "<tile_2>", 1, NV_CROSS_TILE));
    CHECK(is_text(&L, 4, "<tile_global_thumbnail>", 2, NV_CROSS_TILE));
    CHECK(is_text(&L, 5, tail_after_image, -1, NV_CROSS_ALL));
    CHECK(L.n_kv_tags == 0);

    char *text = nv_prompt_layout_text(&L, "<P>", &err);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "%s<Image><tile_1><tile_2><tile_global_thumbnail>%s", head,
             tail_after_image);
    CHECK(text && !strcmp(text, expect));
    free(text);

    /* Rows: 3 head tokens see nothing, <Image> (2 tokens) all 12 keys, each
     * tag's tokens its tile's 4 keys, the tail (5 tokens) all. */
    const int n_keys = nv_prompt_layout_n_keys(&L, NULL, &err);
    CHECK(n_keys == 3 * P);
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
    CHECK(nv_prompt_layout_build(&L, NV_FUSION_X, 1, P, question, NULL,
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
    if (!CHECK(nv_prompt_layout_build(&L, NV_FUSION_H, 3, P, question, NULL,
                                      &err) == 0))
        return;
    CHECK(L.n_segments == 4);
    CHECK(is_text(&L, 0, head, -1, NV_CROSS_NONE));
    CHECK(is_text(&L, 1, "<Image><tile_global_thumbnail>", -1, NV_CROSS_ALL));
    CHECK(is_image(&L, 2, 2, P) && L.segments[2].cross == NV_CROSS_ALL);
    CHECK(is_text(&L, 3, tail_after_image, -1, NV_CROSS_ALL));
    CHECK(L.n_kv_tags == 2 && !strcmp(L.kv_tags[0], "<tile_1>") &&
          !strcmp(L.kv_tags[1], "<tile_2>"));

    char *text = nv_prompt_layout_text(&L, "<P>", &err);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "%s<Image><tile_global_thumbnail><P><P><P><P>%s", head,
             tail_after_image);
    CHECK(text && !strcmp(text, expect));
    free(text);

    /* Keys: (3 tag tokens + 4) + (5 tag tokens + 4). */
    const int tag_tokens[2] = {3, 5};
    const int n_keys = nv_prompt_layout_n_keys(&L, tag_tokens, &err);
    CHECK(n_keys == 16);
    CHECK(nv_prompt_layout_n_keys(&L, NULL, &err) < 0);
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
    CHECK(nv_prompt_layout_build(&L, NV_FUSION_H, 1, P, question, NULL,
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

int main(void)
{
    const char *golden = check_golden_dir();
    check_d_golden(golden, "internvl_tiles");
    check_d_golden(golden, "internvl_tiles_wide");
    check_d_one_tile();
    check_x();
    check_h();
    check_no_image_and_errors();
    return check_summary("prompt_layout");
}
