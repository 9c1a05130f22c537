/* model_path.c - the model directory of a subcommand; see model_path.h. */
#include "cli/model_path.h"

#include <stdio.h>
#include <sys/stat.h>

int nv_cli_model_dir(const char *cmd, const char *given, char *out,
                     size_t size)
{
    if (given) {
        snprintf(out, size, "%s", given);
        return 0;
    }
    const char *dir = NVLM_DEFAULT_MODEL;
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    struct stat sb;
    if (stat(cfg, &sb) != 0) {
        fprintf(stderr, "nvlm %s: no -m DIR given and no bundled model at "
                "%s\n", cmd, dir);
        return -1;
    }
    snprintf(out, size, "%s", dir);
    return 0;
}
