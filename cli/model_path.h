/* model_path.h - which model directory a subcommand uses: the one given
 * with -m, else the bundled model (NVLM_DEFAULT_MODEL, set by the build to
 * assets/models/ of the source tree). */
#ifndef NV_CLI_MODEL_PATH_H
#define NV_CLI_MODEL_PATH_H

#include <stddef.h>

/* Writes the directory into out; prints an error naming `cmd` and returns
 * -1 when no -m was given and no bundled model exists. */
int nv_cli_model_dir(const char *cmd, const char *given, char *out,
                     size_t size);

#endif
