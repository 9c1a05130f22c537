/* cmd_table.c - `nvlm table`: a picture of a table in, a GitHub-Markdown
 * table out.
 *
 *   nvlm table IMAGE... [-o FILE] [--json] [--fusion d|x|h] [-m DIR]
 *              [--whole] [--layout] [--dump-cells DIR] [-t N] [-n N]
 *
 * By default the layout finds the table's grid from the pixels and the
 * model reads each cell (cli/table_cells.h); --whole asks the model for the
 * whole table in one generation instead. The output is always a well-formed
 * table (header, separator, equal cell counts, "|" escaped). An image with
 * no table is an error (exit 1) with one line that says why. Without -m the
 * bundled model is used.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/files.h"
#include "cli/commands.h"
#include "cli/model_path.h"
#include "cli/table_cells.h"
#include "cli/table_readers.h"
#include "cli/table_run.h"
#include "nvlm.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nvlm table IMAGE... [-o FILE] [--json] [--fusion d|x|h]\n"
        "                  [-m DIR] [--whole] [--layout] [--dump-cells DIR]\n"
        "                  [--debug-png FILE] [-t N] [-n N] [--temp T]\n"
        "                  [--seed N] [--reread-below P] [--max-pixels N]\n"
        "                  [--max-tiles N]\n"
        "\n"
        "Reads the table in each IMAGE (\"-\": standard input) and prints it\n"
        "as a GitHub-Markdown table. The grid (rows, columns, cells) is found\n"
        "from the pixels; the model reads each cell from its own tile.\n"
        "\n"
        "  -m, --model DIR    model directory (default: the bundled model)\n"
        "  --fusion d|x|h     the fusion head that reads (default: the model's)\n"
        "  -o, --output FILE  write the table(s) to FILE instead of stdout\n"
        "  --json             print one JSON object per image: image, fusion,\n"
        "                     mode, markdown, truncated, notes, ms; then\n"
        "                     rows, cols, cells_read, cells_empty,\n"
        "                     cells_failed, cells_truncated, cells_reread,\n"
        "                     prompt_tokens, prompt_tokens_reused,\n"
        "                     ms_layout (or\n"
        "                     raw, repaired, stop_reason with --whole);\n"
        "                     error when there is no table\n"
        "  --whole            the model writes the whole table in one\n"
        "                     generation (NVLM's end-to-end setting; the\n"
        "                     bundled model does it badly: docs/benchmarks.md)\n"
        "  --layout           print the grid found (JSON boxes) and stop; no\n"
        "                     model runs\n"
        "  --dump-cells DIR   write each cell's tile to DIR as PPM and stop\n"
        "  --debug-png FILE   draw what the layout found over the image (ink\n"
        "                     red, rows blue, columns green, cells magenta)\n"
        "                     and stop;\n"
        "                     with several images, FILE gets -N before .png\n"
        "  -n, --n-predict N  most tokens per cell (default 64) or, with\n"
        "                     --whole, per table (default 1024)\n"
        "  --reread-below P   a cell whose answer had a token less likely than\n"
        "                     P is read again from its tile moved 1-2 px and\n"
        "                     with taller and shorter text lines, and the\n"
        "                     likeliest reading kept (default 0.7; 0: read\n"
        "                     each cell once; greedy only)\n"
        "  --temp T           sampling temperature (default 0: greedy)\n"
        "  --seed N           sampling seed with --temp (default 0)\n"
        "  --max-pixels N     refuse images over N pixels (default 64 M)\n"
        "  --max-tiles N      with --whole, most image tiles (default: the\n"
        "                     model's)\n"
        "  -t, --threads N    threads (default: all cores); cells are read\n"
        "                     side by side, one thread each (the model is\n"
        "                     loaded once more per thread)\n"
        NV_ARG_DTYPE_HELP
        "  -h, --help         this text\n"
        "\n"
        "With several images, each Markdown table follows a line\n"
        "'<!-- IMAGE -->'. Exit status: 0 when every image gave a whole\n"
        "table; 1 when one did not (no table found, unreadable) or was cut\n"
        "off at -n (the table is still printed, flagged on stderr and as\n"
        "\"truncated\" in --json); 2 on a usage error.\n");
}

struct table_args {
    const char **images; /* as given; "-" is standard input */
    int n_images;
    const char *model, *output, *dump_dir, *debug_png;
    char fusion[2];
    char stdin_path[4096]; /* the temporary copy of "-", "" when none */
    nvlm_options opt;
    int json, whole, layout_only;
    int max_new;
    double temperature, reread_below;
    int64_t seed;
};

/* The file to read for images[i]. */
static const char *image_file(const struct table_args *a, int i)
{
    return strcmp(a->images[i], "-") ? a->images[i] : a->stdin_path;
}

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
        } else if (!strcmp(argv[i], "--whole")) {
            a->whole = 1;
        } else if (!strcmp(argv[i], "--layout")) {
            a->layout_only = 1;
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
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--dump-cells",
                                     NULL, &v))) {
            if (m < 0)
                return 2;
            a->dump_dir = v;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--debug-png",
                                     NULL, &v))) {
            if (m < 0)
                return 2;
            a->debug_png = v;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--fusion",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_fusions("table", v, a->fusion, sizeof a->fusion))
                return 2;
            a->opt.fusion = a->fusion;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--n-predict",
                                     "-n", &v))) {
            if (m < 0 || nv_arg_int("table", "-n", v, 1, 1 << 20, &n))
                return 2;
            a->max_new = (int)n;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--max-pixels",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("table", "--max-pixels", v, 1,
                                    (int64_t)1 << 40, &n))
                return 2;
            a->opt.max_pixels = n;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--max-tiles",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("table", "--max-tiles", v, 1, 64, &n))
                return 2;
            a->opt.max_tiles = (int)n;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--temp",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_float("table", "--temp", v, 0, 100,
                                      &a->temperature))
                return 2;
        } else if ((m = nv_arg_value("table", argc, argv, &i,
                                     "--reread-below", NULL, &v))) {
            if (m < 0 || nv_arg_float("table", "--reread-below", v, 0, 1,
                                      &a->reread_below))
                return 2;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--seed",
                                     NULL, &v))) {
            if (m < 0 || nv_arg_int("table", "--seed", v, 0, INT64_MAX,
                                    &a->seed))
                return 2;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--dtype", NULL,
                                     &v))) {
            if (m < 0 || nv_arg_dtype("table", v, &a->opt.dtype))
                return 2;
        } else if ((m = nv_arg_value("table", argc, argv, &i, "--threads",
                                     "-t", &v))) {
            if (m < 0 || nv_arg_int("table", "-t", v, 1, NV_ARG_MAX_THREADS, &n))
                return 2;
            a->opt.threads = (int)n;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "nvlm table: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            for (int k = 0; k < a->n_images && !strcmp(argv[i], "-"); k++)
                if (!strcmp(a->images[k], "-")) {
                    fprintf(stderr, "nvlm table: '-' (standard input) given "
                            "twice\n");
                    return 2;
                }
            a->images[a->n_images++] = argv[i];
        }
    }
    if (a->n_images == 0) {
        fprintf(stderr, "nvlm table: IMAGE is required\n");
        usage(stderr);
        return 2;
    }
    if (a->whole && (a->layout_only || a->dump_dir || a->debug_png)) {
        fprintf(stderr, "nvlm table: --whole reads no grid; it does not go "
                "with --layout, --dump-cells or --debug-png\n");
        return 2;
    }
    return 0;
}

/* Whether the folder of an output file exists, before any model runs. */
static int check_output(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "nvlm table: cannot write %s: folder %s: %s\n", path,
                dir, stat(dir, &sb) != 0 ? strerror(errno) : "not a folder");
        return -1;
    }
    return 0;
}

static int print_json(FILE *out, const char *image, const nvlm_model *m,
                      const table_result *r, const char *error, int whole)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "image", image);
    cJSON_AddStringToObject(o, "fusion", m ? nvlm_fusion(m) : "");
    cJSON_AddStringToObject(o, "mode", whole ? "whole" : "cells");
    if (r && r->markdown)
        cJSON_AddStringToObject(o, "markdown", r->markdown);
    else
        cJSON_AddNullToObject(o, "markdown");
    if (error)
        cJSON_AddStringToObject(o, "error", error);
    if (r) {
        if (!whole) {
            table_result_json_grid(o, r);
            cJSON_AddNumberToObject(o, "ms_layout", r->ms_layout);
        } else {
            table_result_json_raw(o, r);
            cJSON_AddBoolToObject(o, "repaired", r->n_repairs > 0);
            if (r->stop_reason)
                cJSON_AddStringToObject(o, "stop_reason", r->stop_reason);
        }
        cJSON_AddBoolToObject(o, "truncated", r->truncated);
        cJSON_AddStringToObject(o, "notes", r->repairs ? r->repairs : "");
        cJSON_AddNumberToObject(o, "ms", r->ms_total);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return 1;
    int bad = fprintf(out, "%s\n", text) < 0;
    free(text);
    return bad;
}

/* --layout and --dump-cells: no generation. */
static int layout_only(const struct table_args *a, const nvlm_model *m,
                       FILE *out)
{
    nv_cell_tile_opts opts = nv_cell_tile_opts_default();
    char err[1024];
    if (m && table_cell_opts(m, &opts, err, sizeof err))
        opts = nv_cell_tile_opts_default();
    /* The folder is made when missing (not its parents), as -o makes its
     * file. */
    if (a->dump_dir && mkdir(a->dump_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "nvlm table: cannot make --dump-cells folder %s: "
                        "%s\n", a->dump_dir, strerror(errno));
        return 1;
    }
    int status = 0;
    for (int i = 0; i < a->n_images; i++) {
        table_page page;
        int rc = table_page_load(image_file(a, i), a->opt.max_pixels, &page,
                                 err, sizeof err);
        if (rc) {
            fprintf(stderr, "nvlm table: %s\n", err);
            if (a->layout_only) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "image", a->images[i]);
                cJSON_AddStringToObject(o, "error", err);
                char *text = cJSON_PrintUnformatted(o);
                cJSON_Delete(o);
                if (text)
                    fprintf(out, "%s\n", text);
                free(text);
            }
            status = 1;
            if (rc != NV_LAYOUT_NO_TABLE || !a->debug_png) {
                table_page_free(&page);
                continue;
            }
        }
        if (rc == 0 && a->layout_only) {
            char *json = table_layout_json(&page, a->images[i]);
            if (json)
                fprintf(out, "%s\n", json);
            free(json);
        }
        if (a->debug_png) {
            char path[4096];
            if (a->n_images == 1) {
                snprintf(path, sizeof path, "%s", a->debug_png);
            } else {
                snprintf(path, sizeof path, "%s", a->debug_png);
                char *dot = strrchr(path, '.');
                if (dot && !strchr(dot, '/'))
                    *dot = '\0';
                size_t used = strlen(path);
                snprintf(path + used, sizeof path - used, "-%d.png", i + 1);
            }
            if (table_debug_png(&page, path, err, sizeof err)) {
                fprintf(stderr, "nvlm table: %s\n", err);
                status = 1;
            }
        }
        if (rc == 0 && a->dump_dir) {
            const char *base = strrchr(a->images[i], '/');
            base = base ? base + 1 : a->images[i];
            char prefix[512];
            snprintf(prefix, sizeof prefix, "%s", base);
            char *dot = strrchr(prefix, '.');
            if (dot)
                *dot = '\0';
            if (table_dump_cells(&page, &opts, a->dump_dir, prefix, err,
                                 sizeof err) < 0) {
                fprintf(stderr, "nvlm table: %s\n", err);
                status = 1;
            }
        }
        table_page_free(&page);
    }
    return status;
}

static int read_tables(const struct table_args *a, nvlm_model *m,
                       const table_readers *readers, FILE *out)
{
    int status = 0;
    char err[1024];
    table_run_opts o = {a->whole, a->max_new, a->opt.max_pixels,
                        (float)a->temperature, (uint64_t)a->seed,
                        a->reread_below, readers};
    for (int i = 0; i < a->n_images; i++) {
        const char *image = a->images[i];
        table_result r;
        err[0] = '\0';
        if (table_run(m, image_file(a, i), &o, &r, err, sizeof err)) {
            fprintf(stderr, "nvlm table: %s\n", err);
            if (a->json)
                print_json(out, image, m, NULL, err, a->whole);
            status = 1;
            continue;
        }
        if (!r.markdown) {
            char why[1200];
            if (r.no_table)
                snprintf(why, sizeof why, "%s", r.raw);
            else
                snprintf(why, sizeof why, "%s: the model wrote no Markdown "
                         "table", image);
            fprintf(stderr, "nvlm table: %s\n", why);
            if (!r.no_table)
                fprintf(stderr, "it wrote:\n%s\n", r.raw ? r.raw : "");
            if (a->json)
                print_json(out, image, m, &r, why, a->whole);
            status = 1;
        } else {
            if (r.repairs && r.repairs[0])
                fprintf(stderr, "nvlm table: %s: %s:\n%s", image,
                        a->whole ? "repaired the model's table"
                                 : "cells not read in full",
                        r.repairs);
            if (r.truncated) {
                if (a->whole)
                    fprintf(stderr, "nvlm table: %s: the generation stopped "
                            "(%s) before the table ended: it is cut off; "
                            "raise -n (now %d)\n", image,
                            r.stop_reason ? r.stop_reason : "limit",
                            a->max_new);
                else
                    fprintf(stderr, "nvlm table: %s: %d cell(s) cut at -n "
                            "%d tokens\n", image, r.cells_truncated,
                            a->max_new);
                status = 1;
            }
            if (a->json) {
                status |= print_json(out, image, m, &r, NULL, a->whole);
            } else {
                if (a->n_images > 1)
                    fprintf(out, "%s<!-- %s -->\n", i ? "\n" : "", image);
                if (fputs(r.markdown, out) < 0)
                    status = 1;
            }
        }
        table_result_free(&r);
    }
    return status;
}

int nv_cmd_table(int argc, char **argv)
{
    struct table_args a;
    memset(&a, 0, sizeof a);
    a.images = calloc((size_t)argc, sizeof *a.images);
    if (!a.images)
        return 1;
    nvlm_options_init(&a.opt);
    a.reread_below = TABLE_REREAD_BELOW;
    int done = 0;
    int rc = parse_args(argc, argv, &a, &done);
    if (rc || done) {
        free(a.images);
        return rc;
    }
    if (a.max_new == 0)
        a.max_new = a.whole ? 1024 : 64;
    if (!a.whole)
        a.opt.max_context = TABLE_CELLS_CONTEXT;
    if (a.output && check_output(a.output)) {
        free(a.images);
        return 1;
    }
    for (int i = 0; i < a.n_images; i++)
        if (!strcmp(a.images[i], "-") &&
            nv_cli_stdin_image("table", NV_CLI_STDIN_IMAGE_MAX, a.stdin_path,
                               sizeof a.stdin_path)) {
            free(a.images);
            return 1;
        }
    char dir[4096] = "", err[1024];
    nvlm_model *m = NULL;
    int grid_only = a.layout_only || a.dump_dir || a.debug_png;
    int need_model = !grid_only || a.dump_dir;
    if (need_model) {
        if (nv_cli_model_dir("table", a.model, dir, sizeof dir) ||
            !(m = nvlm_load(dir, &a.opt, err, sizeof err))) {
            if (!m && dir[0])
                fprintf(stderr, "nvlm table: %s\n", err);
            if (a.stdin_path[0])
                unlink(a.stdin_path);
            free(a.images);
            return 1;
        }
        if (nvlm_model_warning(m) && !grid_only)
            fprintf(stderr, "nvlm table: note: %s\n", nvlm_model_warning(m));
    }
    /* Cells are read side by side, one single-threaded model per thread. */
    table_readers readers = {{0}, 0};
    if (!grid_only && !a.whole &&
        table_readers_open(&readers, dir, &a.opt, err, sizeof err)) {
        fprintf(stderr, "nvlm table: %s\n", err);
        nvlm_free(m);
        if (a.stdin_path[0])
            unlink(a.stdin_path);
        free(a.images);
        return 1;
    }
    FILE *out = stdout;
    if (a.output && !(out = fopen(a.output, "w"))) {
        fprintf(stderr, "nvlm table: cannot write %s: %s\n", a.output,
                strerror(errno));
        table_readers_close(&readers);
        nvlm_free(m);
        if (a.stdin_path[0])
            unlink(a.stdin_path);
        free(a.images);
        return 1;
    }
    int status = grid_only ? layout_only(&a, m, out)
                           : read_tables(&a, m, &readers, out);
    if (out != stdout && fclose(out) != 0) {
        fprintf(stderr, "nvlm table: cannot write %s: %s\n", a.output,
                strerror(errno));
        status = 1;
    }
    table_readers_close(&readers);
    nvlm_free(m);
    if (a.stdin_path[0])
        unlink(a.stdin_path);
    free(a.images);
    return status;
}
