/* pretokenize.c - splits normalized text into words with the
 * pre-tokenizer stages (Split by a regex, ByteLevel) and merges each word
 * with BPE.
 *
 * Stages run in order; each splits every piece the previous one produced,
 * so one stage is a loop over regex matches that hands each resulting
 * piece to the next stage, and the last stage hands words to BPE. Pieces
 * stay byte ranges of the text except when ByteLevel's add_prefix_space
 * puts a space in front, which makes a copy. Regex matching uses PCRE2 on
 * the piece alone, so look-arounds (`\s+(?!\S)`) stop at its ends as in
 * Hugging Face. */
#include "text/tok_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct segment {
    size_t start, end;
    int is_match;
} segment;

typedef struct seglist {
    segment *items;
    size_t n, cap;
} seglist;

typedef struct run_ctx {
    const nv_tokenizer *tok;
    pcre2_match_data *match; /* sized for the largest pattern */
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack; /* made on the first JIT stack overflow */
    nv_bpe_scratch *scratch;
    nv_idvec *out;
    nv_error *err;
} run_ctx;

static int run_stage(run_ctx *c, size_t stage, const char *s, size_t len);

static int seg_push(seglist *l, size_t start, size_t end, int is_match,
                    nv_error *err)
{
    if (start == end)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        segment *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return nv_fail(err, "tokenizer: out of memory splitting text");
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = (segment){start, end, is_match};
    return 0;
}

/* Length of the UTF-8 character starting with byte b (text is valid). */
static size_t char_len(unsigned char b)
{
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* Cuts s into alternating gap / match segments covering all of it. */
static int find_segments(run_ctx *c, const nv_pretok_stage *st,
                         const char *s, size_t len, seglist *l)
{
    size_t pos = 0, gap_start = 0;
    while (pos < len) {
        int rc = pcre2_match(st->regex, (PCRE2_SPTR)s, len, pos,
                             PCRE2_NO_UTF_CHECK, c->match, c->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !c->jit_stack) {
            /* PCRE2's own 32 KiB JIT stack can run out on long runs of one
             * character class; 8 MiB is ample for any text. Made only
             * then: creating it maps 8 MiB, which costs more than
             * encoding a short prompt. */
            c->jit_stack = pcre2_jit_stack_create(32 * 1024,
                                                  8 * 1024 * 1024, NULL);
            if (!c->jit_stack)
                return nv_fail(c->err, "tokenizer: out of memory for regex "
                                       "matching");
            pcre2_jit_stack_assign(c->mctx, NULL, c->jit_stack);
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return nv_fail(c->err, "tokenizer: pre-tokenizer regex failed: "
                                   "%s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->match);
        size_t ms = ov[0], me = ov[1];
        if (ms > me || me > len) /* \K in a lookaround, or invalid UTF-8 */
            return nv_fail(c->err, "tokenizer: pre-tokenizer regex matched "
                                   "outside the text (bytes %zu-%zu of %zu)",
                           ms, me, len);
        if (me == ms) {
            /* An empty match splits nothing; step over one character. One
             * at the very end (`$`) has no character after it: s[len] is
             * past the buffer when the piece is a prefixed copy. */
            if (ms >= len)
                break;
            pos = ms + char_len((unsigned char)s[ms]);
            continue;
        }
        if (seg_push(l, gap_start, ms, 0, c->err) < 0 ||
            seg_push(l, ms, me, 1, c->err) < 0)
            return -1;
        gap_start = pos = me;
    }
    if (seg_push(l, gap_start, len, 0, c->err) < 0)
        return -1;
    if (st->invert)
        for (size_t i = 0; i < l->n; i++)
            l->items[i].is_match = !l->items[i].is_match;
    return 0;
}

/* Turns the segments into pieces in place following the behavior (the
 * rules of HF's SplitDelimiterBehavior); returns the piece count. */
static size_t apply_behavior(nv_split_behavior b, segment *seg, size_t n)
{
    size_t out = 0;
    int prev_match = 0;
    switch (b) {
    case NV_SPLIT_ISOLATED:
        return n;
    case NV_SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!seg[i].is_match)
                seg[out++] = seg[i];
        return out;
    case NV_SPLIT_MERGED_WITH_PREVIOUS:
        for (size_t i = 0; i < n; i++) {
            if (seg[i].is_match && !prev_match && out > 0)
                seg[out - 1].end = seg[i].end;
            else
                seg[out++] = seg[i];
            prev_match = seg[i].is_match;
        }
        return out;
    case NV_SPLIT_MERGED_WITH_NEXT:
        /* Mirror image of the above: walk backwards, then the pieces are
         * at the top end of the array in order. */
        for (size_t i = n; i-- > 0;) {
            segment cur = seg[i];
            if (cur.is_match && !prev_match && out > 0)
                seg[n - out].start = cur.start;
            else
                seg[n - ++out] = cur;
            prev_match = cur.is_match;
        }
        memmove(seg, seg + (n - out), out * sizeof *seg);
        return out;
    case NV_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            if (seg[i].is_match && prev_match && out > 0)
                seg[out - 1].end = seg[i].end;
            else
                seg[out++] = seg[i];
            prev_match = seg[i].is_match;
        }
        return out;
    }
    return n;
}

/* Recurses once per stage (each piece goes through the rest of the
 * pipeline before the next piece); the loader caps the number of stages
 * (NV_TOK_MAX_STEPS), which bounds the depth. */
static int split_and_continue(run_ctx *c, size_t stage, const char *s,
                              size_t len)
{
    const nv_pretok_stage *st = &c->tok->stages[stage];
    seglist l = {0};
    int rc = find_segments(c, st, s, len, &l);
    if (rc == 0) {
        size_t n = apply_behavior(st->behavior, l.items, l.n);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = run_stage(c, stage + 1, s + l.items[i].start,
                           l.items[i].end - l.items[i].start);
    }
    free(l.items);
    return rc;
}

static int run_stage(run_ctx *c, size_t stage, const char *s, size_t len)
{
    if (len == 0)
        return 0;
    if (stage == c->tok->n_stages)
        return nv_bpe_word(c->tok, s, len, c->scratch, c->out, c->err);
    const nv_pretok_stage *st = &c->tok->stages[stage];
    if (st->kind == NV_PRETOK_SPLIT)
        return split_and_continue(c, stage, s, len);
    /* ByteLevel: the byte mapping itself is implicit (vocab pieces were
     * turned into bytes at load), so only the prefix space and the GPT-2
     * split remain. */
    if (st->add_prefix_space && s[0] != ' ') {
        char *prefixed = malloc(len + 1);
        if (!prefixed)
            return nv_fail(c->err, "tokenizer: out of memory");
        prefixed[0] = ' ';
        memcpy(prefixed + 1, s, len);
        int rc = st->regex ? split_and_continue(c, stage, prefixed, len + 1)
                           : run_stage(c, stage + 1, prefixed, len + 1);
        free(prefixed);
        return rc;
    }
    return st->regex ? split_and_continue(c, stage, s, len)
                     : run_stage(c, stage + 1, s, len);
}

int nv_pretokenize_and_merge(const nv_tokenizer *tok, const char *text,
                             size_t len, nv_bpe_scratch *scratch,
                             nv_idvec *out, nv_error *err)
{
    run_ctx c = {.tok = tok, .scratch = scratch, .out = out, .err = err};
    uint32_t pairs = 1;
    for (size_t i = 0; i < tok->n_stages; i++) {
        uint32_t captures = 0;
        if (tok->stages[i].regex)
            pcre2_pattern_info(tok->stages[i].regex, PCRE2_INFO_CAPTURECOUNT,
                               &captures);
        if (captures + 1 > pairs)
            pairs = captures + 1;
    }
    c.match = pcre2_match_data_create(pairs, NULL);
    c.mctx = pcre2_match_context_create(NULL);
    int rc;
    if (!c.match || !c.mctx)
        rc = nv_fail(err, "tokenizer: out of memory for regex matching");
    else
        rc = run_stage(&c, 0, text, len);
    if (c.jit_stack)
        pcre2_jit_stack_free(c.jit_stack);
    pcre2_match_context_free(c.mctx);
    pcre2_match_data_free(c.match);
    return rc;
}
