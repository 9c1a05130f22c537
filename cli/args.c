/* args.c - option parsing shared by the subcommands; see args.h. */
#include "cli/args.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/safetensors.h"

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

int nv_arg_once(const char *cmd, const char *name, const char *value,
                const char **slot)
{
    if (*slot) {
        fprintf(stderr, "nvlm %s: %s given twice ('%s', then '%s'); give it "
                "once\n", cmd, name, *slot, value);
        return -1;
    }
    *slot = value;
    return 0;
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

int nv_arg_fusions(const char *cmd, const char *value, char *out, size_t cap)
{
    size_t n = 0;
    int list = cap > 2;
    const char *p = value;
    if (cap < 2)
        return -1;
    out[0] = '\0';
    for (;;) {
        /* One item: up to the next comma. */
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char c = len == 1 ? (char)tolower((unsigned char)p[0]) : '\0';
        const char *known = c ? strchr(NV_ARG_FUSION_HEADS, c) : NULL;
        if (!known) {
            if (len)
                fprintf(stderr, "nvlm %s: --fusion: unknown fusion '%.*s'; ",
                        cmd, (int)len, p);
            else
                fprintf(stderr, "nvlm %s: --fusion '%s': an empty name; ",
                        cmd, value);
            fprintf(stderr, "the heads are d, x and h%s\n",
                    list ? ", as one or a list such as d,x" : "");
            return -1;
        }
        if (memchr(out, c, n)) {
            fprintf(stderr, "nvlm %s: --fusion: '%s' names '%c' twice\n",
                    cmd, value, c);
            return -1;
        }
        if (n + 1 >= cap) {
            fprintf(stderr, "nvlm %s: --fusion: '%s': %s\n", cmd, value,
                    list ? "too many heads" : "one head only (d, x or h)");
            return -1;
        }
        out[n++] = c;
        out[n] = '\0';
        if (!end)
            return 0;
        p = end + 1;
    }
}

int nv_arg_dtype(const char *cmd, const char *value, const char **out)
{
    nv_weight_mode mode;
    if (nv_weight_mode_parse(value, &mode)) {
        fprintf(stderr, "nvlm %s: --dtype: unknown type '%s' (known: stored, "
                "f32, bf16, f16, q8_0, q4_0, q4_k)\n", cmd, value);
        return -1;
    }
    *out = value;
    return 0;
}
