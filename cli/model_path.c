/* model_path.c - the model directory of a subcommand; see model_path.h. */
#include "cli/model_path.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int has_config(const char *dir)
{
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    struct stat sb;
    return stat(cfg, &sb) == 0;
}

/* Whether this executable lies in the build tree it was built in. */
static int run_from_build_tree(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 1;
    exe[n] = '\0';
    size_t root = strlen(NVLM_BUILD_ROOT);
    return strncmp(exe, NVLM_BUILD_ROOT, root) == 0 && exe[root] == '/';
}

int nv_cli_model_dir(const char *cmd, const char *given, char *out,
                     size_t size)
{
    if (given) {
        snprintf(out, size, "%s", given);
        return 0;
    }
    const char *first = NVLM_INSTALLED_MODEL, *second = NVLM_SOURCE_MODEL;
    if (run_from_build_tree()) {
        first = NVLM_SOURCE_MODEL;
        second = NVLM_INSTALLED_MODEL;
    }
    const char *dir = has_config(first) ? first
                      : has_config(second) ? second : NULL;
    if (!dir) {
        fprintf(stderr, "nvlm %s: no -m DIR given and no bundled model at "
                "%s or %s\n", cmd, first, second);
        return -1;
    }
    snprintf(out, size, "%s", dir);
    return 0;
}
