/* test_table_format.c - making a model's Markdown table well-formed
 * (fusion/table_format.c): hand-made ragged tables are padded or cut to the
 * header's width with one report line per repair, "|" in a cell is written
 * back escaped, and the output parses back to the same cells. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fusion/table_format.h"

static nv_table parse(const char *text)
{
    nv_table t;
    nv_error e = {{0}};
    if (nv_table_parse_markdown(text, strlen(text), &t, &e))
        memset(&t, 0, sizeof t);
    return t;
}

int main(void)
{
    nv_error e = {{0}};
    /* Well-formed: nothing to repair, written back canonically. */
    nv_table t = parse("| a | b |\n|---|:-:|\n| 1 | 2 |\n");
    char *rep = NULL;
    CHECK(nv_table_regularize(&t, &rep, &e) == 0 && rep == NULL);
    char *md = nv_table_write_markdown(&t, &e);
    CHECK(md && !strcmp(md, "| a | b |\n| --- | --- |\n| 1 | 2 |\n"));
    free(md);
    nv_table_free(&t);

    /* Ragged: body row 1 short, body row 2 long. */
    t = parse("| h1 | h2 | h3 |\n| --- | --- | --- |\n| x |\n"
              "| p | q | r | s |\n");
    int n = nv_table_regularize(&t, &rep, &e);
    CHECK(n == 2);
    CHECK(rep && strstr(rep, "body row 1 had 1 cells, the header 3: padded") &&
          strstr(rep, "body row 2 had 4 cells, the header 3: extra cells dropped"));
    free(rep);
    md = nv_table_write_markdown(&t, &e);
    CHECK(md && !strcmp(md, "| h1 | h2 | h3 |\n| --- | --- | --- |\n"
                            "| x |  |  |\n| p | q | r |\n"));
    free(md);
    nv_table_free(&t);

    /* An escaped bar stays one cell and is written escaped. */
    t = parse("| a \\| b | c |\n| --- | --- |\n| 1 | 2 |\n");
    CHECK(t.n_rows == 2 && t.row_cells[0] == 2 &&
          !strcmp(t.cells[0][0], "a | b"));
    md = nv_table_write_markdown(&t, &e);
    CHECK(md && !strcmp(md, "| a \\| b | c |\n| --- | --- |\n| 1 | 2 |\n"));
    nv_table back = parse(md);
    CHECK(back.n_rows == 2 && !strcmp(back.cells[0][0], "a | b"));
    nv_table_free(&back);
    free(md);
    nv_table_free(&t);

    /* A cell ending in a cut UTF-8 sequence scores without reading past
     * its end (ASan build): one changed character of two. */
    nv_table_scores sc;
    const char *pred = "| a |\n| --- |\n| x\xe4 |\n";
    const char *truth = "| a |\n| --- |\n| xy |\n";
    CHECK(nv_table_score_markdown(pred, strlen(pred), truth, strlen(truth),
                                  &sc, &e) == 0);
    CHECK(sc.cell_accuracy == 0.5 && sc.exact_match == 0);

    /* No table at all: regularize refuses. */
    t = parse("no table here");
    CHECK(nv_table_regularize(&t, &rep, &e) < 0);
    nv_table_free(&t);
    return check_summary("table_format");
}
