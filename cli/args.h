/* args.h - option parsing shared by the `nvlm` subcommands.
 *
 * Options are matched one at a time: `--name VALUE` and `--name=VALUE`.
 * Each helper prints its own message naming the command and the option
 * and returns -1 on a bad value, so a command returns exit status 2. */
#ifndef NV_CLI_ARGS_H
#define NV_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

/* Matches `name` at argv[*i]; on a match stores the value and advances *i.
 * Returns 1 on a match, 0 when argv[*i] is something else, -1 when the
 * value is missing. `alias` (may be NULL) is a second spelling ("-m"). */
int nv_arg_value(const char *cmd, int argc, char **argv, int *i,
                 const char *name, const char *alias, const char **value);

/* Stores value in *slot unless an earlier option already set it: an option
 * given twice (a second --image) is refused rather than one silently
 * winning. */
int nv_arg_once(const char *cmd, const char *name, const char *value,
                const char **slot);

/* The most threads -t accepts: more is a typo (-t 1000), not a machine. */
#define NV_ARG_MAX_THREADS 256

/* Whole number in [min, max]. */
int nv_arg_int(const char *cmd, const char *name, const char *text,
               int64_t min, int64_t max, int64_t *out);

/* Finite number in [min, max]. */
int nv_arg_float(const char *cmd, const char *name, const char *text,
                 double min, double max, double *out);

/* Checks a --dtype value (stored, f32, bf16, f16: how weight matrices are
 * held; see nvlm_options.dtype) and stores it in *out; a message naming the
 * command and -1 otherwise. */
int nv_arg_dtype(const char *cmd, const char *value, const char **out);

/* The --dtype line of every command's --help. */
#define NV_ARG_DTYPE_HELP \
    "  --dtype T           weight matrices as stored (f16/bf16/q8_0/q4_0/\n" \
    "                      q4_k read in place; default) or converted at\n" \
    "                      load: f32, bf16, f16, q8_0, q4_0, q4_k\n"

/* The known fusion heads, in the order commands list them. */
#define NV_ARG_FUSION_HEADS "dxh"

/* Parses a --fusion value, the one parser every command uses: a head name
 * (d, x or h, any case) or, where the command takes several (cap >= 3), a
 * comma-separated list of them ("d,X"). Writes the lowercase letters in the
 * order given, NUL-terminated, to out (cap bytes: 2 for a command that takes
 * one head, 4 for all three). An empty value, an empty or unknown item, a
 * repeated head or more heads than out holds: a message naming the command
 * and the known heads, and -1 (exit status 2). */
int nv_arg_fusions(const char *cmd, const char *value, char *out, size_t cap);

#endif
