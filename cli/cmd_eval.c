/* cmd_eval.c - `nvlm eval`: scores a folder of table images against their
 * Markdown truth (IMAGE.png + IMAGE.md), per fusion head: exact-match rate,
 * cell accuracy and TEDS (fusion/table_metrics.h), as means over images.
 *
 *   nvlm eval --data DIR [--fusion d,x,h] [-m DIR] [--limit N] [-t N]
 *             [-n N] [--json FILE]
 *
 * Progress goes to stderr, one line per image; the summary table to
 * stdout. A generation with no table scores 0.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/bench_images.h"
#include "cli/commands.h"
#include "cli/files.h"
#include "cli/model_path.h"
#include "cli/table_cells.h"
#include "cli/table_readers.h"
#include "cli/table_run.h"
#include "fusion/table_metrics.h"
#include "nvlm.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nvlm eval --data DIR [--fusion d,x,h] [-m DIR] [--limit N]\n"
        "                 [-t N] [-n N] [--reread-below P] [--json FILE]\n"
        "\n"
        "Reads every image of DIR that has a Markdown truth beside it\n"
        "(table.png + table.md; images without one are skipped, with a line\n"
        "on stderr) and scores the model's tables: exact-match rate, cell\n"
        "accuracy and TEDS, per fusion head.\n"
        "\n"
        "  --data DIR         images and their .md truths\n"
        "  --fusion LIST      heads to score (default: every head the model has)\n"
        "  -m, --model DIR    model directory (default: the bundled model)\n"
        "  --limit N          score the first N images only\n"
        "  --whole            one generation per table (NVLM's end-to-end\n"
        "                     setting) instead of the grid + cell reader\n"
        "  -n, --n-predict N  most tokens per cell (default 64) or, with\n"
        "                     --whole, per table (default 1024)\n"
        "  --reread-below P   re-read cells the model doubts, as `nvlm table`\n"
        "                     does (default 0.7; 0: read each cell once)\n"
        "  -t, --threads N    threads (default: all cores)\n"
        NV_ARG_DTYPE_HELP
        "  --json FILE        also write the scores as JSON\n"
        "  -h, --help         this text\n");
}

struct eval_args {
    const char *data, *model, *json;
    const char *dtype; /* --dtype; NULL: as stored */
    char fusions[4]; /* --fusion, parsed ("dx"); "" = every head */
    int limit, threads, max_new, whole;
    double reread_below;
};

static int parse_args(int argc, char **argv, struct eval_args *a, int *done)
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
        } else if (!strcmp(argv[i], "--whole")) {
            a->whole = 1;
        } else if ((m = nv_arg_value("eval", argc, argv, &i, "--data", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_once("eval", "--data", v, &a->data))
                return 2;
        } else if ((m = nv_arg_value("eval", argc, argv, &i, "--model", "-m",
                                     &v))) {
            if (m < 0 || nv_arg_once("eval", "-m", v, &a->model))
                return 2;
        } else if ((m = nv_arg_value("eval", argc, argv, &i, "--fusion", NULL,
                                     &v))) {
            if (m < 0 ||
                nv_arg_fusions("eval", v, a->fusions, sizeof a->fusions))
                return 2;
        } else if ((m = nv_arg_value("eval", argc, argv, &i, "--json", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_once("eval", "--json", v, &a->json))
                return 2;
        } else if ((m = nv_arg_value("eval", argc, argv, &i, "--limit", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_int("eval", "--limit", v, 1, 1 << 30, &n))
                return 2;
            a->limit = (int)n;
        } else if ((m = nv_arg_value("eval", argc, argv, &i, "--n-predict",
                                     "-n", &v))) {
            if (m < 0 || nv_arg_int("eval", "-n", v, 1, 1 << 20, &n))
                return 2;
            a->max_new = (int)n;
        } else if ((m = nv_arg_value("eval", argc, argv, &i,
                                     "--reread-below", NULL, &v))) {
            if (m < 0 || nv_arg_float("eval", "--reread-below", v, 0, 1,
                                      &a->reread_below))
                return 2;
        } else if ((m = nv_arg_value("eval", argc, argv, &i, "--dtype", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_dtype("eval", v, &a->dtype))
                return 2;
        } else if ((m = nv_arg_value("eval", argc, argv, &i, "--threads",
                                     "-t", &v))) {
            if (m < 0 ||
                nv_arg_int("eval", "-t", v, 1, NV_ARG_MAX_THREADS, &n))
                return 2;
            a->threads = (int)n;
        } else {
            fprintf(stderr, "nvlm eval: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!a->data) {
        fprintf(stderr, "nvlm eval: --data DIR is required\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

/* Scores every image under one head; fills the means. */
static int eval_head(const char *dir, const char *head,
                     const struct eval_args *a, const bench_image *imgs,
                     int n, nv_table_scores *mean, cJSON *per_image)
{
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.fusion = head;
    opt.threads = a->threads;
    opt.dtype = a->dtype;
    if (!a->whole)
        opt.max_context = TABLE_CELLS_CONTEXT;
    char err[1024];
    nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
    if (!m) {
        fprintf(stderr, "nvlm eval: %s\n", err);
        return -1;
    }
    /* Cells are read as `nvlm table` reads them: one single-threaded
     * model per thread. */
    table_readers readers = {{0}, 0};
    if (!a->whole &&
        table_readers_open(&readers, dir, &opt, err, sizeof err)) {
        fprintf(stderr, "nvlm eval: %s\n", err);
        nvlm_free(m);
        return -1;
    }
    memset(mean, 0, sizeof *mean);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        table_result r;
        table_run_opts topts = {a->whole, a->max_new, 0, 0.0f, 0,
                                a->reread_below, &readers};
        if (table_run(m, imgs[i].path, &topts, &r, err, sizeof err)) {
            fprintf(stderr, "nvlm eval: %s\n", err);
            rc = -1;
            break;
        }
        nv_table_scores sc = {0, 0, 0};
        nv_error e = {{0}};
        if (r.markdown &&
            nv_table_score_markdown(r.markdown, strlen(r.markdown),
                                    imgs[i].truth, strlen(imgs[i].truth), &sc,
                                    &e)) {
            fprintf(stderr, "nvlm eval: %s: %s\n", imgs[i].path, e.msg);
            rc = -1;
        }
        mean->exact_match += sc.exact_match / n;
        mean->cell_accuracy += sc.cell_accuracy / n;
        mean->teds += sc.teds / n;
        fprintf(stderr, "[%s %d/%d] %s: exact %.0f, cells %.3f, TEDS %.3f%s "
                "(%.0f ms, %d of %d cells re-read)\n", head, i + 1, n,
                imgs[i].name, sc.exact_match, sc.cell_accuracy, sc.teds,
                r.markdown ? (r.n_repairs ? ", repaired" : "") : ", no table",
                r.ms_total, r.cells_reread, r.cells_read);
        if (per_image) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "image", imgs[i].name);
            cJSON_AddNumberToObject(o, "exact_match", sc.exact_match);
            cJSON_AddNumberToObject(o, "cell_accuracy", sc.cell_accuracy);
            cJSON_AddNumberToObject(o, "teds", sc.teds);
            cJSON_AddNumberToObject(o, "cells_read", r.cells_read);
            cJSON_AddNumberToObject(o, "cells_reread", r.cells_reread);
            cJSON_AddItemToArray(per_image, o);
        }
        table_result_free(&r);
    }
    table_readers_close(&readers);
    nvlm_free(m);
    return rc;
}

int nv_cmd_eval(int argc, char **argv)
{
    struct eval_args a;
    memset(&a, 0, sizeof a);
    a.max_new = 0;
    a.reread_below = TABLE_REREAD_BELOW;
    int done = 0;
    int rc = parse_args(argc, argv, &a, &done);
    if (rc || done)
        return rc;
    if (a.max_new == 0)
        a.max_new = a.whole ? NV_CLI_TABLE_MAX_NEW : 64;
    char dir[4096], err[1024];
    if (a.json && nv_cli_check_output("eval", "--json", a.json))
        return 1;
    if (nv_cli_model_dir("eval", a.model, dir, sizeof dir))
        return 1;
    nv_error e = {{0}};
    bench_image *imgs = NULL;
    int n_read = 0;
    if (bench_images_from_dir(a.data, a.data, "eval", &imgs, &n_read, &e)) {
        fprintf(stderr, "nvlm eval: %s\n", e.msg);
        return 1;
    }
    /* --limit scores the first n; all n_read are freed. */
    int n = a.limit > 0 && a.limit < n_read ? a.limit : n_read;
    /* The heads: as listed, or every head the model has. */
    char heads[3][2];
    int n_heads = 0;
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.threads = 1;
    nvlm_model *probe = nvlm_load(dir, &opt, err, sizeof err);
    if (!probe) {
        fprintf(stderr, "nvlm eval: %s\n", err);
        bench_images_free(imgs, n_read);
        return 1;
    }
    if (nvlm_model_warning(probe))
        fprintf(stderr, "nvlm eval: note: %s\n", nvlm_model_warning(probe));
    /* In the order given; the default order is d, x, h. */
    const char *order = a.fusions[0] ? a.fusions : NV_ARG_FUSION_HEADS;
    for (const char *f = order; *f; f++) {
        char name[2] = {*f, '\0'};
        if (nvlm_has_fusion(probe, name))
            snprintf(heads[n_heads++], 2, "%s", name);
        else if (a.fusions[0]) {
            /* As ask and bench say of a head the model lacks: exit 1. */
            fprintf(stderr, "nvlm eval: the model has no '%s' head\n", name);
            rc = 1;
        }
    }
    nvlm_free(probe);
    if (rc) {
        bench_images_free(imgs, n_read);
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "images", n);
    cJSON_AddNumberToObject(root, "reread_below", a.reread_below);
    cJSON *results = cJSON_AddObjectToObject(root, "fusions");
    printf("| fusion | images | exact match | cell accuracy | TEDS |\n"
           "| --- | --- | --- | --- | --- |\n");
    for (int h = 0; h < n_heads && !rc; h++) {
        nv_table_scores mean;
        cJSON *o = cJSON_AddObjectToObject(results, heads[h]);
        cJSON *per = cJSON_AddArrayToObject(o, "per_image");
        rc = eval_head(dir, heads[h], &a, imgs, n, &mean, per);
        if (rc)
            break;
        cJSON_AddNumberToObject(o, "exact_match", mean.exact_match);
        cJSON_AddNumberToObject(o, "cell_accuracy", mean.cell_accuracy);
        cJSON_AddNumberToObject(o, "teds", mean.teds);
        printf("| %s | %d | %.3f | %.3f | %.3f |\n", heads[h], n,
               mean.exact_match, mean.cell_accuracy, mean.teds);
        fflush(stdout);
    }
    if (!rc && a.json && nv_cli_write_json(root, a.json, &e)) {
        fprintf(stderr, "nvlm eval: %s\n", e.msg);
        rc = 1;
    }
    cJSON_Delete(root);
    bench_images_free(imgs, n_read);
    return rc ? 1 : 0;
}
