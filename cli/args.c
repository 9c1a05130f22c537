/* args.c - option parsing shared by the subcommands; see args.h. */
#include "cli/args.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int match(const char *arg, const char *name, const char **inline_val)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *inline_val = arg + n + 1;
        return 1;
    }
    return arg[n] == '\0';
}

int nv_arg_value(const char *cmd, int argc, char **argv, int *i,
                 const char *name, const char *alias, const char **value)
{
    const char *inline_val = NULL;
    if (!match(argv[*i], name, &inline_val) &&
        !(alias && match(argv[*i], alias, &inline_val)))
        return 0;
    if (inline_val) {
        *value = inline_val;
        return 1;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "nvlm %s: %s needs a value\n", cmd, name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int nv_arg_int(const char *cmd, const char *name, const char *text,
               int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr,
                "nvlm %s: %s wants a whole number in %" PRId64 "..%" PRId64
                ", not '%s'\n",
                cmd, name, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

int nv_arg_float(const char *cmd, const char *name, const char *text,
                 double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v) || v < min ||
        v > max) {
        fprintf(stderr, "nvlm %s: %s wants a number in %g..%g, not '%s'\n",
                cmd, name, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}
