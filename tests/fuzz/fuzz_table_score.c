/* fuzz_table_score.c - libFuzzer target: the scores of `nvlm eval` (cell
 * accuracy, TEDS, TEDS-S) of one Markdown table against another, both taken
 * from the input: the whole text against its second half. */
#include "fuzz_util.h"
#include "fusion/table_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const char *text = (const char *)data;
    nv_error err = {{0}};
    nv_table_scores s;
    (void)nv_table_score_markdown(text, len, text + len / 2, len - len / 2,
                                  &s, &err);
    return 0;
}
