/* prompt_layout.c - builds the D/X/H prompt segments and the cross-attention
 * rows of a tokenized prompt; see prompt_layout.h for the layouts. */
#include "fusion/prompt_layout.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char default_system[] = "Answer the questions.";
static const char thumbnail_tag[] = "<tile_global_thumbnail>";

/* Largest tile count accepted; far above any real tiling (NVLM uses <= 13)
 * but keeps every count and product well inside an int. */
enum { MAX_TILES = 4096, MAX_TOKENS_PER_TILE = 1 << 16 };

static char *format_string(nv_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *format_string(nv_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        nv_fail(err, "prompt layout: cannot format text");
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        nv_fail(err, "prompt layout: out of memory");
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Tag text of tile i of n (caller frees). */
static char *tile_tag(int i, int n, nv_error *err)
{
    if (i == n - 1)
        return format_string(err, "%s", thumbnail_tag);
    return format_string(err, "<tile_%d>", i + 1);
}

/* Appends a segment; takes ownership of text (even on failure). The array
 * is sized in advance by the builder, so this cannot overflow. */
static int add_text(nv_prompt_layout *L, char *text, int tile,
                    nv_cross_rule cross, nv_error *err)
{
    if (!text)
        return -1;
    nv_prompt_segment *s = &L->segments[L->n_segments++];
    *s = (nv_prompt_segment){NV_SEGMENT_TEXT, text, tile, 0, cross};
    return 0;
}

static void add_image(nv_prompt_layout *L, int tile, nv_cross_rule cross)
{
    nv_prompt_segment *s = &L->segments[L->n_segments++];
    *s = (nv_prompt_segment){NV_SEGMENT_IMAGE, NULL, tile,
                             L->tokens_per_tile, cross};
}

static int build_d(nv_prompt_layout *L, const char *head, const char *tail,
                   nv_error *err)
{
    const int n = L->n_tiles;
    for (int i = 0; i < n; i++) {
        char *tag = tile_tag(i, n, err);
        if (!tag)
            return -1;
        char *text = i == 0 ? format_string(err, "%s<Image>%s", head, tag)
                            : format_string(err, "%s", tag);
        free(tag);
        if (add_text(L, text, -1, NV_CROSS_NONE, err))
            return -1;
        add_image(L, i, NV_CROSS_NONE);
    }
    return add_text(L, format_string(err, "</Image>%s", tail), -1,
                    NV_CROSS_NONE, err);
}

static int build_x(nv_prompt_layout *L, const char *head, const char *tail,
                   nv_error *err)
{
    const int n = L->n_tiles;
    if (add_text(L, format_string(err, "%s", head), -1, NV_CROSS_NONE, err) ||
        add_text(L, format_string(err, "<Image>"), -1, NV_CROSS_ALL, err))
        return -1;
    for (int i = 0; i < n; i++)
        if (add_text(L, tile_tag(i, n, err), i, NV_CROSS_TILE, err))
            return -1;
    return add_text(L, format_string(err, "</Image>%s", tail), -1,
                    NV_CROSS_ALL, err);
}

static int build_h(nv_prompt_layout *L, const char *head, const char *tail,
                   nv_error *err)
{
    const int n = L->n_tiles;
    if (add_text(L, format_string(err, "%s", head), -1, NV_CROSS_NONE, err) ||
        add_text(L, format_string(err, "<Image>%s", thumbnail_tag), -1,
                 NV_CROSS_ALL, err))
        return -1;
    add_image(L, n - 1, NV_CROSS_ALL);
    if (add_text(L, format_string(err, "</Image>%s", tail), -1, NV_CROSS_ALL,
                 err))
        return -1;
    L->n_kv_tags = n - 1;
    if (n > 1) {
        L->kv_tags = calloc((size_t)(n - 1), sizeof *L->kv_tags);
        if (!L->kv_tags)
            return nv_fail(err, "prompt layout: out of memory");
    }
    for (int i = 0; i < n - 1; i++) {
        L->kv_tags[i] = tile_tag(i, n, err);
        if (!L->kv_tags[i])
            return -1;
    }
    return 0;
}

void nv_prompt_layout_free(nv_prompt_layout *L)
{
    for (int i = 0; i < L->n_segments; i++)
        free(L->segments[i].text);
    free(L->segments);
    if (L->kv_tags)
        for (int i = 0; i < L->n_kv_tags; i++)
            free(L->kv_tags[i]);
    free(L->kv_tags);
    memset(L, 0, sizeof *L);
}

/* Checks the arguments and lays out head + image part + tail; with no
 * image the whole prompt is `no_image` (one segment). */
static int build_layout(nv_prompt_layout *L, nv_fusion fusion, int n_tiles,
                        int tokens_per_tile, const char *head,
                        const char *tail, const char *no_image, nv_error *err)
{
    memset(L, 0, sizeof *L);
    if (fusion != NV_FUSION_D && fusion != NV_FUSION_X &&
        fusion != NV_FUSION_H)
        return nv_fail(err, "prompt layout: unknown fusion %d", (int)fusion);
    if (n_tiles < 0 || n_tiles > MAX_TILES)
        return nv_fail(err, "prompt layout: %d tiles (0 to %d allowed)",
                       n_tiles, MAX_TILES);
    if (n_tiles > 0 &&
        (tokens_per_tile <= 0 || tokens_per_tile > MAX_TOKENS_PER_TILE))
        return nv_fail(err, "prompt layout: %d tokens per tile (1 to %d "
                       "allowed)", tokens_per_tile, MAX_TOKENS_PER_TILE);
    L->fusion = fusion;
    L->n_tiles = n_tiles;
    L->tokens_per_tile = n_tiles > 0 ? tokens_per_tile : 0;
    /* D: 2 per tile + 1; X: n + 3; H: 4. */
    L->segments = calloc((size_t)(2 * n_tiles + 4), sizeof *L->segments);
    if (!L->segments)
        return nv_fail(err, "prompt layout: out of memory");
    int rc;
    if (n_tiles == 0)
        rc = add_text(L, format_string(err, "%s", no_image), -1,
                      NV_CROSS_NONE, err);
    else if (fusion == NV_FUSION_D)
        rc = build_d(L, head, tail, err);
    else if (fusion == NV_FUSION_X)
        rc = build_x(L, head, tail, err);
    else
        rc = build_h(L, head, tail, err);
    if (rc) {
        nv_prompt_layout_free(L);
        return -1;
    }
    return 0;
}

int nv_prompt_layout_build(nv_prompt_layout *L, nv_fusion fusion,
                           int n_tiles, int tokens_per_tile,
                           const char *question, const char *system,
                           nv_error *err)
{
    memset(L, 0, sizeof *L);
    if (!question)
        return nv_fail(err, "prompt layout: no question");
    if (!system)
        system = default_system;
    char *head = format_string(err, "<|im_start|>system\n%s<|im_end|>"
                               "<|im_start|>user\n", system);
    char *tail = format_string(err, "\n%s<|im_end|><|im_start|>assistant\n",
                               question);
    /* Without an image, chat() adds no "<image>\n" in front of the
     * question: the tail loses its leading "\n". */
    char *no_image = head && tail ? format_string(err, "%s%s", head, tail + 1)
                                  : NULL;
    int rc = no_image ? build_layout(L, fusion, n_tiles, tokens_per_tile,
                                     head, tail, no_image, err)
                      : -1;
    free(head);
    free(tail);
    free(no_image);
    return rc;
}

int nv_prompt_layout_build_raw(nv_prompt_layout *L, nv_fusion fusion,
                               int n_tiles, int tokens_per_tile,
                               const char *text, nv_error *err)
{
    memset(L, 0, sizeof *L);
    if (!text)
        return nv_fail(err, "prompt layout: no text");
    const char *marker = strstr(text, "<image>");
    if (n_tiles > 0 && !marker)
        return nv_fail(err, "a raw prompt with an image needs \"<image>\" "
                       "where the image goes");
    if (n_tiles == 0 && marker)
        return nv_fail(err, "the raw prompt has \"<image>\" but no image "
                       "was given");
    char *head = marker ? format_string(err, "%.*s", (int)(marker - text),
                                        text)
                        : NULL;
    int rc = (marker && !head)
                 ? -1
                 : build_layout(L, fusion, n_tiles, tokens_per_tile,
                                head ? head : "",
                                marker ? marker + strlen("<image>") : "",
                                text, err);
    free(head);
    return rc;
}

int nv_fusion_parse(const char *name, nv_fusion *out)
{
    static const struct {
        const char *name;
        nv_fusion fusion;
    } table[] = {{"d", NV_FUSION_D}, {"x", NV_FUSION_X}, {"h", NV_FUSION_H}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcasecmp(name, table[i].name)) {
            *out = table[i].fusion;
            return 0;
        }
    return -1;
}

const char *nv_fusion_name(nv_fusion fusion)
{
    switch (fusion) {
    case NV_FUSION_D:
        return "d";
    case NV_FUSION_X:
        return "x";
    case NV_FUSION_H:
        return "h";
    }
    return "?";
}

char *nv_prompt_layout_text(const nv_prompt_layout *L,
                            const char *image_token, nv_error *err)
{
    const size_t token_len = strlen(image_token);
    size_t total = 1;
    for (int i = 0; i < L->n_segments; i++) {
        const nv_prompt_segment *s = &L->segments[i];
        size_t add = s->kind == NV_SEGMENT_TEXT ? strlen(s->text)
                                                : (size_t)s->count * token_len;
        if (add > SIZE_MAX - total) {
            nv_fail(err, "prompt layout: prompt text too long");
            return NULL;
        }
        total += add;
    }
    char *text = malloc(total);
    if (!text) {
        nv_fail(err, "prompt layout: out of memory for %zu bytes", total);
        return NULL;
    }
    char *p = text;
    for (int i = 0; i < L->n_segments; i++) {
        const nv_prompt_segment *s = &L->segments[i];
        if (s->kind == NV_SEGMENT_TEXT) {
            size_t n = strlen(s->text);
            memcpy(p, s->text, n);
            p += n;
        } else {
            for (int k = 0; k < s->count; k++) {
                memcpy(p, image_token, token_len);
                p += token_len;
            }
        }
    }
    *p = '\0';
    return text;
}

int nv_prompt_layout_n_keys(const nv_prompt_layout *L, const int *tag_tokens,
                            nv_error *err)
{
    if (L->fusion == NV_FUSION_X)
        return L->n_tiles * L->tokens_per_tile;
    if (L->fusion != NV_FUSION_H)
        return 0;
    int64_t n = 0;
    for (int i = 0; i < L->n_kv_tags; i++) {
        if (!tag_tokens || tag_tokens[i] < 0)
            return nv_fail(err, "prompt layout: token count of kv tag '%s' "
                           "missing or negative", L->kv_tags[i]);
        n += (int64_t)tag_tokens[i] + L->tokens_per_tile;
        if (n > INT32_MAX)
            return nv_fail(err, "prompt layout: too many keys");
    }
    return (int)n;
}

int nv_prompt_layout_memory_rows(const nv_prompt_layout *L,
                                 const int *tag_tokens, int tile,
                                 int *tag_row, int *tile_row, nv_error *err)
{
    if (L->fusion == NV_FUSION_X) {
        if (tile < 0 || tile >= L->n_tiles)
            return nv_fail(err, "prompt layout: X has no tile %d (%d tiles)",
                           tile, L->n_tiles);
        *tag_row = *tile_row = tile * L->tokens_per_tile;
        return 0;
    }
    if (L->fusion != NV_FUSION_H)
        return nv_fail(err, "prompt layout: head %s has no cross-attention "
                       "memory", nv_fusion_name(L->fusion));
    if (tile < 0 || tile >= L->n_kv_tags)
        return nv_fail(err, "prompt layout: H has no memory tile %d (%d)",
                       tile, L->n_kv_tags);
    /* Rows before tile i: the tags and tiles of kv tiles 0 .. i-1; their sum
     * fits an int when nv_prompt_layout_n_keys accepted the counts. */
    int row = 0;
    for (int i = 0; i < tile; i++) {
        if (!tag_tokens || tag_tokens[i] < 0)
            return nv_fail(err, "prompt layout: token count of kv tag '%s' "
                           "missing or negative", L->kv_tags[i]);
        row += tag_tokens[i] + L->tokens_per_tile;
    }
    if (!tag_tokens || tag_tokens[tile] < 0)
        return nv_fail(err, "prompt layout: token count of kv tag '%s' "
                       "missing or negative", L->kv_tags[tile]);
    *tag_row = row;
    *tile_row = row + tag_tokens[tile];
    return 0;
}

int nv_prompt_layout_cross_rows(const nv_prompt_layout *L,
                                const int *seg_tokens, int n_keys,
                                int *begin, int *end, int n_rows,
                                nv_error *err)
{
    if (n_keys < 0)
        return nv_fail(err, "prompt layout: negative key count %d", n_keys);
    if (L->fusion == NV_FUSION_X && n_keys != L->n_tiles * L->tokens_per_tile)
        return nv_fail(err, "prompt layout: X with %d tiles of %d tokens has "
                       "%d keys, not %d", L->n_tiles, L->tokens_per_tile,
                       L->n_tiles * L->tokens_per_tile, n_keys);
    int row = 0;
    for (int i = 0; i < L->n_segments; i++) {
        const nv_prompt_segment *s = &L->segments[i];
        const int n = seg_tokens[i];
        if (n < 0 || (s->kind == NV_SEGMENT_IMAGE && n != s->count))
            return nv_fail(err, "prompt layout: segment %d has %d tokens%s",
                           i, n, n < 0 ? "" : ", not its image slot's size");
        if (n > n_rows - row)
            return nv_fail(err, "prompt layout: segments hold more than the "
                           "%d rows given", n_rows);
        int b = 0, e = 0;
        if (n_keys > 0 && s->cross == NV_CROSS_ALL) {
            e = n_keys;
        } else if (n_keys > 0 && s->cross == NV_CROSS_TILE) {
            b = s->tile * L->tokens_per_tile;
            e = b + L->tokens_per_tile;
        }
        for (int k = 0; k < n; k++, row++) {
            begin[row] = b;
            end[row] = e;
        }
    }
    if (row != n_rows)
        return nv_fail(err, "prompt layout: segments hold %d rows, not %d",
                       row, n_rows);
    return 0;
}
