/* json_file.c - a JSON value to a file; see json_file.h. */
#include "cli/json_file.h"

#include <stdio.h>
#include <stdlib.h>

int nv_cli_write_json(const cJSON *j, const char *path, nv_error *err)
{
    char *text = j ? cJSON_Print(j) : NULL;
    if (!text)
        return nv_fail(err, "%s: out of memory", path);
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) == EOF || fputc('\n', f) == EOF;
    /* fclose flushes: a full disk shows here. */
    if (f && fclose(f) != 0)
        bad = 1;
    free(text);
    return bad ? nv_fail(err, "%s: cannot write", path) : 0;
}
