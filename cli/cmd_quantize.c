/* cmd_quantize.c - `nvlm quantize`: writes a model directory whose weight
 * matrices are Q8_0, Q4_0 or Q4_K (core/quantize.c does the work; the
 * formats are in docs/model-format.md, 3.5 to 3.7). The runtime reads them in
 * place (core/lowp.c); a loader that wants f32 gets them dequantized.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/quantize.h"

struct quantize_args {
    const char *model, *out, *type;
    int64_t min_elements;
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nvlm quantize -m DIR -o OUT [--type q8_0|q4_0|q4_k] [options]\n"
        "\n"
        "Writes a copy of the model directory DIR to OUT (a new folder) with\n"
        "its weight matrices quantized; nvlm loads OUT like any model.\n"
        "\n"
        "  -m, --model DIR       model directory (safetensors, Hugging Face\n"
        "                        layout)\n"
        "  -o, --out OUT         folder to create; must not exist yet\n"
        "  --type T              q8_0 (default): int8 in blocks of 32 with\n"
        "                        an f16 scale each, about half of bf16;\n"
        "                        q4_0: 4-bit values likewise, about a\n"
        "                        quarter; q4_k: 4-bit values with a\n"
        "                        scale and an offset per block of 32 in\n"
        "                        super-blocks of 256 (closer to the\n"
        "                        weights than q4_0 at 4.75 bits a value;\n"
        "                        rows not a multiple of 256 long: q4_0)\n"
        "  --min-elements N      leave matrices smaller than N values as\n"
        "                        they are (default 4096)\n"
        "  -h, --help            this text\n");
}

static int parse_args(int argc, char **argv, struct quantize_args *a,
                      int *done)
{
    *done = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            *done = 1;
            return 0;
        }
        if ((m = nv_arg_value("quantize", argc, argv, &i, "--model", "-m",
                              &v))) {
            if (m < 0 || nv_arg_once("quantize", "--model", v, &a->model))
                return 2;
        } else if ((m = nv_arg_value("quantize", argc, argv, &i, "--out",
                                     "-o", &v))) {
            if (m < 0 || nv_arg_once("quantize", "--out", v, &a->out))
                return 2;
        } else if ((m = nv_arg_value("quantize", argc, argv, &i, "--type",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_once("quantize", "--type", v, &a->type))
                return 2;
        } else if ((m = nv_arg_value("quantize", argc, argv, &i,
                                     "--min-elements", NULL, &v))) {
            if (m < 0 || nv_arg_int("quantize", "--min-elements", v, 32,
                                    INT64_MAX, &a->min_elements))
                return 2;
        } else {
            fprintf(stderr, "nvlm quantize: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!a->model || !a->out) {
        fprintf(stderr, "nvlm quantize: give -m DIR and -o OUT\n");
        usage(stderr);
        return 2;
    }
    if (a->type && strcmp(a->type, "q8_0") && strcmp(a->type, "q4_0") &&
        strcmp(a->type, "q4_k")) {
        fprintf(stderr, "nvlm quantize: --type: unknown type '%s' (known: "
                "q8_0, q4_0, q4_k)\n", a->type);
        return 2;
    }
    return 0;
}

int nv_cmd_quantize(int argc, char **argv)
{
    struct quantize_args a = {.min_elements = 4096};
    int done = 0;
    int rc = parse_args(argc, argv, &a, &done);
    if (rc || done)
        return rc;
    struct stat sb;
    if (stat(a.model, &sb) || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "nvlm quantize: -m %s: not a model directory\n",
                a.model);
        return 1;
    }
    nv_error err = {{0}};
    nv_quantize_report r;
    const char *type = a.type ? a.type : "q8_0";
    nv_dtype to = !strcmp(type, "q4_0")   ? NV_Q4_0
                  : !strcmp(type, "q4_k") ? NV_Q4_K
                                          : NV_Q8_0;
    if (nv_quantize_model(a.model, a.out, to, a.min_elements, &r, &err)) {
        fprintf(stderr, "nvlm quantize: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "nvlm quantize: %zu of %zu tensors to %s; weights "
            "%.1f MiB -> %.1f MiB in %s\n", r.quantized, r.tensors,
            type,
            (double)r.bytes_before / (1 << 20),
            (double)r.bytes_after / (1 << 20), a.out);
    return 0;
}
