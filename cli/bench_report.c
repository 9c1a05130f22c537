/* bench_report.c - writes `nvlm bench` results as Markdown, JSON and an
 * SVG chart (see bench_report.h). */
#include "cli/bench_report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/files.h"

static const double MiB = 1024.0 * 1024.0;

static double gflops_per_s(double flops, double ms)
{
    return ms > 0 ? flops / (ms * 1e6) : 0.0;
}

static double peak_mib(const bench_row *w)
{
    return w->peak_rss < 0 ? -1.0 : (double)w->peak_rss / MiB;
}

static const char *const fusion_names[3] = {"d", "x", "h"};

static const char *const weight_names[7] = {"stored", "f32", "bf16", "f16",
                                           "q8_0", "q4_0", "q4_k"};

/* Mean scores of one fusion's labelled rows with one weight type; returns
 * how many there are. */
static int label_means(const bench_report *r, const char *fusion,
                       const char *weights, nv_table_scores *mean)
{
    int n = 0;
    memset(mean, 0, sizeof *mean);
    for (int i = 0; i < r->n_rows; i++) {
        const bench_row *w = &r->rows[i];
        if (!w->labeled || strcmp(w->fusion, fusion) ||
            strcmp(w->weights, weights))
            continue;
        n++;
        mean->exact_match += w->scores.exact_match;
        mean->cell_accuracy += w->scores.cell_accuracy;
        mean->teds += w->scores.teds;
    }
    if (n) {
        mean->exact_match /= n;
        mean->cell_accuracy /= n;
        mean->teds /= n;
    }
    return n;
}

/* One measured value as text, or "-" when nothing was measured. */
static const char *measured(char *buf, size_t size, int ran, const char *fmt,
                            double v)
{
    if (!ran || v < 0)
        return "-";
    snprintf(buf, size, fmt, v);
    return buf;
}

void bench_write_markdown(const bench_report *r, FILE *out)
{
    if (r->cost_only)
        fprintf(out, "Model: %s; analytic counts only (--cost-only): nothing "
                "was run.\n\n", r->model);
    else
        fprintf(out, "Model: %s; %d thread(s); OpenBLAS kernels %s; "
                "low-precision kernels %s; times are medians of %d run(s) "
                "after %d warm-up run(s), in ms; %s%d new token(s) per run; "
                "peak RSS: %s.\n\n", r->model,
                r->threads, r->blas_kernels ? r->blas_kernels : "unknown",
                r->lowp_kernels ? r->lowp_kernels : "unknown",
                r->repeat, r->warmup,
                r->to_end ? "answers to their end, at most " : "",
                r->new_tokens, r->peak_rss_scope);
    fprintf(out, "| fusion | weights | image | max tiles | tiles | stream img tok | "
            "xattn tok | prompt len | ViT ms | proj ms | prefill ms | TTFT ms "
            "| decode tok/s | self KV MiB | cross KV MiB | peak RSS MiB | "
            "vision GFLOP | prefill GFLOP | decode MFLOP/tok | ViT GFLOP/s | "
            "prefill GFLOP/s |\n");
    fprintf(out, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
            "--:|--:|--:|--:|--:|--:|--:|\n");
    int ran = !r->cost_only;
    for (int i = 0; i < r->n_rows; i++) {
        const bench_row *w = &r->rows[i];
        const nv_model_cost *c = &w->cost;
        char b[8][32];
        fprintf(out, "| %s | %s | %s | %d | %d | %d | %d | %d | %s | %s | %s "
                "| %s | %s | %.3f | %.3f | %s | %.3f | %.3f | %.3f | %s | %s "
                "|\n",
                w->fusion, w->weights, w->image, w->max_tiles, c->tiles,
                c->image_tokens_in_stream, c->xattn_tokens, c->prompt_tokens,
                measured(b[0], 32, ran, "%.1f", w->ms_vit),
                measured(b[1], 32, ran, "%.1f", w->ms_projector),
                measured(b[2], 32, ran, "%.1f", w->ms_prefill),
                measured(b[3], 32, ran, "%.1f", w->ms_first_token),
                measured(b[4], 32, ran, "%.2f", w->decode_tokens_per_s),
                (double)c->kv_self_bytes / MiB,
                (double)c->kv_cross_bytes / MiB,
                measured(b[5], 32, ran, "%.0f", peak_mib(w)),
                (c->flops_vit + c->flops_projector) / 1e9,
                c->flops_prefill / 1e9, c->flops_decode_token / 1e6,
                measured(b[6], 32, ran, "%.2f",
                         gflops_per_s(c->flops_vit, w->ms_vit)),
                measured(b[7], 32, ran, "%.2f",
                         gflops_per_s(c->flops_prefill, w->ms_prefill)));
    }
    if (r->has_roofline && ran) {
        fprintf(out, "\nRoofline of this machine, measured in this run on %d "
                "thread(s): f32 FMA peak %.1f GFLOP/s (%s), bf16 peak %.1f "
                "GFLOP/s (%s), read bandwidth %.1f GB/s. %% of peak: of "
                "the f32 FMA peak. Decode GB/s: the decoder's weight bytes "
                "(all read once per token) x tokens/s.\n\n", r->threads,
                r->roof.fma_gflops, r->roof.isa, r->roof.bf16_gflops,
                r->roof.bf16_engine ? r->roof.bf16_engine : "none",
                r->roof.read_gbps);
        fprintf(out, "| fusion | weights | image | ViT GFLOP/s | ViT %% of "
                "peak | prefill GFLOP/s | prefill %% of peak | decode GB/s | "
                "decode %% of read BW |\n|---|---|---|--:|--:|--:|--:|--:|"
                "--:|\n");
        for (int i = 0; i < r->n_rows; i++) {
            const bench_row *w = &r->rows[i];
            double vit = gflops_per_s(w->cost.flops_vit, w->ms_vit);
            double pre = gflops_per_s(w->cost.flops_prefill, w->ms_prefill);
            double gbs = w->decoder_weight_bytes * w->decode_tokens_per_s /
                         1e9;
            fprintf(out, "| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f "
                    "| %.1f |\n", w->fusion, w->weights, w->image, vit,
                    100.0 * vit / r->roof.fma_gflops, pre,
                    100.0 * pre / r->roof.fma_gflops, gbs,
                    100.0 * gbs / r->roof.read_gbps);
        }
    }
    int any = 0;
    for (int i = 0; i < r->n_rows; i++)
        any |= r->rows[i].labeled;
    if (!any)
        return;
    fprintf(out, "\n| fusion | weights | images | exact match | cell "
            "accuracy | TEDS |\n|---|---|--:|--:|--:|--:|\n");
    for (int d = 0; d < 7; d++)
        for (int f = 0; f < 3; f++) {
            nv_table_scores mean;
            int n = label_means(r, fusion_names[f], weight_names[d], &mean);
            if (n)
                fprintf(out, "| %s | %s | %d | %.3f | %.3f | %.3f |\n",
                        fusion_names[f], weight_names[d], n,
                        mean.exact_match, mean.cell_accuracy, mean.teds);
        }
}

static cJSON *row_json(const bench_row *w)
{
    const nv_model_cost *c = &w->cost;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "fusion", w->fusion);
    cJSON_AddStringToObject(o, "weights", w->weights);
    cJSON_AddNumberToObject(o, "decoder_weight_bytes", w->decoder_weight_bytes);
    cJSON_AddStringToObject(o, "image", w->image);
    cJSON_AddNumberToObject(o, "max_tiles", w->max_tiles);
    cJSON_AddNumberToObject(o, "tiles", c->tiles);
    cJSON_AddNumberToObject(o, "tokens_per_tile", c->tokens_per_tile);
    cJSON_AddNumberToObject(o, "image_tokens_in_stream",
                            c->image_tokens_in_stream);
    cJSON_AddNumberToObject(o, "xattn_tokens", c->xattn_tokens);
    cJSON_AddNumberToObject(o, "xattn_blocks", c->xattn_blocks);
    cJSON_AddNumberToObject(o, "prompt_tokens", c->prompt_tokens);
    cJSON_AddNumberToObject(o, "generated_tokens", w->generated);
    if (w->stop_reason[0])
        cJSON_AddStringToObject(o, "stop_reason", w->stop_reason);
    cJSON *ms = cJSON_AddObjectToObject(o, "median_ms");
    cJSON_AddNumberToObject(ms, "preprocess", w->ms_preprocess);
    cJSON_AddNumberToObject(ms, "vit", w->ms_vit);
    cJSON_AddNumberToObject(ms, "projector", w->ms_projector);
    cJSON_AddNumberToObject(ms, "prefill", w->ms_prefill);
    cJSON_AddNumberToObject(ms, "first_token", w->ms_first_token);
    cJSON_AddNumberToObject(o, "decode_tokens_per_s", w->decode_tokens_per_s);
    cJSON_AddNumberToObject(o, "kv_self_bytes", (double)c->kv_self_bytes);
    cJSON_AddNumberToObject(o, "kv_cross_bytes", (double)c->kv_cross_bytes);
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)w->peak_rss);
    cJSON *fl = cJSON_AddObjectToObject(o, "flops");
    cJSON_AddNumberToObject(fl, "vit", c->flops_vit);
    cJSON_AddNumberToObject(fl, "projector", c->flops_projector);
    cJSON_AddNumberToObject(fl, "prefill", c->flops_prefill);
    cJSON_AddNumberToObject(fl, "decode_token", c->flops_decode_token);
    cJSON_AddNumberToObject(o, "vit_gflops_per_s",
                            gflops_per_s(c->flops_vit, w->ms_vit));
    cJSON_AddNumberToObject(o, "prefill_gflops_per_s",
                            gflops_per_s(c->flops_prefill, w->ms_prefill));
    if (w->labeled) {
        cJSON *s = cJSON_AddObjectToObject(o, "scores");
        cJSON_AddNumberToObject(s, "exact_match", w->scores.exact_match);
        cJSON_AddNumberToObject(s, "cell_accuracy", w->scores.cell_accuracy);
        cJSON_AddNumberToObject(s, "teds", w->scores.teds);
    }
    return o;
}

int bench_write_json(const bench_report *r, const char *path, nv_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", r->model);
    cJSON_AddBoolToObject(root, "cost_only", r->cost_only);
    cJSON_AddNumberToObject(root, "threads", r->threads);
    cJSON_AddStringToObject(root, "blas_kernels",
                            r->blas_kernels ? r->blas_kernels : "unknown");
    cJSON_AddStringToObject(root, "lowp_kernels",
                            r->lowp_kernels ? r->lowp_kernels : "unknown");
    if (r->has_roofline) {
        cJSON *roof = cJSON_AddObjectToObject(root, "roofline");
        cJSON_AddNumberToObject(roof, "fma_gflops", r->roof.fma_gflops);
        cJSON_AddNumberToObject(roof, "bf16_gflops", r->roof.bf16_gflops);
        if (r->roof.bf16_engine)
            cJSON_AddStringToObject(roof, "bf16_engine", r->roof.bf16_engine);
        else
            cJSON_AddNullToObject(roof, "bf16_engine");
        cJSON_AddNumberToObject(roof, "read_gbps", r->roof.read_gbps);
        cJSON_AddStringToObject(roof, "isa", r->roof.isa);
    }
    cJSON_AddNumberToObject(root, "repeat", r->repeat);
    cJSON_AddNumberToObject(root, "warmup", r->warmup);
    cJSON_AddNumberToObject(root, "new_tokens", r->new_tokens);
    cJSON_AddBoolToObject(root, "to_end", r->to_end);
    cJSON_AddStringToObject(root, "times",
                            "median_ms: medians of 'repeat' runs after "
                            "'warmup' warm-up runs");
    cJSON_AddStringToObject(root, "peak_rss_scope", r->peak_rss_scope);
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; rows && i < r->n_rows; i++)
        cJSON_AddItemToArray(rows, row_json(&r->rows[i]));
    cJSON *labels = cJSON_AddArrayToObject(root, "labels");
    for (int f = 0; labels && f < 3 * 7; f++) {
        nv_table_scores mean;
        const char *fusion = fusion_names[f % 3], *weights = weight_names[f / 3];
        int n = label_means(r, fusion, weights, &mean);
        if (!n)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "fusion", fusion);
        cJSON_AddStringToObject(o, "weights", weights);
        cJSON_AddNumberToObject(o, "images", n);
        cJSON_AddNumberToObject(o, "exact_match", mean.exact_match);
        cJSON_AddNumberToObject(o, "cell_accuracy", mean.cell_accuracy);
        cJSON_AddNumberToObject(o, "teds", mean.teds);
        cJSON_AddItemToArray(labels, o);
    }
    int rc = nv_cli_write_json(root, path, err);
    cJSON_Delete(root);
    return rc;
}

/* ---- SVG ---- */

typedef struct panel {
    double x0, y0, w, h; /* plot area in SVG units */
    double max_x, max_y;
    double step_x, step_y; /* tick spacing: max_x, max_y are multiples */
} panel;

static double kv_mib(const bench_row *w)
{
    return (double)(w->cost.kv_self_bytes + w->cost.kv_cross_bytes) / MiB;
}

static double ttft(const bench_row *w)
{
    return w->ms_first_token;
}

static double gflop_to_first_token(const bench_row *w)
{
    const nv_model_cost *c = &w->cost;
    return (c->flops_vit + c->flops_projector + c->flops_prefill) / 1e9;
}

/* Tick spacing for an axis from 0 to v: a round step (1, 2, 2.5 or 5
 * times a power of ten; whole numbers only when `whole`, as tile counts
 * are) giving at most 5 intervals; *top is v rounded up to a multiple. */
static double nice_step(double v, int whole, double *top)
{
    if (!(v > 0))
        v = 1.0;
    double p = pow(10.0, floor(log10(v / 5)));
    static const double mult[] = {1, 2, 2.5, 5, 10};
    double step = 10 * p;
    for (size_t i = 0; i < sizeof mult / sizeof mult[0]; i++) {
        double s = mult[i] * p;
        if (whole && (s < 1 || s != floor(s)))
            continue;
        if (v / s <= 5 + 1e-9) {
            step = s;
            break;
        }
    }
    if (whole && step < 1)
        step = 1;
    *top = ceil(v / step - 1e-9) * step;
    return step;
}

static panel make_panel(double x0, double max_x, double max_y)
{
    panel p = {x0, 60, 360, 260, 0, 0, 0, 0};
    p.step_x = nice_step(max_x, 1, &p.max_x);
    p.step_y = nice_step(max_y, 0, &p.max_y);
    return p;
}

/* The title names the model by its last path component: a chart is shared,
 * and the absolute path of the machine that made it says nothing. */
static const char *model_label(const char *model, char *buf, size_t size)
{
    size_t n = strlen(model);
    while (n > 1 && model[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && model[start - 1] != '/')
        start--;
    snprintf(buf, size, "%.*s", (int)(n - start), model + start);
    return buf;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

static void draw_axes(FILE *f, const panel *p, const char *title,
                      const char *y_label)
{
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"none\" stroke=\"#888\"/>\n", p->x0, p->y0, p->w, p->h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
            "font-size=\"15\">%s</text>\n", p->x0 + p->w / 2, p->y0 - 12,
            title);
    int ny = (int)lround(p->max_y / p->step_y);
    for (int k = 0; k <= ny; k++) {
        double v = p->step_y * k, y = p->y0 + p->h - p->h * v / p->max_y;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#ddd\"/>\n", p->x0, y, p->x0 + p->w, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
                "font-size=\"11\">%g</text>\n", p->x0 - 4, y + 4, v);
    }
    /* Tile counts are whole numbers: so are the x ticks. */
    int nx = (int)lround(p->max_x / p->step_x);
    for (int k = 0; k <= nx; k++) {
        double xv = p->step_x * k, x = p->x0 + p->w * xv / p->max_x;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                "font-size=\"11\">%g</text>\n", x, p->y0 + p->h + 15, xv);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
            "font-size=\"12\">tiles</text>\n", p->x0 + p->w / 2,
            p->y0 + p->h + 32);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
            "font-size=\"12\" transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
            p->x0 - 45, p->y0 + p->h / 2, p->x0 - 45, p->y0 + p->h / 2,
            y_label);
}

static int by_tiles(const void *a, const void *b)
{
    const bench_row *x = *(const bench_row *const *)a;
    const bench_row *y = *(const bench_row *const *)b;
    return (x->cost.tiles > y->cost.tiles) - (x->cost.tiles < y->cost.tiles);
}

static void draw_lines(FILE *f, const panel *p, const bench_report *r,
                       const bench_row **sorted,
                       double (*value)(const bench_row *))
{
    static const char *const colors[3] = {"#1f77b4", "#d62728", "#2ca02c"};
    for (int fu = 0; fu < 3; fu++) {
        const char *name = fusion_names[fu];
        int n = 0;
        /* Rows with the same tile count (images at the tile cap) are one
         * point of the line, their mean: a line through each of them would
         * draw a vertical segment. Every row keeps its own dot below. */
        for (int i = 0; i < r->n_rows;) {
            int tiles = sorted[i]->cost.tiles, count = 0;
            double sum = 0;
            int j = i;
            for (; j < r->n_rows && sorted[j]->cost.tiles == tiles; j++)
                if (!strcmp(sorted[j]->fusion, name)) {
                    sum += value(sorted[j]);
                    count++;
                }
            i = j;
            if (!count)
                continue;
            double x = p->x0 + p->w * tiles / p->max_x;
            double y = p->y0 + p->h - p->h * (sum / count) / p->max_y;
            if (n == 0)
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
                        "stroke-width=\"2\" points=\"", colors[fu]);
            fprintf(f, "%s%.1f,%.1f", n ? " " : "", x, y);
            n++;
        }
        if (n)
            fprintf(f, "\"/>\n");
        for (int i = 0; i < r->n_rows; i++) {
            const bench_row *w = sorted[i];
            if (strcmp(w->fusion, name))
                continue;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                    p->x0 + p->w * w->cost.tiles / p->max_x,
                    p->y0 + p->h - p->h * value(w) / p->max_y, colors[fu]);
        }
    }
}

int bench_write_svg(const bench_report *r, const char *path, nv_error *err)
{
    const bench_row **sorted = malloc(sizeof *sorted * (size_t)(r->n_rows + 1));
    if (!sorted)
        return nv_fail(err, "%s: out of memory", path);
    double (*first)(const bench_row *) = r->cost_only ? gflop_to_first_token
                                                      : ttft;
    double max_tiles = 1, max_ttft = 0, max_kv = 0;
    for (int i = 0; i < r->n_rows; i++) {
        sorted[i] = &r->rows[i];
        max_tiles = fmax(max_tiles, r->rows[i].cost.tiles);
        max_ttft = fmax(max_ttft, first(&r->rows[i]));
        max_kv = fmax(max_kv, kv_mib(&r->rows[i]));
    }
    qsort(sorted, (size_t)r->n_rows, sizeof *sorted, by_tiles);
    FILE *f = fopen(path, "w");
    if (!f) {
        free(sorted);
        return nv_fail(err, "%s: cannot create", path);
    }
    panel a = make_panel(80, max_tiles, max_ttft);
    panel b = make_panel(560, max_tiles, max_kv);
    char label[256];
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" "
            "height=\"420\" viewBox=\"0 0 960 420\" font-family=\"sans-serif\">\n"
            "<rect width=\"960\" height=\"420\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"480\" y=\"22\" text-anchor=\"middle\" "
            "font-size=\"14\">nvlm bench: ");
    xml_text(f, model_label(r->model, label, sizeof label));
    if (r->cost_only)
        fprintf(f, " (analytic)</text>\n");
    else
        fprintf(f, " (median of %d, %d thread(s))</text>\n", r->repeat,
                r->threads);
    if (r->cost_only)
        draw_axes(f, &a, "work to first token (vision + prefill)", "GFLOP");
    else
        draw_axes(f, &a, "time to first token", "ms");
    draw_axes(f, &b, "KV cache (self + cross)", "MiB");
    draw_lines(f, &a, r, sorted, first);
    draw_lines(f, &b, r, sorted, kv_mib);
    static const char *const colors[3] = {"#1f77b4", "#d62728", "#2ca02c"};
    static const char *const names[3] = {"D (decoder-only)",
                                         "X (cross-attention)", "H (hybrid)"};
    for (int k = 0; k < 3; k++)
        fprintf(f, "<rect x=\"%d\" y=\"392\" width=\"14\" height=\"4\" "
                "fill=\"%s\"/><text x=\"%d\" y=\"399\" font-size=\"12\">%s"
                "</text>\n", 250 + 170 * k, colors[k], 270 + 170 * k,
                names[k]);
    fprintf(f, "<text x=\"480\" y=\"414\" text-anchor=\"middle\" "
            "font-size=\"10\" fill=\"#666\">dots: one per image; lines: "
            "the mean of the images with the same tile count</text>\n");
    fprintf(f, "</svg>\n");
    free(sorted);
    int bad = ferror(f);
    if (fclose(f) || bad)
        return nv_fail(err, "%s: write failed", path);
    return 0;
}
