/* cmd_table.c - `nvlm table`: a picture of a table in, a GitHub-Markdown
 * table out.
 *
 *   nvlm table IMAGE [-o FILE] [--json] [--fusion d|x|h] [-m DIR] [-t N]
 *              [-n N]
 *
 * Without -m the bundled model is used. The output is always a well-formed
 * table (header, separator, equal cell counts, "|" escaped): a ragged
 * generation is repaired and the repairs are reported on stderr; a
 * generation with no table at all is an error (exit 1) that shows what the
 * model wrote.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_path.h"
#include "cli/table_run.h"
#include "nvlm.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nvlm table IMAGE [-o FILE] [--json] [--fusion d|x|h] [-m DIR]\n"
        "                  [-t N] [-n N]\n"
        "\n"
        "Reads the table in IMAGE and prints it as a GitHub-Markdown table.\n"
        "\n"
        "  -m, --model DIR    model directory (default: the bundled model)\n"
        "  --fusion d|x|h     the fusion head (default: the model's)\n"
        "  -o, --output FILE  write the table to FILE instead of stdout\n"
        "  --json             print {markdown, repaired, repairs, raw, ...}\n"
        "  -n, --n-predict N  most tokens to generate (default 1024)\n"
        "  -t, --threads N    threads (default: all cores)\n"
        "  -h, --help         this text\n");
}

struct table_args {
    const char *image, *model, *output;
    nvlm_options opt;
    int json;
    int max_new;
};

static int parse_args(int argc, char **argv, struct table_args *a, int *done)
{
    *done = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        int64_t n;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            *done = 1;
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            a->json = 1;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--model", "-m",
                                     &v))) {
            if (m < 0)
                return 2;
            a->model = v;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--output",
                                     "-o", &v))) {
            if (m < 0)
                return 2;
            a->output = v;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--fusion",
                                     NULL, &v))) {
            if (m < 0)
                return 2;
            a->opt.fusion = v;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--n-predict",
                                     "-n", &v))) {
            if (m < 0 || nv_arg_int("table", "-n", v, 1, 1 << 20, &n))
                return 2;
            a->max_new = (int)n;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--threads",
                                     "-t", &v))) {
            if (m < 0 || nv_arg_int("table", "-t", v, 1, 1024, &n))
                return 2;
            a->opt.threads = (int)n;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "nvlm table: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!a->image) {
            a->image = argv[i];
        } else {
            fprintf(stderr, "nvlm table: one IMAGE at a time ('%s')\n",
                    argv[i]);
            return 2;
        }
    }
    if (!a->image) {
        fprintf(stderr, "nvlm table: IMAGE is required\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

static int print_json(FILE *out, const nvlm_model *m, const table_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "fusion", nvlm_fusion(m));
    if (r->markdown)
        cJSON_AddStringToObject(o, "markdown", r->markdown);
    else
        cJSON_AddNullToObject(o, "markdown");
    cJSON_AddBoolToObject(o, "repaired", r->n_repairs > 0);
    cJSON_AddStringToObject(o, "repairs", r->repairs ? r->repairs : "");
    cJSON_AddNumberToObject(o, "ms", r->ms_total);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return 1;
    fprintf(out, "%s\n", text);
    free(text);
    return 0;
}

int nv_cmd_table(int argc, char **argv)
{
    struct table_args a;
    memset(&a, 0, sizeof a);
    nvlm_options_init(&a.opt);
    a.max_new = 1024;
    int done = 0;
    int rc = parse_args(argc, argv, &a, &done);
    if (rc || done)
        return rc;
    char dir[4096], err[1024];
    if (nv_cli_model_dir("table", a.model, dir, sizeof dir))
        return 1;
    nvlm_model *m = nvlm_load(dir, &a.opt, err, sizeof err);
    if (!m) {
        fprintf(stderr, "nvlm table: %s\n", err);
        return 1;
    }
    if (nvlm_model_warning(m))
        fprintf(stderr, "nvlm table: note: %s\n", nvlm_model_warning(m));
    table_result r;
    int status = 0;
    if (table_run(m, a.image, a.max_new, &r, err, sizeof err)) {
        fprintf(stderr, "nvlm table: %s\n", err);
        nvlm_free(m);
        return 1;
    }
    if (!r.markdown) {
        fprintf(stderr, "nvlm table: %s: the model wrote no Markdown table; "
                "it wrote:\n%s\n", a.image, r.raw);
        status = 1;
    } else {
        if (r.n_repairs > 0)
            fprintf(stderr, "nvlm table: %s: repaired the model's table:\n"
                    "%s\n", a.image, r.repairs);
        FILE *out = stdout;
        if (a.output && !(out = fopen(a.output, "w"))) {
            fprintf(stderr, "nvlm table: cannot write %s\n", a.output);
            status = 1;
        } else {
            status = a.json ? print_json(out, m, &r)
                            : (fputs(r.markdown, out) < 0);
            if (out != stdout && fclose(out) != 0) {
                fprintf(stderr, "nvlm table: cannot write %s\n", a.output);
                status = 1;
            }
        }
    }
    table_result_free(&r);
    nvlm_free(m);
    return status;
}
