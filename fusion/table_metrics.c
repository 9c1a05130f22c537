/* table_metrics.c - Markdown table parsing, exact match, cell accuracy
 * and TEDS (Zhang-Shasha tree edit distance); see table_metrics.h. */
#include "fusion/table_metrics.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void nv_table_free(nv_table *t)
{
    for (int r = 0; r < t->n_rows; r++) {
        for (int c = 0; c < t->row_cells[r]; c++)
            free(t->cells[r][c]);
        free(t->cells[r]);
    }
    free(t->cells);
    free(t->row_cells);
    memset(t, 0, sizeof *t);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* One cell's text, trimmed, with "\|" turned into "|". */
static char *cell_text(const char *s, size_t len)
{
    while (len && is_space(*s)) {
        s++;
        len--;
    }
    while (len && is_space(s[len - 1]))
        len--;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len && s[i + 1] == '|')
            continue;
        out[n++] = s[i];
    }
    out[n] = '\0';
    return out;
}

static int is_delimiter_cell(const char *s)
{
    int dashes = 0;
    for (; *s; s++) {
        if (*s == '-')
            dashes++;
        else if (*s != ':' && !is_space(*s))
            return 0;
    }
    return dashes > 0;
}

/* Splits one line into cells; *n_out = 0 for a line without a bar. */
static int split_row(const char *line, size_t len, char ***cells_out,
                     int *n_out, nv_error *err)
{
    *cells_out = NULL;
    *n_out = 0;
    size_t start = 0, end = len;
    while (start < end && is_space(line[start]))
        start++;
    while (end > start && is_space(line[end - 1]))
        end--;
    int bars = 0;
    for (size_t i = start; i < end; i++)
        if (line[i] == '|' && (i == 0 || line[i - 1] != '\\'))
            bars++;
    if (bars == 0)
        return 0;
    if (line[start] == '|') {
        start++;
        bars--;
    }
    if (end > start && line[end - 1] == '|' &&
        (end - 1 == 0 || line[end - 2] != '\\')) {
        end--;
        bars--;
    }
    int n = bars + 1;
    char **cells = calloc((size_t)n, sizeof *cells);
    if (!cells)
        return nv_fail(err, "table: out of memory");
    size_t from = start;
    int k = 0;
    for (size_t i = start; i <= end && k < n; i++) {
        int at_bar = i < end && line[i] == '|' && (i == 0 || line[i - 1] != '\\');
        if (i != end && !at_bar)
            continue;
        cells[k] = cell_text(line + from, i - from);
        if (!cells[k]) {
            for (int j = 0; j < k; j++)
                free(cells[j]);
            free(cells);
            return nv_fail(err, "table: out of memory");
        }
        k++;
        from = i + 1;
    }
    *cells_out = cells;
    *n_out = k;
    return 0;
}

static void free_cells(char **cells, int n)
{
    for (int i = 0; i < n; i++)
        free(cells[i]);
    free(cells);
}

static int add_row(nv_table *t, char **cells, int n, nv_error *err)
{
    int *rc = realloc(t->row_cells, sizeof(int) * (size_t)(t->n_rows + 1));
    if (rc)
        t->row_cells = rc;
    char ***cc = rc ? realloc(t->cells, sizeof *cc * (size_t)(t->n_rows + 1))
                    : NULL;
    if (!cc) {
        free_cells(cells, n);
        return nv_fail(err, "table: out of memory");
    }
    t->cells = cc;
    t->row_cells[t->n_rows] = n;
    t->cells[t->n_rows] = cells;
    t->n_rows++;
    return 0;
}

int nv_table_parse_markdown(const char *text, size_t len, nv_table *out,
                            nv_error *err)
{
    memset(out, 0, sizeof *out);
    int in_table = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char **cells = NULL;
        int n = 0;
        if (split_row(text + pos, line_len, &cells, &n, err)) {
            nv_table_free(out);
            return -1;
        }
        pos += line_len + (nl ? 1 : 0);
        if (n == 0) {
            if (in_table)
                break;
            continue;
        }
        in_table = 1;
        int delimiter = 1;
        for (int i = 0; i < n; i++)
            delimiter &= is_delimiter_cell(cells[i]);
        if (delimiter && out->header_rows == 0 && out->n_rows > 0) {
            out->header_rows = out->n_rows;
            free_cells(cells, n);
            continue;
        }
        if (add_row(out, cells, n, err)) {
            nv_table_free(out);
            return -1;
        }
    }
    return 0;
}

static double cell_accuracy(const nv_table *p, const nv_table *g)
{
    int total = 0, right = 0;
    for (int r = 0; r < g->n_rows; r++)
        for (int c = 0; c < g->row_cells[r]; c++) {
            total++;
            if (r < p->n_rows && c < p->row_cells[r] &&
                !strcmp(p->cells[r][c], g->cells[r][c]))
                right++;
        }
    if (total == 0)
        return p->n_rows == 0 ? 1.0 : 0.0;
    return (double)right / total;
}

static int exact_match(const nv_table *p, const nv_table *g)
{
    if (p->n_rows != g->n_rows || p->header_rows != g->header_rows)
        return 0;
    for (int r = 0; r < g->n_rows; r++) {
        if (p->row_cells[r] != g->row_cells[r])
            return 0;
        for (int c = 0; c < g->row_cells[r]; c++)
            if (strcmp(p->cells[r][c], g->cells[r][c]))
                return 0;
    }
    return 1;
}

/* ---- TEDS ---- */

enum { TAG_TABLE, TAG_THEAD, TAG_TBODY, TAG_TR, TAG_TD };

typedef struct tree {
    int n;           /* nodes, numbered 1..n in postorder */
    int *tag;        /* [n + 1] */
    const char **text; /* [n + 1] cell text or NULL */
    int *leftmost;   /* [n + 1] postorder index of the leftmost leaf */
    /* each cell's text in code points, decoded once (the distance
     * compares every pair of cells): cp_off[i] into cp, cp_len[i] long */
    uint32_t *cp;
    size_t *cp_off, *cp_len;
    size_t cp_max;   /* the longest cell, in code points */
} tree;

static void tree_free(tree *t)
{
    free(t->tag);
    free(t->text);
    free(t->leftmost);
    free(t->cp);
    free(t->cp_off);
    free(t->cp_len);
}

static int tree_node(tree *t, int tag, const char *text, int leftmost)
{
    int i = ++t->n;
    t->tag[i] = tag;
    t->text[i] = text;
    t->leftmost[i] = leftmost ? leftmost : i;
    return i;
}

/* Rows [from, to) as <tr><td>... under one section node, in postorder.
 * Returns the leftmost leaf of the section. */
static int add_section(tree *t, const nv_table *tab, int from, int to,
                       int tag)
{
    int first_leaf = 0;
    for (int r = from; r < to; r++) {
        int row_leaf = 0;
        for (int c = 0; c < tab->row_cells[r]; c++) {
            int td = tree_node(t, TAG_TD, tab->cells[r][c], 0);
            if (!row_leaf)
                row_leaf = td;
        }
        int tr = tree_node(t, TAG_TR, NULL, row_leaf);
        if (!first_leaf)
            first_leaf = row_leaf ? row_leaf : tr;
    }
    int node = tree_node(t, tag, NULL, first_leaf);
    return first_leaf ? first_leaf : node;
}

/* Decodes UTF-8 into code points (an invalid byte stands for itself). */
static size_t to_code_points(const char *s, uint32_t *out)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp = *p;
        int extra = cp >= 0xF0 ? 3 : cp >= 0xE0 ? 2 : cp >= 0xC0 ? 1 : 0;
        int ok = 1;
        /* Stop at the first non-continuation byte: it may be the NUL. */
        for (int k = 1; k <= extra && ok; k++)
            ok = (p[k] & 0xC0) == 0x80;
        if (!ok)
            extra = 0;
        else if (extra)
            cp &= 0x3Fu >> extra;
        for (int k = 1; k <= extra; k++)
            cp = (cp << 6) | (p[k] & 0x3F);
        out[n++] = cp;
        p += 1 + extra;
    }
    return n;
}

/* Fills t->cp, cp_off, cp_len and cp_max from the cells' texts. */
static int tree_code_points(tree *t)
{
    size_t bytes = 0;
    for (int i = 1; i <= t->n; i++)
        if (t->text[i])
            bytes += strlen(t->text[i]);
    t->cp = malloc(sizeof(uint32_t) * (bytes + 1));
    t->cp_off = calloc((size_t)t->n + 1, sizeof(size_t));
    t->cp_len = calloc((size_t)t->n + 1, sizeof(size_t));
    if (!t->cp || !t->cp_off || !t->cp_len)
        return -1;
    size_t used = 0;
    for (int i = 1; i <= t->n; i++) {
        t->cp_off[i] = used;
        if (t->text[i])
            t->cp_len[i] = to_code_points(t->text[i], t->cp + used);
        used += t->cp_len[i];
        if (t->cp_len[i] > t->cp_max)
            t->cp_max = t->cp_len[i];
    }
    return 0;
}

static int tree_build(tree *t, const nv_table *tab, nv_error *err)
{
    int n = 1 + 2;
    for (int r = 0; r < tab->n_rows; r++)
        n += 1 + tab->row_cells[r];
    if (n > NV_TABLE_MAX_NODES)
        return nv_fail(err, "table: %d nodes is above the TEDS limit of %d",
                       n, NV_TABLE_MAX_NODES);
    memset(t, 0, sizeof *t);
    t->tag = calloc((size_t)n + 1, sizeof(int));
    t->text = calloc((size_t)n + 1, sizeof(char *));
    t->leftmost = calloc((size_t)n + 1, sizeof(int));
    if (!t->tag || !t->text || !t->leftmost) {
        tree_free(t);
        return nv_fail(err, "table: out of memory");
    }
    int first_leaf = 0;
    if (tab->header_rows > 0)
        first_leaf = add_section(t, tab, 0, tab->header_rows, TAG_THEAD);
    if (tab->n_rows > tab->header_rows) {
        int leaf = add_section(t, tab, tab->header_rows, tab->n_rows,
                               TAG_TBODY);
        if (!first_leaf)
            first_leaf = leaf;
    }
    tree_node(t, TAG_TABLE, NULL, first_leaf);
    if (tree_code_points(t) < 0) {
        tree_free(t);
        return nv_fail(err, "table: out of memory");
    }
    return 0;
}

/* Levenshtein distance over code points / the longer length; row is
 * scratch of nb + 1 entries. */
static double normalized_levenshtein(const uint32_t *ca, size_t na,
                                     const uint32_t *cb, size_t nb,
                                     size_t *row)
{
    if (na == 0 && nb == 0)
        return 0.0;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (ca[i - 1] != cb[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t longest = na > nb ? na : nb;
    return (double)row[nb] / (double)longest;
}

static double rename_cost(const tree *a, int i, const tree *b, int j,
                          size_t *row)
{
    if (a->tag[i] != b->tag[j])
        return 1.0;
    if (a->tag[i] != TAG_TD)
        return 0.0;
    return normalized_levenshtein(a->cp + a->cp_off[i], a->cp_len[i],
                                  b->cp + b->cp_off[j], b->cp_len[j], row);
}

static double min3(double x, double y, double z)
{
    double m = x < y ? x : y;
    return m < z ? m : z;
}

/* Marks the key roots: the highest-numbered node of each leftmost leaf
 * (key[i] = 1). last[] is scratch of n + 1 ints. */
static void mark_keyroots(const tree *t, int *last, unsigned char *key)
{
    for (int i = 1; i <= t->n; i++)
        last[t->leftmost[i]] = i;
    for (int i = 1; i <= t->n; i++)
        key[i] = last[t->leftmost[i]] == i;
}

/* Zhang-Shasha ordered tree edit distance with unit insert/delete. td
 * holds tree distances, fd forest distances, both [a->n + 1][b->n + 1]
 * indexed by postorder numbers. */
static int tree_distance(const tree *a, const tree *b, double *out,
                         nv_error *err)
{
    const size_t w = (size_t)b->n + 1;
    const size_t n_max = (size_t)(a->n > b->n ? a->n : b->n) + 1;
    double *td = calloc(((size_t)a->n + 1) * w, sizeof(double));
    double *fd = calloc(((size_t)a->n + 1) * w, sizeof(double));
    int *last = calloc(n_max, sizeof(int));
    unsigned char *key_a = calloc(n_max, 1), *key_b = calloc(n_max, 1);
    size_t *row = malloc(sizeof(size_t) * (b->cp_max + 1));
    if (!td || !fd || !last || !key_a || !key_b || !row) {
        free(row);
        free(td);
        free(fd);
        free(last);
        free(key_a);
        free(key_b);
        return nv_fail(err, "table: out of memory");
    }
    mark_keyroots(a, last, key_a);
    mark_keyroots(b, last, key_b);
    for (int i = 1; i <= a->n; i++) {
        if (!key_a[i])
            continue;
        for (int j = 1; j <= b->n; j++) {
            if (!key_b[j])
                continue;
            const size_t li = (size_t)a->leftmost[i];
            const size_t lj = (size_t)b->leftmost[j];
            fd[(li - 1) * w + lj - 1] = 0;
            for (size_t x = li; x <= (size_t)i; x++)
                fd[x * w + lj - 1] = fd[(x - 1) * w + lj - 1] + 1;
            for (size_t y = lj; y <= (size_t)j; y++)
                fd[(li - 1) * w + y] = fd[(li - 1) * w + y - 1] + 1;
            for (size_t x = li; x <= (size_t)i; x++)
                for (size_t y = lj; y <= (size_t)j; y++) {
                    double del = fd[(x - 1) * w + y] + 1;
                    double ins = fd[x * w + y - 1] + 1;
                    size_t lx = (size_t)a->leftmost[x];
                    size_t ly = (size_t)b->leftmost[y];
                    if (lx == li && ly == lj) {
                        /* Both are whole trees rooted at x and y. */
                        double ren = fd[(x - 1) * w + y - 1] +
                                     rename_cost(a, (int)x, b, (int)y, row);
                        fd[x * w + y] = min3(del, ins, ren);
                        td[x * w + y] = fd[x * w + y];
                    } else {
                        double sub = fd[(lx - 1) * w + ly - 1] + td[x * w + y];
                        fd[x * w + y] = min3(del, ins, sub);
                    }
                }
        }
    }
    *out = td[(size_t)a->n * w + (size_t)b->n];
    free(row);
    free(td);
    free(fd);
    free(last);
    free(key_a);
    free(key_b);
    return 0;
}

static int teds(const nv_table *p, const nv_table *g, double *out,
                nv_error *err)
{
    if (g->n_rows == 0 || p->n_rows == 0) {
        *out = g->n_rows == 0 && p->n_rows == 0 ? 1.0 : 0.0;
        return 0;
    }
    tree tp, tg;
    if (tree_build(&tp, p, err))
        return -1;
    if (tree_build(&tg, g, err)) {
        tree_free(&tp);
        return -1;
    }
    double dist = 0;
    int rc = tree_distance(&tp, &tg, &dist, err);
    int larger = tp.n > tg.n ? tp.n : tg.n;
    if (!rc)
        *out = 1.0 - dist / larger;
    tree_free(&tp);
    tree_free(&tg);
    return rc;
}

int nv_table_score(const nv_table *pred, const nv_table *truth,
                   nv_table_scores *out, nv_error *err)
{
    out->exact_match = exact_match(pred, truth);
    out->cell_accuracy = cell_accuracy(pred, truth);
    return teds(pred, truth, &out->teds, err);
}

int nv_table_score_markdown(const char *pred, size_t pred_len,
                            const char *truth, size_t truth_len,
                            nv_table_scores *out, nv_error *err)
{
    nv_table p, g;
    if (nv_table_parse_markdown(pred, pred_len, &p, err))
        return -1;
    if (nv_table_parse_markdown(truth, truth_len, &g, err)) {
        nv_table_free(&p);
        return -1;
    }
    int rc = nv_table_score(&p, &g, out, err);
    nv_table_free(&p);
    nv_table_free(&g);
    return rc;
}
