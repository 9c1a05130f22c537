/* test_table_metrics.c - fusion/table_metrics on hand-made tables whose
 * scores are worked out by hand (node counts and edit distances in the
 * comments), plus parsing corner cases and a table too large for TEDS. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fusion/table_metrics.h"

/* Header row + 2 body rows of 2 cells: table, thead, tr, td, td, tbody,
 * tr, td, td, tr, td, td = 12 nodes. */
static const char truth[] = "Here is the table:\n\n"
                            "| name | qty |\n"
                            "|:-----|----:|\n"
                            "| abcd | 3 |\n"
                            "| ef | 4 |\n\n"
                            "That is all.\n";

static int near(double a, double b)
{
    return fabs(a - b) < 1e-12;
}

static void expect(const char *label, const char *pred, double em, double ca,
                   double teds)
{
    nv_table_scores s;
    nv_error e = {{0}};
    int rc = nv_table_score_markdown(pred, strlen(pred), truth, strlen(truth),
                                     &s, &e);
    if (!CHECK(rc == 0) || !CHECK(near(s.exact_match, em)) ||
        !CHECK(near(s.cell_accuracy, ca)) || !CHECK(near(s.teds, teds)))
        fprintf(stderr, "%s: rc %d em %.6f ca %.6f teds %.9f (want %.6f "
                "%.6f %.9f) %s\n", label, rc, s.exact_match, s.cell_accuracy,
                s.teds, em, ca, teds, e.msg);
}

static void parse_cases(void)
{
    nv_table t;
    nv_error e = {{0}};
    const char *md = "a | b \\| c | d\n--- | --- | ---\n1 | | 3\n";
    CHECK(nv_table_parse_markdown(md, strlen(md), &t, &e) == 0);
    CHECK(t.n_rows == 2 && t.header_rows == 1);
    if (t.n_rows == 2) {
        CHECK(t.row_cells[0] == 3 && t.row_cells[1] == 3);
        CHECK(!strcmp(t.cells[0][1], "b | c"));
        CHECK(!strcmp(t.cells[1][1], ""));
        CHECK(!strcmp(t.cells[1][2], "3"));
    }
    nv_table_free(&t);
    /* No table at all, and a table that stops at the first plain line. */
    CHECK(nv_table_parse_markdown("just text\n", 10, &t, &e) == 0);
    CHECK(t.n_rows == 0);
    nv_table_free(&t);
    const char *two = "|a|\n|b|\ntext\n|c|\n";
    CHECK(nv_table_parse_markdown(two, strlen(two), &t, &e) == 0);
    CHECK(t.n_rows == 2 && t.header_rows == 0);
    nv_table_free(&t);
    /* Bytes that are not UTF-8 and a NUL-free binary line: no crash. */
    const char bin[] = "|\xff\xfe|\xc3|\n|\xe2\x82|x|\n";
    CHECK(nv_table_parse_markdown(bin, sizeof bin - 1, &t, &e) == 0);
    CHECK(t.n_rows == 2);
    nv_table_free(&t);
}

static void too_large(void)
{
    /* 100 x 40 cells is over NV_TABLE_MAX_NODES: an error, not a crash. */
    size_t cap = 100 * (40 * 4 + 2) + 1, n = 0;
    char *md = malloc(cap);
    for (int r = 0; r < 100; r++) {
        for (int c = 0; c < 40; c++)
            n += (size_t)snprintf(md + n, cap - n, "|%02d", c % 100);
        n += (size_t)snprintf(md + n, cap - n, "|\n");
    }
    nv_table_scores s;
    nv_error e = {{0}};
    CHECK(nv_table_score_markdown(md, n, md, n, &s, &e) == -1);
    CHECK(strstr(e.msg, "TEDS") != NULL);
    free(md);
}

/* 40 x 8 cells (363 nodes) against itself and with one cell changed:
 * 1 and 1 - 1/363 (the changed cell "r0c0" -> "r0cX" costs 1/4). */
static void moderate(void)
{
    size_t cap = 40 * 8 * 16 + 64, n = 0;
    char *a = malloc(cap), *b = malloc(cap);
    for (int r = 0; r < 40; r++) {
        for (int c = 0; c < 8; c++)
            n += (size_t)snprintf(a + n, cap - n, "|r%dc%d", r, c);
        n += (size_t)snprintf(a + n, cap - n, "|\n");
        if (r == 0)
            n += (size_t)snprintf(a + n, cap - n,
                                  "|-|-|-|-|-|-|-|-|\n");
    }
    memcpy(b, a, n + 1);
    char *cell = strstr(b, "r0c0");
    cell[3] = 'X';
    nv_table_scores s;
    nv_error e = {{0}};
    CHECK(nv_table_score_markdown(a, n, a, n, &s, &e) == 0);
    CHECK(near(s.teds, 1) && near(s.exact_match, 1));
    CHECK(nv_table_score_markdown(b, n, a, n, &s, &e) == 0);
    CHECK(near(s.teds, 1 - 0.25 / 363) && near(s.cell_accuracy, 319.0 / 320));
    free(a);
    free(b);
}

int main(void)
{
    /* Perfect, with different spacing and delimiter dashes: all 1. */
    expect("perfect",
           "|name|qty|\n|---|---|\n|abcd|3|\n|  ef  |4|\n", 1, 1, 1);
    /* Empty prediction: all 0. */
    expect("empty", "", 0, 0, 0);
    expect("no table", "I cannot read it.", 0, 0, 0);
    /* One wrong one-character cell: 5 of 6 cells; rename cost
     * lev("4","5")/1 = 1, so TEDS = 1 - 1/12. */
    expect("one wrong cell",
           "| name | qty |\n|---|---|\n| abcd | 3 |\n| ef | 5 |\n", 0,
           5.0 / 6, 1 - 1.0 / 12);
    /* One character of a 4-character cell: rename cost 1/4. */
    expect("one wrong char",
           "| name | qty |\n|---|---|\n| abcx | 3 |\n| ef | 4 |\n", 0,
           5.0 / 6, 1 - 0.25 / 12);
    /* Last row missing: delete tr + 2 td = 3; 4 of 6 cells. */
    expect("missing row", "| name | qty |\n|---|---|\n| abcd | 3 |\n", 0,
           4.0 / 6, 1 - 3.0 / 12);
    /* No delimiter row: the prediction is table, tbody, 3 tr, 6 td. An
     * edit keeps ancestry, so the cheapest is: delete thead and tbody from
     * the truth (2) and insert tbody (1) = 3; TEDS = 1 - 3/12. The cells
     * all match but the header does not. */
    expect("no header",
           "| name | qty |\n| abcd | 3 |\n| ef | 4 |\n", 0, 1, 1 - 3.0 / 12);
    /* An extra column in every row: insert 3 td; cells all right. */
    expect("extra column",
           "| name | qty | x |\n|---|---|---|\n| abcd | 3 | y |\n"
           "| ef | 4 | z |\n", 0, 1, 1 - 3.0 / 15);
    parse_cases();
    too_large();
    moderate();
    /* Two empty tables agree. */
    nv_table_scores s;
    nv_error e = {{0}};
    CHECK(nv_table_score_markdown("", 0, "none", 4, &s, &e) == 0);
    CHECK(near(s.exact_match, 1) && near(s.cell_accuracy, 1) &&
          near(s.teds, 1));
    return check_summary("table_metrics");
}
