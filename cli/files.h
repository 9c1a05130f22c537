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

/* An image given as "-": standard input (at most max_bytes) copied into a
 * new temporary file, whose path goes to `path` (cap bytes), because the
 * image decoders and the layout read files. The caller removes it
 * (unlink). Prints "nvlm CMD: standard input: REASON" and returns -1 on an
 * empty or oversized input or a failed write. */
int nv_cli_stdin_image(const char *cmd, size_t max_bytes, char *path,
                       size_t cap);

/* The most bytes the commands read from standard input for an image "-". */
#define NV_CLI_STDIN_IMAGE_MAX ((size_t)256 << 20)

/* Checks, before any work is done, that an output file (`opt` names the
 * option, "-o") can be written: its folder exists and is writable and path
 * is not a directory. Prints "nvlm CMD: OPT PATH: cannot write there:
 * REASON" and returns -1 when not, so a run does not fail after the model
 * has run. Nothing is created. */
int nv_cli_check_output(const char *cmd, const char *opt, const char *path);

/* Writes j as indented text and a newline to path (replacing it). A NULL
 * j is taken as a failed cJSON allocation. */
int nv_cli_write_json(const cJSON *j, const char *path, nv_error *err);

#endif
