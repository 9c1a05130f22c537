/* cmd_tokenize.c - placeholder until the subcommand lands. */
#include <stdio.h>

#include "cli/commands.h"

int nv_cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "nvlm tokenize: not built yet\n");
    return 1;
}
