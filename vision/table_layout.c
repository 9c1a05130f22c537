/* table_layout.c - rows, columns and cells from projection profiles; see
 * table_layout.h for the method. */
#include "vision/table_layout.h"

#ifdef NV_LAYOUT_TRACE
#include <stdio.h>
#endif
#include <limits.h>
#include <stdlib.h>
#include <string.h>


/* Vertical rules (find_vertical_rules): an x column is a candidate when its
 * faint ink (contrast above RULE_CONTRAST: a light rule on a shaded band is
 * still there) covers RULE_CANDIDATE of the table's height, and a rule when
 * it also shows in 2/3 of the blank gaps between the text lines (in at
 * least RULE_GAP_SHARE of a gap's pixel rows, less RULE_GAP_TRIM rows
 * beside each line). */
#define RULE_CANDIDATE 0.4
#define RULE_CONTRAST 20
#define RULE_GAP_SHARE 0.3
#define RULE_GAP_TRIM 2

/* Columns (choose_columns): a blank x range is a candidate gap when it is at
 * least MIN_COL_GAP pixels wide; between two columns that both hold body
 * text it must be at least COL_GAP_FRACTION of the line height (a
 * word space is about 0.3 of the font size, but a word space is never blank
 * on every line without the header settling it; the narrowest column gaps,
 * 3 px of padding on each side, are 0.27 of it, less with blur) or the
 * header line must be blank over HEADER_SPLIT_FRACTION of it there (two
 * header words; the letters of one are far closer); where one side holds
 * only header ink, the header must be broken by HEADER_GAP_FRACTION. The
 * line height here is the 75th percentile of the lines (with descenders). */
#define MIN_COL_GAP 4
#define COL_GAP_FRACTION 0.22
#define HEADER_SPLIT_FRACTION 0.3
#define HEADER_GAP_FRACTION 0.4
/* Edges of one column's lines within this many pixels are aligned. */
#define ALIGN_SLACK 2

/* Lines lower than this are specks of noise, not text. */
#define MIN_LINE_HEIGHT 3

void nv_table_layout_free(nv_table_layout *layout)
{
    free(layout->rows);
    free(layout->cols);
    free(layout->cells);
    memset(layout, 0, sizeof *layout);
}

typedef struct {
    int a, b; /* [a, b) */
} span;

/* Runs of indices whose count is > 0, joining runs separated by gaps of at
 * most `join` blank indices. Returns the number of runs (at most cap; more
 * are counted but not stored). */
static int find_runs(const int *count, int n, int join, span *runs, int cap)
{
    int k = 0;
    int i = 0;
    while (i < n) {
        while (i < n && count[i] == 0)
            i++;
        if (i >= n)
            break;
        int a = i;
        while (i < n && count[i] > 0)
            i++;
        if (k > 0 && k <= cap && a - runs[k - 1].b <= join) {
            runs[k - 1].b = i;
            continue;
        }
        if (k < cap)
            runs[k] = (span){a, i};
        k++;
    }
    return k;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Vertical rules over the table's rows [y0, y1). A column of x is a
 * candidate when its faint ink (contrast above RULE_CONTRAST) covers
 * RULE_CANDIDATE of that height; the text lines are then found without the
 * candidates, and a candidate is a rule when it shows in most of the blank
 * gaps between those lines (text never does: the gaps are where no text
 * is). A rule can vanish where it crosses a band of its own colour (a dark
 * header, a horizontal rule), so coverage alone is not enough, and a column
 * of right-aligned digits covers as much of the height as a broken rule.
 * Marks is_rule[x]; returns the number of rule columns. */
static int find_vertical_rules(const uint8_t *ink, const uint8_t *contrast,
                               int w, int y0, int y1, unsigned char *is_rule,
                               int *prof, span *lines, int cap)
{
    memset(is_rule, 0, (size_t)w);
    int height = y1 - y0;
    if (height < 8)
        return 0;
    unsigned char *cand = calloc((size_t)w, 1);
    int *cover = calloc((size_t)w, sizeof(int));
    int *sorted = malloc(sizeof(int) * (size_t)height);
    if (!cand || !cover || !sorted) {
        free(cand);
        free(cover);
        free(sorted);
        return -1;
    }
    int n_cand = 0;
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = contrast + (size_t)y * w;
        for (int x = 0; x < w; x++)
            cover[x] += row[x] > RULE_CONTRAST;
    }
    for (int x = 0; x < w; x++)
        if (cover[x] >= RULE_CANDIDATE * height) {
            cand[x] = 1;
            n_cand++;
        }
    int n_rules = 0;
    if (n_cand) {
        /* The lines without rules: rows holding clearly more ink than the
         * rows between lines, where only the rules are (the 20th percentile
         * of the rows' ink counts, when well below the 80th). */
        for (int y = 0; y < height; y++) {
            int n = 0;
            const uint8_t *row = ink + (size_t)(y + y0) * w;
            for (int x = 0; x < w; x++)
                n += row[x];
            prof[y] = sorted[y] = n;
        }
        qsort(sorted, (size_t)height, sizeof(int), cmp_int);
        int base = sorted[height / 5];
        if (3 * base > sorted[(4 * height) / 5])
            base = 0; /* no rows between lines: one line, or none */
        for (int y = 0; y < height; y++)
            prof[y] = prof[y] > base + 2 + base / 4;
        int n_lines = find_runs(prof, height, 1, lines, cap);
        if (n_lines > cap)
            n_lines = cap;
#ifdef NV_LAYOUT_TRACE
        for (int i = 0; i < n_lines; i++)
            fprintf(stderr, "rule pass line [%d, %d)\n", lines[i].a + y0,
                    lines[i].b + y0);
#endif
        /* The gaps: above the first line, between lines, below the last. */
        for (int x = 0; x < w; x++) {
            if (!cand[x])
                continue;
            int gaps = 0, shown = 0;
            for (int i = 0; i <= n_lines; i++) {
                /* Without the rows next to text, where blur spreads
                 * faint ink. */
                int a = i == 0 ? 0 : lines[i - 1].b + RULE_GAP_TRIM;
                int b = i == n_lines ? y1 - y0 : lines[i].a - RULE_GAP_TRIM;
                if (b <= a)
                    continue;
                int n = 0;
                for (int y = a; y < b; y++)
                    n += contrast[(size_t)(y + y0) * w + x] > RULE_CONTRAST;
                gaps++;
                shown += n > 0 && n >= RULE_GAP_SHARE * (b - a);
            }
#ifdef NV_LAYOUT_TRACE
            fprintf(stderr, "rule candidate x %d: shown in %d of %d gaps\n",
                    x, shown, gaps);
#endif
            if (gaps > 0 && 3 * shown >= 2 * gaps) {
                is_rule[x] = 1;
                n_rules++;
            }
        }
    }
    free(cand);
    free(cover);
    free(sorted);
    return n_rules;
}

/* Clears the ink of the rule columns and of the columns beside them (a
 * blurred rule spreads, and text keeps its cell padding away from a rule)
 * over [y0, y1). */
static void clear_rules(uint8_t *ink, const unsigned char *is_rule, int w,
                        int y0, int y1)
{
    for (int x = 0; x < w; x++) {
        if (!is_rule[x])
            continue;
        for (int dx = -1; dx <= 1; dx++)
            if (x + dx >= 0 && x + dx < w)
                for (int y = y0; y < y1; y++)
                    ink[(size_t)y * w + x + dx] = 0;
    }
}

static int no_table(nv_error *err, const char *why)
{
    nv_fail(err, "no table found: %s", why);
    return NV_LAYOUT_NO_TABLE;
}

/* Ink box of the region [x0, x1) x [y0, y1). */
static nv_box ink_box(const uint8_t *ink, int w, int x0, int y0, int x1,
                      int y1)
{
    nv_box b = {x1, y1, x0, y0};
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            if (ink[(size_t)y * w + x]) {
                if (x < b.x0) b.x0 = x;
                if (x + 1 > b.x1) b.x1 = x + 1;
                if (y < b.y0) b.y0 = y;
                if (y + 1 > b.y1) b.y1 = y + 1;
            }
    if (b.x0 >= b.x1)
        return (nv_box){0, 0, 0, 0};
    return b;
}

/* Text lines of the ink rows [y0, y1): runs of rows holding ink (blank
 * rows of one pixel joined), at least MIN_LINE_HEIGHT high, without the
 * specks that blur or JPEG leave along a rule (far lower than text).
 * Returns the count (at most cap; more are counted). */
static int find_lines(const uint8_t *ink, int w, int h, int *prof,
                      span *lines, int *heights, int cap)
{
    for (int y = 0; y < h; y++) {
        int n = 0;
        const uint8_t *row = ink + (size_t)y * w;
        for (int x = 0; x < w; x++)
            n += row[x];
        prof[y] = n;
    }
    int n_runs = find_runs(prof, h, 1, lines, cap);
    int n_lines = 0;
    for (int i = 0; i < n_runs && i < cap; i++)
        if (lines[i].b - lines[i].a >= MIN_LINE_HEIGHT)
            lines[n_lines++] = lines[i];
    if (n_lines > 2) {
        for (int i = 0; i < n_lines; i++)
            heights[i] = lines[i].b - lines[i].a;
        qsort(heights, (size_t)n_lines, sizeof(int), cmp_int);
        int median = heights[n_lines / 2], kept = 0;
        for (int i = 0; i < n_lines; i++)
            if (2 * (lines[i].b - lines[i].a) >= median)
                lines[kept++] = lines[i];
        n_lines = kept;
    }
    return n_runs > cap ? n_runs : n_lines;
}

/* Marks occ[x] = 1 where line [a, b) holds ink. */
static void line_occupancy(const uint8_t *ink, int w, int a, int b,
                           uint8_t *occ)
{
    memset(occ, 0, (size_t)w);
    for (int y = a; y < b; y++) {
        const uint8_t *row = ink + (size_t)y * w;
        for (int x = 0; x < w; x++)
            occ[x] |= row[x];
    }
}

typedef struct {
    int a, b;    /* the blank x range [a, b) */
    int forced;  /* holds a vertical rule */
    int kept;    /* a column boundary */
} col_gap;

static int any_in(const uint8_t *occ, int a, int b)
{
    for (int x = a; x < b; x++)
        if (occ[x])
            return 1;
    return 0;
}

/* The kept gaps around a column that ends at gap i (n_gaps: the last
 * column): its left edge, and the index of its left gap (-1: none). */
static int column_left(const col_gap *gaps, int i, int x_left, int *left_gap)
{
    for (int k = i - 1; k >= 0; k--)
        if (gaps[k].kept) {
            *left_gap = k;
            return gaps[k].b;
        }
    *left_gap = -1;
    return x_left;
}

static int column_right(const col_gap *gaps, int n_gaps, int i, int x_right)
{
    for (int k = i + 1; k < n_gaps; k++)
        if (gaps[k].kept)
            return gaps[k].a;
    return x_right;
}

/* Nearest distance, on one line, from a column [a, b) to its neighbour
 * [na, nb) on the side given (neighbour left: na < a), over the lines
 * where both hold ink; INT_MAX when none. */
static int line_distance(const uint8_t *occ, int n_lines, int w, int a, int b,
                         int na, int nb)
{
    int best = INT_MAX;
    for (int r = 0; r < n_lines; r++) {
        const uint8_t *o = occ + (size_t)r * w;
        int first = -1, last = -1, n_first = -1, n_last = -1;
        for (int x = a; x < b; x++)
            if (o[x]) {
                if (first < 0)
                    first = x;
                last = x;
            }
        for (int x = na; x < nb; x++)
            if (o[x]) {
                if (n_first < 0)
                    n_first = x;
                n_last = x;
            }
        if (first < 0 || n_first < 0)
            continue;
        int d = na < a ? first - n_last : n_first - last;
        if (d < best)
            best = d;
    }
    return best;
}

/* Whether the lines' ink in [a, b) starts (side 0) or ends (side 1) at one
 * x, within ALIGN_SLACK, on at least three lines (two can agree by
 * chance). */
static int aligned(const uint8_t *occ, int n_lines, int w, int a, int b,
                   int side)
{
    int lo = INT_MAX, hi = INT_MIN, n = 0;
    for (int r = 0; r < n_lines; r++) {
        const uint8_t *o = occ + (size_t)r * w;
        int e = -1;
        if (side == 0) {
            for (int x = a; x < b && e < 0; x++)
                if (o[x])
                    e = x;
        } else {
            for (int x = b - 1; x >= a && e < 0; x--)
                if (o[x])
                    e = x;
        }
        if (e < 0)
            continue;
        n++;
        lo = e < lo ? e : lo;
        hi = e > hi ? e : hi;
    }
    return n >= 3 && hi - lo <= ALIGN_SLACK;
}

/* Chooses the column boundaries among the gaps (blank x ranges on every
 * line) of [x_left, x_right). occ holds each line's ink columns (line 0 is
 * the header), body[x] counts the body lines with ink at x. A gap holding a
 * vertical rule is a boundary; see table_layout.h for the others. */
static void choose_columns(col_gap *gaps, int n_gaps, const uint8_t *occ,
                           int n_lines, int w, const int *body, int x_left,
                           int x_right, int line_h)
{
    const uint8_t *head = occ;
    for (int i = 0; i < n_gaps; i++)
        gaps[i].kept = gaps[i].forced || gaps[i].b - gaps[i].a >= MIN_COL_GAP;
    /* Every column has a header: a column without header ink is part of a
     * neighbour. Not of one whose only alignment it would break (a
     * right-aligned column to its left, a left-aligned one to its right);
     * else of the one its text is nearest to on its own lines (the union of
     * all lines hides that: "Sao Paulo" right-aligned under "City" is near
     * "Paulo", however close the previous column's longest entry comes to
     * "Sao"); else across the narrower gap. */
    for (;;) {
        int merged = 0;
        for (int i = 0; i <= n_gaps && !merged; i++) {
            if (i < n_gaps && !gaps[i].kept)
                continue;
            int prev;
            int a = column_left(gaps, i, x_left, &prev);
            int b = i == n_gaps ? x_right : gaps[i].a;
            if (any_in(head, a, b))
                continue;
            int can_l = prev >= 0 && !gaps[prev].forced;
            int can_r = i < n_gaps && !gaps[i].forced;
            if (!can_l && !can_r)
                continue;
            int dl = INT_MAX, dr = INT_MAX, bad_l = 0, bad_r = 0;
            if (can_l) {
                int pp;
                int la = column_left(gaps, prev, x_left, &pp);
                int lb = gaps[prev].a;
                dl = line_distance(occ, n_lines, w, a, b, la, lb);
                bad_l = aligned(occ, n_lines, w, la, lb, 1) &&
                        !aligned(occ, n_lines, w, la, lb, 0);
            }
            if (can_r) {
                int ra = gaps[i].b, rb = column_right(gaps, n_gaps, i, x_right);
                dr = line_distance(occ, n_lines, w, a, b, ra, rb);
                bad_r = aligned(occ, n_lines, w, ra, rb, 0) &&
                        !aligned(occ, n_lines, w, ra, rb, 1);
            }
            if (can_l && can_r && bad_l != bad_r) {
                dl = bad_l;
                dr = bad_r;
            }
#ifdef NV_LAYOUT_TRACE
            fprintf(stderr, "headless [%d, %d): line distance left %d right "
                    "%d\n", a, b, dl, dr);
#endif
            if (dl == dr && can_l && can_r) {
                dl = gaps[prev].b - gaps[prev].a;
                dr = gaps[i].b - gaps[i].a;
            }
            if (can_l && (!can_r || dl <= dr))
                gaps[prev].kept = 0;
            else
                gaps[i].kept = 0;
            merged = 1;
        }
        if (!merged)
            break;
    }
    /* Between two columns that both have a header, the gap must be wider
     * than the gaps inside a word. Where only one side holds body text, the
     * gap may be a break inside a header word over blank body: the header
     * itself must then be broken widely. */
    for (int i = 0; i < n_gaps; i++) {
        if (!gaps[i].kept || gaps[i].forced)
            continue;
        int prev;
        int pa = column_left(gaps, i, x_left, &prev);
        int nb = column_right(gaps, n_gaps, i, x_right);
        int body_l = 0, body_r = 0;
        for (int x = pa; x < gaps[i].a && !body_l; x++)
            body_l = body[x] > 0;
        for (int x = gaps[i].b; x < nb && !body_r; x++)
            body_r = body[x] > 0;
        int hl = gaps[i].a, hr = gaps[i].b;
        while (hl > x_left && !head[hl - 1])
            hl--;
        while (hr < x_right && !head[hr])
            hr++;
        int width = gaps[i].b - gaps[i].a;
#ifdef NV_LAYOUT_TRACE
        fprintf(stderr, "gap [%d, %d): width %d, header gap %d, line %d, "
                "body left %d right %d\n", gaps[i].a, gaps[i].b, width,
                hr - hl, line_h, body_l, body_r);
#endif
        if (body_l && body_r)
            gaps[i].kept = width >= COL_GAP_FRACTION * line_h ||
                           hr - hl >= HEADER_SPLIT_FRACTION * line_h;
        else
            gaps[i].kept = hr - hl >= HEADER_GAP_FRACTION * line_h;
    }
}

static int layout_from_ink(uint8_t *ink, const uint8_t *contrast, int w,
                           int h, nv_table_layout *out, nv_error *err)
{
    int *prof = calloc((size_t)(w > h ? w : h), sizeof(int));
    span *lines = malloc(sizeof(span) * (NV_LAYOUT_MAX_ROWS + 1));
    int *heights = malloc(sizeof(int) * (NV_LAYOUT_MAX_ROWS + 1));
    unsigned char *is_rule = malloc((size_t)w);
    uint8_t *occ = NULL;
    int *count = calloc((size_t)w, sizeof(int));
    col_gap *gaps = NULL;
    int rc = -1;
    if (!prof || !lines || !heights || !is_rule || !count) {
        nv_fail(err, "layout: out of memory");
        goto done;
    }
    /* The table's vertical extent, then its rules, then its lines. */
    int top = -1, bottom = -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = ink + (size_t)y * w;
        int any = 0;
        for (int x = 0; x < w && !any; x++)
            any = row[x];
        if (any) {
            if (top < 0)
                top = y;
            bottom = y + 1;
        }
    }
    if (top < 0) {
        rc = no_table(err, "the image is blank (no ink)");
        goto done;
    }
    int n_rules = find_vertical_rules(ink, contrast, w, top, bottom, is_rule,
                                      prof, lines, NV_LAYOUT_MAX_ROWS + 1);
    if (n_rules < 0) {
        nv_fail(err, "layout: out of memory");
        goto done;
    }
    clear_rules(ink, is_rule, w, top, bottom);
    int n_lines = find_lines(ink, w, h, prof, lines, heights,
                             NV_LAYOUT_MAX_ROWS + 1);
    if (n_lines > NV_LAYOUT_MAX_ROWS) {
        nv_fail(err, "layout: more than %d text lines: too large a table",
                NV_LAYOUT_MAX_ROWS);
        goto done;
    }
    if (n_lines == 0) {
        rc = no_table(err, "no line of text (only specks)");
        goto done;
    }
    if (n_lines < 2) {
        rc = no_table(err, "one line of text, not a header and a row");
        goto done;
    }
    for (int i = 0; i < n_lines; i++)
        heights[i] = lines[i].b - lines[i].a;
    qsort(heights, (size_t)n_lines, sizeof(int), cmp_int);
    int line_h = heights[n_lines / 2];
    /* The scale of the gap widths: the height of the lines with ascenders
     * and descenders (the median line can lack descenders). */
    int text_h = heights[(3 * n_lines) / 4];
    if (heights[n_lines - 1] > 3 * line_h + 4) {
        rc = no_table(err, "ink regions of very different heights "
                           "(a picture, not rows of text)");
        goto done;
    }
    /* Columns: ink over the lines only. */
    occ = malloc((size_t)n_lines * w);
    if (!occ) {
        nv_fail(err, "layout: out of memory");
        goto done;
    }
    long total_ink = 0, line_area = 0;
    for (int i = 0; i < n_lines; i++) {
        uint8_t *o = occ + (size_t)i * w;
        line_occupancy(ink, w, lines[i].a, lines[i].b, o);
        for (int x = 0; x < w; x++)
            count[x] += o[x];
        line_area += (long)(lines[i].b - lines[i].a) * w;
        for (int y = lines[i].a; y < lines[i].b; y++) {
            const uint8_t *row = ink + (size_t)y * w;
            for (int x = 0; x < w; x++)
                total_ink += row[x];
        }
    }
    int x_left = 0, x_right = w;
    while (x_left < w && !count[x_left])
        x_left++;
    while (x_right > x_left && !count[x_right - 1])
        x_right--;
    int n_gaps = 0;
    for (int x = x_left + 1; x < x_right; x++)
        n_gaps += !count[x] && count[x - 1];
    gaps = malloc(sizeof(col_gap) * (size_t)(n_gaps + 1));
    if (!gaps) {
        nv_fail(err, "layout: out of memory");
        goto done;
    }
    n_gaps = 0;
    for (int x = x_left; x < x_right;) {
        if (count[x]) {
            x++;
            continue;
        }
        int a = x;
        while (x < x_right && !count[x])
            x++;
        col_gap g = {a, x, 0, 0};
        for (int k = a - 1; k <= x && !g.forced; k++)
            g.forced = k >= 0 && k < w && is_rule[k];
        gaps[n_gaps++] = g;
    }
    for (int x = 0; x < w; x++)
        count[x] -= occ[x]; /* now the body lines only */
    choose_columns(gaps, n_gaps, occ, n_lines, w, count, x_left, x_right,
                   text_h);
    int n_bands = 1;
    for (int i = 0; i < n_gaps; i++)
        n_bands += gaps[i].kept;
    if (n_bands > NV_LAYOUT_MAX_COLS) {
        nv_fail(err, "layout: more than %d columns: too large a table",
                NV_LAYOUT_MAX_COLS);
        goto done;
    }
    if (n_bands < 2) {
        rc = no_table(err, "one column of text, not a table");
        goto done;
    }
    if (total_ink > 0.6 * (double)line_area * (x_right - x_left) / w) {
        rc = no_table(err, "ink covers most of the area (a picture, not "
                           "text)");
        goto done;
    }

    out->n_rows = n_lines;
    out->n_cols = n_bands;
    out->line_height = line_h;
    out->ink_threshold = NV_LAYOUT_INK_THRESHOLD;
    out->rows = malloc(sizeof(nv_box) * n_lines);
    out->cols = malloc(sizeof(nv_box) * n_bands);
    out->cells = malloc(sizeof(nv_box) * (size_t)n_lines * n_bands);
    if (!out->rows || !out->cols || !out->cells) {
        nv_table_layout_free(out);
        nv_fail(err, "layout: out of memory");
        goto done;
    }
    int y_top = lines[0].a, y_bottom = lines[n_lines - 1].b;
    for (int r = 0; r < n_lines; r++)
        out->rows[r] = (nv_box){x_left, lines[r].a, x_right, lines[r].b};
    /* A column owns the blank space up to the middle of its gaps. */
    int c = 0, a = x_left;
    for (int i = 0; i <= n_gaps; i++) {
        if (i < n_gaps && !gaps[i].kept)
            continue;
        int b = i == n_gaps ? x_right : (gaps[i].a + gaps[i].b) / 2;
        out->cols[c++] = (nv_box){a, y_top, b, y_bottom};
        a = b;
    }
    for (int r = 0; r < n_lines; r++)
        for (c = 0; c < n_bands; c++)
            out->cells[(size_t)r * n_bands + c] =
                ink_box(ink, w, out->cols[c].x0, out->rows[r].y0,
                        out->cols[c].x1, out->rows[r].y1);
    rc = 0;
done:
    free(prof);
    free(lines);
    free(heights);
    free(is_rule);
    free(occ);
    free(count);
    free(gaps);
    return rc;
}

int nv_table_layout_find(const nv_ink_map *map, nv_table_layout *out,
                         nv_error *err)
{
    memset(out, 0, sizeof *out);
    int w = map->width, h = map->height;
    size_t n = (size_t)w * h;
    uint8_t *ink = malloc(n ? n : 1);
    if (!ink)
        return nv_fail(err, "layout: out of memory for %dx%d", w, h);
    for (size_t i = 0; i < n; i++)
        ink[i] = map->contrast[i] > NV_LAYOUT_INK_THRESHOLD;
    int rc = layout_from_ink(ink, map->contrast, w, h, out, err);
    free(ink);
    return rc;
}
