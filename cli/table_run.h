/* table_run.h - one table image through a model: the Markdown the model
 * writes for nvlm_table_prompt, parsed and made well-formed. Shared by
 * `nvlm table` and `nvlm eval`. */
#ifndef NV_CLI_TABLE_RUN_H
#define NV_CLI_TABLE_RUN_H

#include <stddef.h>

#include "nvlm.h"

typedef struct table_result {
    char *raw;      /* what the model generated (UTF-8 as generated) */
    size_t raw_len;
    char *markdown; /* the well-formed table; NULL when none was found */
    char *repairs;  /* lines describing repairs, NULL when none */
    int n_repairs;
    double ms_total;
} table_result;

/* Greedy generation of at most max_new tokens. Returns -1 with a message
 * (and `out` emptied) only when the model cannot run; a generation without
 * a table is not an error here (markdown = NULL, raw set). */
int table_run(nvlm_model *m, const char *image, int max_new,
              table_result *out, char *err, size_t errlen);
void table_result_free(table_result *r);

#endif
