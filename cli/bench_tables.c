/* bench_tables.c - `nvlm bench --tables`: the whole `nvlm table` job per
 * fusion head, timed. For each head and each image of --images: the grid
 * (layout) and the reading of every cell, --warmup unmeasured runs then
 * --repeat measured ones; the median wall time per table, the layout's
 * share, cells read per second and, where the image has a STEM.md truth
 * beside it, exact match, cell accuracy and TEDS of the table read.
 * --whole times the one-generation path instead (for the comparison).
 *
 *   nvlm bench --tables [-m DIR] [--fusion d,x,h] [--images DIR]
 *              [--whole] [--repeat N] [--warmup N] [-t N] [--json FILE]
 */
#include "cli/bench_tables.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/bench_images.h"
#include "cli/model_path.h"
#include "cli/table_cells.h"
#include "cli/table_readers.h"
#include "cli/table_run.h"
#include "fusion/table_metrics.h"
#include "nvlm.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nvlm bench --tables [-m DIR] [--fusion d,x,h] [--images DIR]\n"
        "                  [--whole] [--repeat N] [--warmup N] [-t N]\n"
        "                  [--reread-below P] [--cell-readers N] [--json FILE]\n"
        "\n"
        "Times `nvlm table` (the grid, then every cell read by the model)\n"
        "per fusion head on each image of --images, and scores it where a\n"
        "STEM.md truth lies beside the image.\n"
        "\n"
        "  -m, --model DIR   model directory (default: the bundled model)\n"
        "  --fusion LIST     heads, e.g. d,x,h (default: all the model has)\n"
        "  --images DIR      table images (default: the bundled samples)\n"
        "  --whole           time the one-generation path (--whole) instead\n"
        "  --repeat N        measured runs per image (default 3)\n"
        "  --warmup N        unmeasured runs first (default 1)\n"
        "  --reread-below P  re-read doubted cells as `nvlm table` does\n"
        "                    (default 0.7; 0: each cell once)\n"
        "  -t, --threads N   threads (default: all cores)\n"
        "  --cell-readers N  models reading cells side by side, one thread\n"
        "                    each (default: one per thread, as `nvlm table`;\n"
        "                    1: the model alone, on all its threads)\n"
        "  --json FILE       also write the results as JSON\n");
}

struct tables_args {
    const char *model, *fusions, *images, *json;
    char fusion_list[4]; /* --fusion parsed by nv_arg_fusions; fusions
                            points here when given */
    int whole, repeat, warmup, threads;
    int cell_readers; /* 0: one per thread */
    double reread_below;
};

static int parse(int argc, char **argv, struct tables_args *a, int *done)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        int64_t n;
        if (!strcmp(argv[i], "--tables")) {
            continue;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            *done = 1;
            return 0;
        } else if (!strcmp(argv[i], "--whole")) {
            a->whole = 1;
        } else if ((m = nv_arg_value("bench", argc, argv, &i, "--model", "-m",
                                     &v))) {
            if (m < 0)
                return 2;
            a->model = v;
        } else if ((m = nv_arg_value("bench", argc, argv, &i, "--fusion",
                                     NULL, &v))) {
            /* The parser every command shares (any case, refusals). */
            if (m < 0 || nv_arg_fusions("bench", v, a->fusion_list,
                                        sizeof a->fusion_list))
                return 2;
            a->fusions = a->fusion_list;
        } else if ((m = nv_arg_value("bench", argc, argv, &i, "--images",
                                     NULL, &v))) {
            if (m < 0)
                return 2;
            a->images = v;
        } else if ((m = nv_arg_value("bench", argc, argv, &i, "--json", NULL,
                                     &v))) {
            if (m < 0)
                return 2;
            a->json = v;
        } else if ((m = nv_arg_value("bench", argc, argv, &i, "--repeat",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("bench", "--repeat", v, 1, 1000, &n))
                return 2;
            a->repeat = (int)n;
        } else if ((m = nv_arg_value("bench", argc, argv, &i, "--warmup",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("bench", "--warmup", v, 0, 1000, &n))
                return 2;
            a->warmup = (int)n;
        } else if ((m = nv_arg_value("bench", argc, argv, &i,
                                     "--reread-below", NULL, &v))) {
            if (m < 0 || nv_arg_float("bench", "--reread-below", v, 0, 1,
                                      &a->reread_below))
                return 2;
        } else if ((m = nv_arg_value("bench", argc, argv, &i,
                                     "--cell-readers", NULL, &v))) {
            if (m < 0 || nv_arg_int("bench", "--cell-readers", v, 1,
                                    TABLE_MAX_READERS, &n))
                return 2;
            a->cell_readers = (int)n;
        } else if ((m = nv_arg_value("bench", argc, argv, &i, "--threads",
                                     "-t", &v))) {
            if (m < 0 || nv_arg_int("bench", "-t", v, 1, 256, &n))
                return 2;
            a->threads = (int)n;
        } else {
            fprintf(stderr, "nvlm bench --tables: unknown argument '%s'\n",
                    argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The heads to run: --fusion's letters, else every head the model has. */
static int pick_heads(const char *model_dir, const char *list, char heads[4])
{
    int n = 0;
    if (list) {
        for (const char *p = list; *p; p++) {
            if (*p == ',')
                continue;
            if (!strchr("dxh", *p) || (p[1] && p[1] != ',')) {
                fprintf(stderr, "nvlm bench --tables: --fusion '%s': use "
                        "d, x and h separated by commas\n", list);
                return -1;
            }
            if (n < 3 && !memchr(heads, *p, (size_t)n))
                heads[n++] = *p;
        }
    } else {
        nvlm_options opt;
        nvlm_options_init(&opt);
        char err[1024];
        nvlm_model *m = nvlm_load(model_dir, &opt, err, sizeof err);
        if (!m) {
            fprintf(stderr, "nvlm bench --tables: %s\n", err);
            return -1;
        }
        for (const char *p = "dxh"; *p; p++) {
            char name[2] = {*p, 0};
            if (nvlm_has_fusion(m, name))
                heads[n++] = *p;
        }
        nvlm_free(m);
    }
    heads[n] = '\0';
    return n;
}

/* Runs one head over the images; adds a row per image to `rows`. */
static int bench_head(const struct tables_args *a, const char *model_dir,
                      char head, const bench_image *imgs, int n_imgs,
                      cJSON *rows)
{
    nvlm_options opt;
    nvlm_options_init(&opt);
    char name[2] = {head, 0};
    opt.fusion = name;
    opt.threads = a->threads;
    if (!a->whole)
        opt.max_context = TABLE_CELLS_CONTEXT;
    char err[1024];
    nvlm_model *m = nvlm_load(model_dir, &opt, err, sizeof err);
    if (!m) {
        fprintf(stderr, "nvlm bench --tables: %s\n", err);
        return -1;
    }
    /* Cells are read as `nvlm table` reads them: one single-threaded
     * model per thread, unless --cell-readers says otherwise. */
    table_readers readers = {{0}, 0};
    nvlm_options ropt = opt;
    if (a->cell_readers > 0)
        ropt.threads = a->cell_readers;
    if (!a->whole &&
        table_readers_open(&readers, model_dir, &ropt, err, sizeof err)) {
        fprintf(stderr, "nvlm bench --tables: %s\n", err);
        nvlm_free(m);
        return -1;
    }
    table_run_opts o = {a->whole, a->whole ? 1024 : 64, 0, 0.0f, 0,
                        a->reread_below, &readers};
    double *ms = malloc(sizeof(double) * (size_t)a->repeat);
    int rc = ms ? 0 : -1;
    for (int i = 0; i < n_imgs && !rc; i++) {
        table_result r;
        double layout_ms = 0;
        int cells = 0, reread = 0, rows_found = 0, cols_found = 0;
        char *markdown = NULL;
        for (int k = 0; k < a->warmup + a->repeat && !rc; k++) {
            if (table_run(m, imgs[i].path, &o, &r, err, sizeof err)) {
                fprintf(stderr, "nvlm bench --tables: %s\n", err);
                rc = -1;
                break;
            }
            if (k >= a->warmup) {
                ms[k - a->warmup] = r.ms_total;
                layout_ms += r.ms_layout / a->repeat;
            }
            cells = r.cells_read;
            reread = r.cells_reread;
            rows_found = r.rows;
            cols_found = r.cols;
            free(markdown);
            markdown = r.markdown ? strdup(r.markdown) : NULL;
            table_result_free(&r);
        }
        if (rc) {
            free(markdown);
            break;
        }
        qsort(ms, (size_t)a->repeat, sizeof(double), cmp_double);
        double median = ms[a->repeat / 2];
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "fusion", name);
        cJSON_AddStringToObject(row, "image", imgs[i].name);
        cJSON_AddNumberToObject(row, "rows", rows_found);
        cJSON_AddNumberToObject(row, "cols", cols_found);
        cJSON_AddNumberToObject(row, "cells_read", cells);
        cJSON_AddNumberToObject(row, "cells_reread", reread);
        cJSON_AddNumberToObject(row, "cell_readers",
                                readers.n > 0 ? readers.n : 1);
        cJSON_AddNumberToObject(row, "median_ms", median);
        cJSON_AddNumberToObject(row, "layout_ms", layout_ms);
        cJSON_AddNumberToObject(row, "cells_per_s",
                                median > 0 ? cells * 1000.0 / median : 0);
        if (imgs[i].truth) {
            nv_table_scores sc = {0, 0, 0};
            nv_error e = {{0}};
            if (markdown &&
                nv_table_score_markdown(markdown, strlen(markdown),
                                        imgs[i].truth, strlen(imgs[i].truth),
                                        &sc, &e))
                fprintf(stderr, "nvlm bench --tables: %s: %s\n",
                        imgs[i].path, e.msg);
            cJSON_AddNumberToObject(row, "exact_match", sc.exact_match);
            cJSON_AddNumberToObject(row, "cell_accuracy", sc.cell_accuracy);
            cJSON_AddNumberToObject(row, "teds", sc.teds);
        }
        free(markdown);
        cJSON_AddItemToArray(rows, row);
        fprintf(stderr, "[%s] %s: %.0f ms\n", name, imgs[i].name, median);
    }
    free(ms);
    table_readers_close(&readers);
    nvlm_free(m);
    return rc;
}

static void print_table(const cJSON *rows)
{
    printf("| fusion | image | grid | cells read | re-read | median ms | "
           "layout ms | cells/s | exact | cell acc | TEDS |\n"
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
           "|\n");
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const cJSON *acc = cJSON_GetObjectItem(r, "cell_accuracy");
        char scores[96] = "| | |";
        if (acc)
            snprintf(scores, sizeof scores, "%.0f | %.3f | %.3f",
                     cJSON_GetObjectItem(r, "exact_match")->valuedouble,
                     acc->valuedouble,
                     cJSON_GetObjectItem(r, "teds")->valuedouble);
        printf("| %s | %s | %dx%d | %d | %d | %.0f | %.1f | %.1f | %s |\n",
               cJSON_GetObjectItem(r, "fusion")->valuestring,
               cJSON_GetObjectItem(r, "image")->valuestring,
               cJSON_GetObjectItem(r, "rows")->valueint,
               cJSON_GetObjectItem(r, "cols")->valueint,
               cJSON_GetObjectItem(r, "cells_read")->valueint,
               cJSON_GetObjectItem(r, "cells_reread")->valueint,
               cJSON_GetObjectItem(r, "median_ms")->valuedouble,
               cJSON_GetObjectItem(r, "layout_ms")->valuedouble,
               cJSON_GetObjectItem(r, "cells_per_s")->valuedouble, scores);
    }
}

int nv_bench_tables(int argc, char **argv)
{
    struct tables_args a = {.repeat = 3, .warmup = 1,
                            .reread_below = TABLE_REREAD_BELOW};
    int done = 0;
    int rc = parse(argc, argv, &a, &done);
    if (rc || done)
        return rc;
    char model_dir[4096], images_dir[4200];
    if (nv_cli_model_dir("bench", a.model, model_dir, sizeof model_dir))
        return 1;
    char bundled[4096];
    if (a.images)
        snprintf(images_dir, sizeof images_dir, "%s", a.images);
    else if (nv_cli_model_dir("bench", NULL, bundled, sizeof bundled))
        return 1;
    else /* the samples beside the bundled model: assets/samples, or
            PREFIX/share/nvlm/samples when installed */
        snprintf(images_dir, sizeof images_dir, "%s/../../samples", bundled);
    char heads[4] = {0};
    if (pick_heads(model_dir, a.fusions, heads) <= 0)
        return a.fusions ? 2 : 1;
    nv_error e = {{0}};
    bench_image *imgs = NULL;
    int n_imgs = 0;
    if (bench_images_from_dir(images_dir, NULL, NULL, &imgs, &n_imgs, &e)) {
        fprintf(stderr, "nvlm bench --tables: %s\n", e.msg);
        return 1;
    }
    /* Truths are optional here: read the ones that exist. */
    for (int i = 0; i < n_imgs; i++) {
        char md[4200];
        snprintf(md, sizeof md, "%s", imgs[i].path);
        char *dot = strrchr(md, '.');
        if (!dot)
            continue;
        strcpy(dot, ".md");
        FILE *f = fopen(md, "rb");
        if (!f)
            continue;
        char *text = calloc(1, 1 << 20);
        size_t len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        if (text)
            text[len] = '\0';
        imgs[i].truth = text;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model_dir);
    cJSON_AddStringToObject(root, "mode", a.whole ? "whole" : "cells");
    cJSON_AddNumberToObject(root, "threads", a.threads);
    cJSON_AddNumberToObject(root, "cell_readers_asked", a.cell_readers);
    cJSON_AddStringToObject(root, "blas_kernels", nvlm_blas_kernels());
    cJSON_AddNumberToObject(root, "repeat", a.repeat);
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    rc = 0;
    for (int h = 0; heads[h] && !rc; h++)
        rc = bench_head(&a, model_dir, heads[h], imgs, n_imgs, rows) ? 1 : 0;
    if (!rc) {
        char readers[64] = "";
        if (!a.whole)
            snprintf(readers, sizeof readers, ", cell readers %s",
                     a.cell_readers ? "as given" : "one per thread");
        printf("nvlm bench --tables: %s, %s, threads %s%s, OpenBLAS "
               "kernels %s, median of %d runs\n\n", model_dir,
               a.whole ? "whole-table generation" : "grid + cell reader",
               a.threads ? "as given" : "all cores", readers,
               nvlm_blas_kernels(), a.repeat);
        print_table(rows);
        if (a.json) {
            char *text = cJSON_Print(root);
            FILE *f = fopen(a.json, "w");
            if (!f || !text || fputs(text, f) < 0) {
                fprintf(stderr, "nvlm bench --tables: cannot write %s\n",
                        a.json);
                rc = 1;
            }
            if (f && fclose(f) != 0)
                rc = 1;
            free(text);
        }
    }
    cJSON_Delete(root);
    bench_images_free(imgs, n_imgs);
    return rc;
}
