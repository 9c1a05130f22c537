/* fuzz_table_md.c - libFuzzer target: the Markdown table reader of `nvlm
 * eval` and `nvlm table`. The input is parsed, regularised and written
 * back. Scoring (TEDS, a tree edit distance) ran ten to twenty times slower
 * than the reader, so it has its own target, fuzz_table_score.c. */
#include "fuzz_util.h"
#include "fusion/table_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    nv_error err = {{0}};
    nv_table t = {0};
    if (nv_table_parse_markdown((const char *)data, len, &t, &err) == 0) {
        char *report = NULL;
        if (nv_table_regularize(&t, &report, &err) >= 0)
            free(nv_table_write_markdown(&t, &err));
        free(report);
        nv_table_free(&t);
    }
    return 0;
}
