/* cmd_bench.c - `nvlm bench`: the D, X and H fusions side by side. For each
 * fusion (loaded in turn), each image and each tile limit it measures
 * times (medians over --repeat runs after --warmup runs), counts tokens and
 * sequence lengths, computes FLOPs and KV bytes (fusion/model_cost.h) and,
 * with --labels, scores the answers (fusion/table_metrics.h). Output: a
 * Markdown table on stdout, --json FILE and --chart FILE (SVG).
 * --prompt-tokens N measures the decoder's text prefill instead
 * (cli/bench_prefill.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/args.h"
#include "cli/bench_images.h"
#include "cli/bench_prefill.h"
#include "cli/bench_random.h"
#include "cli/bench_report.h"
#include "cli/bench_tables.h"
#include "cli/commands.h"
#include "cli/files.h"
#include "cli/model_path.h"
#include "core/json.h"
#include "core/roofline.h"
#include "core/safetensors.h"
#include "core/strbuf.h"
#include "core/threads.h"
#include "fusion/model.h"
#include "fusion/model_cost.h"
#include "fusion/table_metrics.h"

#define BENCH_MAX_LIST 16

struct bench_args {
    const char *model;
    const char *random;
    const char *write_dir; /* --write DIR: keep the random model, no bench */
    char fusions[4]; /* --fusion, parsed ("hd"); "" = every head */
    const char *images;
    const char *sizes;
    const char *max_tiles;
    const char *labels;
    const char *json;
    const char *chart;
    const char *dtypes; /* --dtype LIST, checked by check_lists */
    const char *prompt;
    int repeat, warmup, new_tokens, threads;
    int prompt_tokens; /* > 0: text-only prefill benchmark */
    int n_given; /* -n was given (else: the default, or to the end) */
    int cost_only;
    int roofline; /* --roofline */
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nvlm bench [-m DIR | --random SHAPE] [options]\n"
        "\n"
        "Runs each fusion head over each image and tile limit and reports\n"
        "token counts, times, KV-cache bytes, FLOPs and (with --labels)\n"
        "table accuracy as a Markdown table.\n"
        "\n"
        "  -m, --model DIR      model directory; default: the bundled model\n"
        "  --random SHAPE       random weights of a named shape (%s),\n"
        "                       written to /tmp and removed afterwards\n"
        "  --write DIR          with --random: write that model to DIR (a\n"
        "                       new folder) and stop, for nvlm quantize and\n"
        "                       -m runs (llama-11b: a 20 GB bf16 file)\n"
        "  --fusion LIST        heads to run, e.g. d,x,h (default: all the\n"
        "                       model has)\n"
        "  --images DIR         the images in DIR (sorted by name)\n"
        "  --sizes WxH,...      synthetic images of these sizes (default:\n"
        "                       S x S, 2S x S, 3S x 2S, 4S x 3S, S = tile)\n"
        "  --max-tiles N,...    tile limits, thumbnail not counted (default:\n"
        "                       the model's)\n"
        "  --labels DIR         truth STEM.md for each image STEM.* of\n"
        "                       --images: exact match, cell accuracy, TEDS\n"
        "  --repeat N           measured runs per row (default 3)\n"
        "  --warmup N           unmeasured runs first (default 1)\n"
        "  -n, --n-predict N    tokens generated per run (default 8; with\n"
        "                       --labels: each answer to its end, at most\n"
        "                       %d, as nvlm eval --whole)\n"
        "  -p, --prompt TEXT    the question (default: 'Convert the table to\n"
        "                       Markdown.')\n"
        "  -t, --threads N      threads (default: all cores)\n"
        "  --cost-only          no runs: token counts, FLOPs and KV bytes\n"
        "                       only (times are reported as 0; the chart\n"
        "                       plots GFLOP to the first token)\n"
        "  --dtype LIST         weights as stored (f16 / bf16 / q8_0 / q4_0 /\n"
        "                       q4_k read in place; the default) or converted\n"
        "                       at load: stored, f32, bf16, f16, q8_0, q4_0,\n"
        "                       q4_k; a list runs each in turn\n"
        "  --roofline           also measure this machine's f32 FMA peak,\n"
        "                       bf16 peak (of vdpbf16ps, or of AMX tiles\n"
        "                       where oneDNN runs on them) and read\n"
        "                       bandwidth and report each stage as a\n"
        "                       fraction of them (with --prompt-tokens:\n"
        "                       the prefill's GFLOP/s against them)\n"
        "  --json FILE          also write the results as JSON\n"
        "  --chart FILE         SVG chart: time to first token and KV bytes\n"
        "                       against tiles, one line per fusion\n"
        "  --prompt-tokens N    instead: the decoder's prefill of N text\n"
        "                       tokens (the prompt's repeated; no image) at\n"
        "                       1 thread and at -t threads, and the speed-up\n"
        "  -h, --help           this text\n"
        "\n"
        "nvlm bench --tables times the table job (grid + cell reader) per\n"
        "head instead: see nvlm bench --tables --help.\n",
        nv_bench_random_shapes(), NV_CLI_TABLE_MAX_NEW);
}

static int int_opt(const char *name, const char *text, int64_t min,
                   int64_t max, int *out)
{
    int64_t v;
    if (nv_arg_int("bench", name, text, min, max, &v))
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct bench_args *a, int *done)
{
    const struct {
        const char *name, *alias;
        const char **text; /* a text option, or */
        int *number;       /* a whole number in [lo, hi] */
        int64_t lo, hi;
    } opts[] = {
        {"--model", "-m", &a->model, NULL, 0, 0},
        {"--random", NULL, &a->random, NULL, 0, 0},
        {"--write", NULL, &a->write_dir, NULL, 0, 0},
        {"--images", NULL, &a->images, NULL, 0, 0},
        {"--sizes", NULL, &a->sizes, NULL, 0, 0},
        {"--max-tiles", NULL, &a->max_tiles, NULL, 0, 0},
        {"--labels", NULL, &a->labels, NULL, 0, 0},
        {"--json", NULL, &a->json, NULL, 0, 0},
        {"--chart", NULL, &a->chart, NULL, 0, 0},
        {"--dtype", NULL, &a->dtypes, NULL, 0, 0},
        {"--prompt", "-p", &a->prompt, NULL, 0, 0},
        {"--repeat", NULL, NULL, &a->repeat, 1, 1000},
        {"--warmup", NULL, NULL, &a->warmup, 0, 1000},
        {"--n-predict", "-n", NULL, &a->new_tokens, 1, 100000},
        {"--threads", "-t", NULL, &a->threads, 1, NV_ARG_MAX_THREADS},
        {"--prompt-tokens", NULL, NULL, &a->prompt_tokens, 1, 1000000},
    };
    *done = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            *done = 1;
            return 0;
        }
        if (!strcmp(argv[i], "--cost-only")) {
            a->cost_only = 1;
            continue;
        }
        if (!strcmp(argv[i], "--roofline")) {
            a->roofline = 1;
            continue;
        }
        const char *fusion = NULL;
        int got = nv_arg_value("bench", argc, argv, &i, "--fusion", NULL,
                               &fusion);
        if (got < 0 || (got > 0 && nv_arg_fusions("bench", fusion, a->fusions,
                                                   sizeof a->fusions)))
            return 2;
        if (got > 0)
            continue;
        int matched = 0;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0] && !matched;
             k++) {
            const char *v = NULL;
            int r = nv_arg_value("bench", argc, argv, &i, opts[k].name,
                                 opts[k].alias, &v);
            if (r < 0)
                return 2;
            if (r == 0)
                continue;
            matched = 1;
            if (opts[k].text &&
                nv_arg_once("bench", opts[k].name, v, opts[k].text))
                return 2;
            if (opts[k].text)
                *opts[k].text = v;
            else if (int_opt(opts[k].name, v, opts[k].lo, opts[k].hi,
                             opts[k].number))
                return 2;
        }
        if (matched)
            continue;
        fprintf(stderr, "nvlm bench: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (a->model && a->random) {
        fprintf(stderr, "nvlm bench: give -m or --random, not both\n");
        return 2;
    }
    if (a->images && a->sizes) {
        fprintf(stderr, "nvlm bench: give --images or --sizes, not both\n");
        return 2;
    }
    if (a->prompt_tokens &&
        (a->images || a->sizes || a->labels || a->max_tiles || a->chart ||
         a->fusions[0] || a->cost_only)) {
        fprintf(stderr, "nvlm bench: --prompt-tokens runs the decoder "
                "alone: no --images, --sizes, --labels, --max-tiles, "
                "--fusion, --chart or --cost-only\n");
        return 2;
    }
    if (a->labels && !a->images) {
        fprintf(stderr, "nvlm bench: --labels needs --images\n");
        return 2;
    }
    if (a->random && !nv_bench_random_known(a->random)) {
        fprintf(stderr, "nvlm bench: --random: unknown shape '%s' (known: "
                "%s)\n", a->random, nv_bench_random_shapes());
        return 2;
    }
    return 0;
}

/* --max-tiles and --sizes are checked when parsed, like every option, not
 * when the benchmark reaches them. */
static int parse_int_list(const char *text, int *out, int *n_out,
                          nv_error *err);

/* Splits --dtype into its names (each checked); *n = 1, "stored" without
 * the option. */
/* Weight types a --dtype list may name: each at most once. */
#define BENCH_MAX_DTYPES 7

static int parse_dtypes(const char *text, char names[BENCH_MAX_DTYPES][8],
                        int *n, nv_error *err)
{
    *n = 0;
    if (!text) {
        snprintf(names[(*n)++], 8, "stored");
        return 0;
    }
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        char one[8] = "";
        nv_weight_mode mode;
        if (len == 0 || len >= sizeof one || *n == BENCH_MAX_DTYPES ||
            (memcpy(one, p, len), one[len] = '\0',
             nv_weight_mode_parse(one, &mode)))
            return nv_fail(err, "--dtype: '%s' is not a list of stored, f32, "
                           "bf16, f16, q8_0, q4_0, q4_k", text);
        for (int i = 0; i < *n; i++)
            if (!strcmp(names[i], one))
                return nv_fail(err, "--dtype: '%s' names %s twice", text,
                               one);
        snprintf(names[(*n)++], 8, "%s", one);
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

static int check_lists(const struct bench_args *a)
{
    nv_error err = {{0}};
    int limits[BENCH_MAX_LIST], n = 0;
    char dtypes[BENCH_MAX_DTYPES][8];
    if (parse_dtypes(a->dtypes, dtypes, &n, &err)) {
        fprintf(stderr, "nvlm bench: %s\n", err.msg);
        return -1;
    }
    if (n > 1 && a->chart) {
        fprintf(stderr, "nvlm bench: --chart draws one weight type: give "
                "--dtype one name\n");
        return -1;
    }
    if (a->max_tiles && parse_int_list(a->max_tiles, limits, &n, &err)) {
        fprintf(stderr, "nvlm bench: %s\n", err.msg);
        return -1;
    }
    bench_image *imgs = NULL;
    if (a->sizes && bench_images_from_sizes(a->sizes, &imgs, &n, &err)) {
        fprintf(stderr, "nvlm bench: %s\n", err.msg);
        return -1;
    }
    bench_images_free(imgs, n);
    return 0;
}

static int parse_int_list(const char *text, int *out, int *n_out,
                          nv_error *err)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        int v = 0, used = 0;
        if (n == BENCH_MAX_LIST || sscanf(p, "%9d%n", &v, &used) != 1 ||
            v < 1 || v > NV_MAX_TILES_LIMIT ||
            (p[used] != ',' && p[used] != '\0'))
            return nv_fail(err, "--max-tiles: '%s' is not a list of at most "
                           "%d numbers in 1..%d", text, BENCH_MAX_LIST,
                           NV_MAX_TILES_LIMIT);
        out[n++] = v;
        p += used + (p[used] == ',');
    }
    *n_out = n;
    return 0;
}

/* ---- one measured run ---- */

/* Collects the generated bytes into a nv_strbuf. */
static int on_token(void *user, int32_t id, const char *bytes, size_t len)
{
    (void)id;
    nv_strbuf *answer = user;
    nv_strbuf_addn(answer, bytes, len);
    return answer->failed;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct run_times {
    double preprocess, vit, projector, prefill, first_token, tokens_per_s;
} run_times;

/* Puts the image into the session (timing the preprocessing) and runs the
 * prompt. */
static int run_once(nvlm_session *s, const bench_image *img,
                    const nvlm_gen_params *gen, nv_strbuf *ans, run_times *t,
                    nv_error *err)
{
    double t0 = now_ms();
    char msg[1024];
    if (img->path[0]) {
        if (nvlm_add_image_file(s, img->path, msg, sizeof msg))
            return nv_fail(err, "%s", msg);
    } else {
        nv_image pic = {0};
        int rc = bench_synthetic_image(img->width, img->height, &pic, err);
        if (!rc)
            rc = nv_session_set_image(s, &pic, err);
        nv_image_free(&pic);
        if (rc)
            return -1;
    }
    t->preprocess = now_ms() - t0;
    ans->len = 0;
    if (nvlm_generate(s, gen, on_token, ans, msg, sizeof msg))
        return nv_fail(err, "%s", msg);
    const nvlm_stats *st = nvlm_last_stats(s);
    t->vit = st->ms_vision - st->ms_projector;
    t->projector = st->ms_projector;
    t->prefill = st->ms_prefill;
    t->first_token = t->preprocess + st->ms_first_token;
    t->tokens_per_s = st->generated_tokens > 1 && st->ms_decode > 0
                          ? (st->generated_tokens - 1) * 1e3 / st->ms_decode
                          : 0.0;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- peak resident memory ---- */

/* Linux: writing "5" to clear_refs resets VmHWM to the current RSS, so
 * each row's peak covers its own runs (with the model loaded). */
static int reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) != EOF;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int64_t peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : (int64_t)kb * 1024;
}

/* ---- the whole benchmark ---- */

typedef struct bench_plan {
    const struct bench_args *a;
    const char *model_dir;
    bench_image *images;
    int n_images;
    int max_tiles[BENCH_MAX_LIST];
    int n_max_tiles;    /* 0: the model's own limit */
    int per_row_peak;   /* clear_refs works */
} bench_plan;

/* --cost-only: the tile count from the tiling alone (the grid the
 * preprocessing would cut; a synthetic image is not even drawn), then the
 * analytic counts. */
static int cost_row(nvlm_session *s, const bench_plan *p,
                    const bench_image *img, bench_row *row, nv_error *err)
{
    nv_image pic = {0};
    nv_tile_grid grid;
    int rc = img->path[0]
                 ? nv_image_load(img->path, s->m->max_pixels, &pic, err)
                 : 0;
    if (!rc)
        rc = nv_tile_grid_choose(img->path[0] ? pic.width : img->width,
                                 img->path[0] ? pic.height : img->height,
                                 &s->m->prep.tiling, &grid, err);
    if (!rc)
        rc = nv_model_cost_compute(s->m, grid.num_tiles, p->a->prompt,
                                   &row->cost, err);
    nv_image_free(&pic);
    row->peak_rss = -1;
    return rc;
}

static int measure_row(nvlm_session *s, const bench_plan *p,
                       const bench_image *img, bench_row *row, nv_error *err)
{
    const struct bench_args *a = p->a;
    if (a->cost_only)
        return cost_row(s, p, img, row, err);
    nvlm_gen_params gen;
    nvlm_gen_params_init(&gen);
    gen.max_new_tokens = a->new_tokens;
    /* Labelled images are scored as eval scores them: to the model's end.
     * Unlabelled runs generate exactly new_tokens, for comparable times. */
    gen.ignore_eos = img->truth ? 0 : 1;
    nv_strbuf ans = {0};
    double *v = calloc((size_t)a->repeat * 6, sizeof(double));
    if (!v)
        return nv_fail(err, "out of memory");
    if (p->per_row_peak)
        reset_peak_rss();
    int rc = 0;
    for (int k = 0; k < a->warmup + a->repeat && !rc; k++) {
        run_times t = {0};
        rc = run_once(s, img, &gen, &ans, &t, err);
        int j = k - a->warmup;
        if (rc || j < 0)
            continue;
        double vals[6] = {t.preprocess, t.vit, t.projector, t.prefill,
                          t.first_token, t.tokens_per_s};
        for (int q = 0; q < 6; q++)
            v[q * a->repeat + j] = vals[q];
    }
    if (!rc) {
        double *m[6] = {&row->ms_preprocess, &row->ms_vit, &row->ms_projector,
                        &row->ms_prefill, &row->ms_first_token,
                        &row->decode_tokens_per_s};
        for (int q = 0; q < 6; q++)
            *m[q] = median(v + q * a->repeat, a->repeat);
        row->peak_rss = peak_rss();
        row->generated = nvlm_last_stats(s)->generated_tokens;
        snprintf(row->stop_reason, sizeof row->stop_reason, "%s",
                 nvlm_last_stats(s)->stop_reason);
        rc = nv_model_cost_compute(s->m, s->n_tiles, a->prompt, &row->cost,
                                   err);
    }
    /* The analytic counts must describe what ran. */
    if (!rc && (row->cost.prompt_tokens != s->n_prompt ||
                row->cost.xattn_tokens != s->n_keys))
        rc = nv_fail(err, "cost model disagrees with the run: prompt %d vs "
                     "%d tokens, %d vs %d cross-attention keys",
                     row->cost.prompt_tokens, s->n_prompt,
                     row->cost.xattn_tokens, s->n_keys);
    if (!rc && img->truth) {
        row->labeled = 1;
        rc = nv_table_score_markdown(ans.s ? ans.s : "", ans.len,
                                     img->truth, strlen(img->truth),
                                     &row->scores, err);
    }
    free(ans.s);
    free(v);
    return rc;
}

static int bench_fusion(const bench_plan *p, const char *fusion,
                        const char *dtype, bench_report *rep, nv_error *err)
{
    const struct bench_args *a = p->a;
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.fusion = fusion;
    opt.dtype = dtype;
    opt.threads = a->threads;
    char msg[1024];
    nvlm_model *m = nvlm_load(p->model_dir, &opt, msg, sizeof msg);
    if (!m)
        return nv_fail(err, "%s", msg);
    rep->threads = nv_pool_size(m->pool);
    nvlm_session *s = nvlm_session_new(m, msg, sizeof msg);
    int rc = s ? nvlm_add_text(s, a->prompt, msg, sizeof msg) : -1;
    if (rc)
        nv_fail(err, "%s", msg);
    /* Fail before any run when the cost model does not cover this model. */
    nv_model_cost probe;
    if (!rc)
        rc = nv_model_cost_compute(m, 0, a->prompt, &probe, err);
    int n_limits = p->n_max_tiles ? p->n_max_tiles : 1;
    int model_limit = m->prep.tiling.max_tiles;
    for (int i = 0; i < p->n_images && !rc; i++)
        for (int k = 0; k < n_limits && !rc; k++) {
            int limit = p->n_max_tiles ? p->max_tiles[k] : model_limit;
            if (limit < m->prep.tiling.min_tiles) {
                rc = nv_fail(err, "--max-tiles %d is below the model's "
                             "min_dynamic_patch %d", limit,
                             m->prep.tiling.min_tiles);
                break;
            }
            /* The tile limit only steers preprocessing; changing it between
             * runs saves reloading the weights for each limit. */
            m->prep.tiling.max_tiles = limit;
            bench_row *row = &rep->rows[rep->n_rows];
            memset(row, 0, sizeof *row);
            snprintf(row->fusion, sizeof row->fusion, "%s", nvlm_fusion(m));
            snprintf(row->weights, sizeof row->weights, "%.7s", dtype);
            row->decoder_weight_bytes = (double)nv_decoder_weight_bytes(m->dec);
            snprintf(row->image, sizeof row->image, "%s", p->images[i].name);
            row->max_tiles = limit;
            rc = measure_row(s, p, &p->images[i], row, err);
            if (!rc) {
                rep->n_rows++;
                fprintf(stderr, "nvlm bench: %s %s %s max-tiles %d: %d tiles, "
                        "TTFT %.1f ms\n", row->fusion, dtype, row->image, limit,
                        row->cost.tiles, row->ms_first_token);
            }
        }
    nvlm_session_free(s);
    nvlm_free(m);
    return rc;
}

/* The heads to run: --fusion, else every head the model has. */
static int pick_fusions(const bench_plan *p, char names[3][2], int *n,
                        nv_error *err)
{
    *n = 0;
    if (p->a->fusions[0]) {
        /* Parsed and checked by nv_arg_fusions. */
        for (const char *s = p->a->fusions; *s; s++)
            snprintf(names[(*n)++], 2, "%c", *s);
        return 0;
    }
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", p->model_dir);
    cJSON *root = nv_json_load(cfg, 0, err);
    if (!root)
        return -1;
    const cJSON *heads = cJSON_GetObjectItemCaseSensitive(root, "nvlm_heads");
    static const char *const order[3] = {"d", "x", "h"};
    for (int k = 0; k < 3; k++)
        if (!cJSON_IsObject(heads) ||
            cJSON_GetObjectItemCaseSensitive(heads, order[k]))
            if (cJSON_IsObject(heads) || k == 0)
                snprintf(names[(*n)++], 2, "%s", order[k]);
    cJSON_Delete(root);
    return 0;
}

static int run_bench(const struct bench_args *a, const char *model_dir,
                     const char *model_name, nv_error *err)
{
    bench_plan p = {.a = a, .model_dir = model_dir};
    int rc = a->images ? bench_images_from_dir(a->images, a->labels, NULL,
                                               &p.images, &p.n_images, err)
             : a->sizes ? bench_images_from_sizes(a->sizes, &p.images,
                                                  &p.n_images, err)
                        : bench_images_default(model_dir, &p.images,
                                               &p.n_images, err);
    if (!rc && a->max_tiles)
        rc = parse_int_list(a->max_tiles, p.max_tiles, &p.n_max_tiles, err);
    char fusions[3][2], dtypes[BENCH_MAX_DTYPES][8];
    int n_fusions = 0, n_dtypes = 0;
    if (!rc)
        rc = pick_fusions(&p, fusions, &n_fusions, err);
    if (!rc)
        rc = parse_dtypes(a->dtypes, dtypes, &n_dtypes, err);
    p.per_row_peak = reset_peak_rss() == 0;
    bench_report rep = {
        .model = model_name,
        .repeat = a->repeat,
        .warmup = a->warmup,
        .new_tokens = a->new_tokens,
        .to_end = a->labels && !a->n_given,
        .cost_only = a->cost_only,
        .blas_kernels = nvlm_blas_kernels(),
        .lowp_kernels = nvlm_lowp_kernels(),
        .peak_rss_scope = p.per_row_peak
                              ? "VmHWM over each row's runs, model loaded"
                              : "VmHWM of the whole process so far",
    };
    int limits = p.n_max_tiles ? p.n_max_tiles : 1;
    if (!rc) {
        rep.rows = calloc((size_t)(n_dtypes * n_fusions * p.n_images *
                                   limits) + 1,
                          sizeof *rep.rows);
        if (!rep.rows)
            rc = nv_fail(err, "out of memory");
    }
    for (int d = 0; d < n_dtypes && !rc; d++)
        for (int f = 0; f < n_fusions && !rc; f++)
            rc = bench_fusion(&p, fusions[f], dtypes[d], &rep, err);
    /* After the rows, so that its buffer is in no row's peak memory. */
    if (!rc && a->roofline && !a->cost_only) {
        fprintf(stderr, "nvlm bench: measuring the FMA peak and the read "
                "bandwidth...\n");
        nv_pool *pool = nv_pool_create(rep.threads, err);
        rc = pool ? nv_roofline_measure(pool, &rep.roof, err) : -1;
        rep.has_roofline = rc == 0;
        nv_pool_free(pool);
    }
    if (!rc)
        bench_write_markdown(&rep, stdout);
    if (!rc && a->json)
        rc = bench_write_json(&rep, a->json, err);
    if (!rc && a->chart)
        rc = bench_write_svg(&rep, a->chart, err);
    bench_images_free(p.images, p.n_images);
    free(rep.rows);
    return rc;
}

int nv_cmd_bench(int argc, char **argv)
{
    /* --tables times the table job rather than one prompt: its own options. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--tables"))
            return nv_bench_tables(argc, argv);
    struct bench_args a = {
        .repeat = 3,
        .warmup = 1,
    };
    int done = 0;
    int rc = parse_args(argc, argv, &a, &done);
    if (rc || done)
        return rc;
    if (!a.prompt)
        a.prompt = "Convert the table to Markdown.";
    a.n_given = a.new_tokens > 0;
    if (!a.n_given)
        a.new_tokens = a.labels ? NV_CLI_TABLE_MAX_NEW : 8;
    if (a.labels && !a.n_given && !a.cost_only)
        fprintf(stderr, "nvlm bench: --labels: each answer is generated to "
                "its end (at most %d tokens, as nvlm eval --whole); -n N caps "
                "it\n",
                NV_CLI_TABLE_MAX_NEW);
    /* Everything that can be refused is refused before a model is written
     * or loaded. */
    if (check_lists(&a))
        return 2;
    if ((a.json && nv_cli_check_output("bench", "--json", a.json)) ||
        (a.chart && nv_cli_check_output("bench", "--chart", a.chart)))
        return 1;
    nv_error err = {{0}};
    char model_dir[4096], model_name[4200];
    if (a.write_dir) {
        if (!a.random) {
            fprintf(stderr, "nvlm bench: --write needs --random SHAPE\n");
            return 2;
        }
        fprintf(stderr, "nvlm bench: writing the random '%s' model to %s...\n",
                a.random, a.write_dir);
        if (nv_bench_random_write_to(a.random, a.write_dir, &err)) {
            fprintf(stderr, "nvlm bench: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    if (a.random) {
        fprintf(stderr, "nvlm bench: writing the random '%s' model...\n",
                a.random);
        if (nv_bench_random_write(a.random, model_dir, sizeof model_dir,
                                  &err)) {
            fprintf(stderr, "nvlm bench: %s\n", err.msg);
            return 1;
        }
        snprintf(model_name, sizeof model_name, "random:%s", a.random);
    } else {
        if (nv_cli_model_dir("bench", a.model, model_dir, sizeof model_dir))
            return 1;
        snprintf(model_name, sizeof model_name, "%s", model_dir);
    }
    if (a.prompt_tokens) {
        char dtypes[BENCH_MAX_DTYPES][8];
        int n_dtypes = 0;
        rc = parse_dtypes(a.dtypes, dtypes, &n_dtypes, &err);
        if (!rc && n_dtypes > 1 && a.json)
            rc = nv_fail(&err, "--prompt-tokens --json writes one weight "
                         "type: give --dtype one name");
        for (int d = 0; d < n_dtypes && !rc; d++) {
            bench_prefill_args pa = {
                .model_dir = model_dir, .model_name = model_name,
                .prompt = a.prompt, .json = a.json, .dtype = dtypes[d],
                .tokens = a.prompt_tokens, .threads = a.threads,
                .repeat = a.repeat, .warmup = a.warmup,
                .roofline = a.roofline,
            };
            if (d > 0)
                printf("\n");
            rc = bench_prefill_run(&pa, &err);
        }
    } else
        rc = run_bench(&a, model_dir, model_name, &err);
    if (a.random)
        nv_bench_random_remove(model_dir);
    if (rc) {
        fprintf(stderr, "nvlm bench: %s\n", err.msg);
        return 1;
    }
    return 0;
}
