/* files.h - reading and writing whole files for the subcommands: a text
 * argument or label read in full, results (--json) and model files
 * (bench --random) written as JSON. */
#ifndef NV_CLI_FILES_H
#define NV_CLI_FILES_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/error.h"

/* All of path ("-": standard input), NUL-terminated (bytes after a NUL
 * inside stay, *len counts them), at most max_bytes. Caller frees. */
char *nv_cli_read_file(const char *path, size_t max_bytes, size_t *len,
                       nv_error *err);

/* Writes j as indented text and a newline to path (replacing it). A NULL
 * j is taken as a failed cJSON allocation. */
int nv_cli_write_json(const cJSON *j, const char *path, nv_error *err);

#endif
