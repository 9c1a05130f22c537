/* fuzz_table_md.c - libFuzzer target: the Markdown table reader of `nvlm
 * eval` and `nvlm table`. The input is parsed, regularised, written back
 * and scored against itself and against the text after its first half. */
#include "fuzz_util.h"
#include "fusion/table_format.h"
#include "fusion/table_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const char *text = (const char *)data;
    nv_error err = {{0}};
    nv_table t = {0};
    if (nv_table_parse_markdown(text, len, &t, &err) == 0) {
        char *report = NULL;
        if (nv_table_regularize(&t, &report, &err) >= 0)
            free(nv_table_write_markdown(&t, &err));
        free(report);
        nv_table_free(&t);
    }
    nv_table_scores s;
    (void)nv_table_score_markdown(text, len, text + len / 2, len - len / 2,
                                  &s, &err);
    return 0;
}
