/* json_file.h - writing a JSON value to a file, for the subcommands that
 * save their results (--json) or write model files (bench --random). */
#ifndef NV_CLI_JSON_FILE_H
#define NV_CLI_JSON_FILE_H

#include <cjson/cJSON.h>

#include "core/error.h"

/* Writes j as indented text and a newline to path (replacing it). A NULL
 * j is taken as a failed cJSON allocation. */
int nv_cli_write_json(const cJSON *j, const char *path, nv_error *err);

#endif
