/* args.h - option parsing shared by the `nvlm` subcommands.
 *
 * Options are matched one at a time: `--name VALUE` and `--name=VALUE`.
 * Each helper prints its own message naming the command and the option
 * and returns -1 on a bad value, so a command returns exit status 2. */
#ifndef NV_CLI_ARGS_H
#define NV_CLI_ARGS_H

#include <stdint.h>

/* Matches `name` at argv[*i]; on a match stores the value and advances *i.
 * Returns 1 on a match, 0 when argv[*i] is something else, -1 when the
 * value is missing. `alias` (may be NULL) is a second spelling ("-m"). */
int nv_arg_value(const char *cmd, int argc, char **argv, int *i,
                 const char *name, const char *alias, const char **value);

/* Whole number in [min, max]. */
int nv_arg_int(const char *cmd, const char *name, const char *text,
               int64_t min, int64_t max, int64_t *out);

/* Finite number in [min, max]. */
int nv_arg_float(const char *cmd, const char *name, const char *text,
                 double min, double max, double *out);

#endif
