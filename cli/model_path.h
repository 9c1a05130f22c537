/* model_path.h - which model directory a subcommand uses: the one given
 * with -m, else the bundled model. The build knows two places for it:
 * assets/models/nvlm-tables of the source tree and where `meson install`
 * puts it (PREFIX/share/nvlm/models/nvlm-tables). A command run from the
 * build tree takes the source tree's first; an installed one takes the
 * installed copy first, so it keeps working when the source is gone. */
#ifndef NV_CLI_MODEL_PATH_H
#define NV_CLI_MODEL_PATH_H

#include <stddef.h>

/* Writes the directory into out; prints an error naming `cmd` and returns
 * -1 when no -m was given and no bundled model exists. */
int nv_cli_model_dir(const char *cmd, const char *given, char *out,
                     size_t size);

#endif
