/* table_cells.c - layout, cell tiles and the cell reader; see
 * table_cells.h. */
#include "cli/table_cells.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/strbuf.h"
#include "core/threads.h"
#include "text/utf8.h"
#include "vision/image_write.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

void table_page_free(table_page *page)
{
    nv_image_free(&page->image);
    nv_ink_map_free(&page->map);
    nv_table_layout_free(&page->layout);
}

/* The ink map and layout of page->image, which is already set. */
static int page_layout(table_page *page, const char *name, char *err,
                       size_t errlen)
{
    nv_error e = {{0}};
    int rc = nv_ink_map_make(&page->image, &page->map, &e);
    if (!rc)
        rc = nv_table_layout_find(&page->map, &page->layout, &e);
    if (rc) {
        snprintf(err, errlen, "%s: %s", name, e.msg);
        if (rc != NV_LAYOUT_NO_TABLE)
            table_page_free(page);
    }
    return rc;
}

int table_page_load(const char *path, int64_t max_pixels, table_page *page,
                    char *err, size_t errlen)
{
    memset(page, 0, sizeof *page);
    nv_error e = {{0}};
    if (nv_image_load(path, max_pixels, &page->image, &e)) {
        /* nv_image_load names the file itself. */
        snprintf(err, errlen, "%s", e.msg);
        table_page_free(page);
        return -1;
    }
    return page_layout(page, path, err, errlen);
}

int table_page_from_image(const nv_image *image, const char *name,
                          table_page *page, char *err, size_t errlen)
{
    memset(page, 0, sizeof *page);
    nv_error e = {{0}};
    if (nv_image_alloc(&page->image, image->width, image->height, &e)) {
        snprintf(err, errlen, "%s: %s", name, e.msg);
        return -1;
    }
    memcpy(page->image.rgb, image->rgb,
           (size_t)image->width * (size_t)image->height * 3);
    return page_layout(page, name, err, errlen);
}

static cJSON *box_json(const nv_box *b)
{
    if (b->x0 >= b->x1)
        return cJSON_CreateNull();
    int v[4] = {b->x0, b->y0, b->x1, b->y1};
    return cJSON_CreateIntArray(v, 4);
}

char *table_layout_json(const table_page *page, const char *path)
{
    const nv_table_layout *l = &page->layout;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "image", path);
    cJSON_AddNumberToObject(o, "width", page->image.width);
    cJSON_AddNumberToObject(o, "height", page->image.height);
    cJSON_AddNumberToObject(o, "rows", l->n_rows);
    cJSON_AddNumberToObject(o, "cols", l->n_cols);
    cJSON_AddNumberToObject(o, "line_height", l->line_height);
    cJSON *rows = cJSON_AddArrayToObject(o, "row_boxes");
    for (int r = 0; r < l->n_rows; r++)
        cJSON_AddItemToArray(rows, box_json(&l->rows[r]));
    cJSON *cols = cJSON_AddArrayToObject(o, "col_boxes");
    for (int c = 0; c < l->n_cols; c++)
        cJSON_AddItemToArray(cols, box_json(&l->cols[c]));
    cJSON *cells = cJSON_AddArrayToObject(o, "cells");
    for (int r = 0; r < l->n_rows; r++) {
        cJSON *row = cJSON_CreateArray();
        for (int c = 0; c < l->n_cols; c++)
            cJSON_AddItemToArray(row, box_json(nv_layout_cell(l, r, c)));
        cJSON_AddItemToArray(cells, row);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static void paint(nv_image *img, int x, int y, uint8_t r, uint8_t g, uint8_t b)
{
    if (x < 0 || y < 0 || x >= img->width || y >= img->height)
        return;
    uint8_t *p = img->rgb + 3 * ((size_t)y * img->width + x);
    p[0] = r;
    p[1] = g;
    p[2] = b;
}

static void frame(nv_image *img, const nv_box *b, uint8_t r, uint8_t g,
                  uint8_t bl)
{
    for (int x = b->x0; x < b->x1; x++) {
        paint(img, x, b->y0, r, g, bl);
        paint(img, x, b->y1 - 1, r, g, bl);
    }
    for (int y = b->y0; y < b->y1; y++) {
        paint(img, b->x0, y, r, g, bl);
        paint(img, b->x1 - 1, y, r, g, bl);
    }
}

int table_debug_png(const table_page *page, const char *path, char *err,
                    size_t errlen)
{
    const nv_image *src = &page->image;
    const nv_table_layout *l = &page->layout;
    nv_image img;
    nv_error e = {{0}};
    if (nv_image_alloc(&img, src->width, src->height, &e)) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    size_t n = (size_t)src->width * src->height;
    for (size_t i = 0; i < n; i++) {
        /* The picture faded, so that the marks stand out. */
        for (int k = 0; k < 3; k++)
            img.rgb[3 * i + k] = (uint8_t)(128 + src->rgb[3 * i + k] / 2);
        if (page->map.contrast[i] > NV_LAYOUT_INK_THRESHOLD) {
            img.rgb[3 * i] = 230;
            img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = 40;
        }
    }
    for (int c = 0; c < l->n_cols; c++)
        frame(&img, &l->cols[c], 0, 170, 0);
    for (int r = 0; r < l->n_rows; r++)
        frame(&img, &l->rows[r], 0, 0, 230);
    for (size_t i = 0; i < (size_t)l->n_rows * l->n_cols; i++)
        if (l->cells[i].x0 < l->cells[i].x1)
            frame(&img, &l->cells[i], 200, 0, 200);
    int rc = nv_image_write_png(&img, path, &e);
    nv_image_free(&img);
    if (rc)
        snprintf(err, errlen, "%s", e.msg);
    return rc;
}

static int write_ppm(const char *path, const nv_image *img, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "P6\n%d %d\n255\n", img->width, img->height);
    size_t n = (size_t)img->width * img->height * 3;
    int bad = fwrite(img->rgb, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* One JSON line per tile in DIR/tiles.jsonl: where its crop went. */
static int append_geometry(const char *dir, const char *tile_path,
                           const nv_cell_tile_geom *g, char *err,
                           size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tiles.jsonl", dir);
    FILE *f = fopen(path, "a");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    const char *base = strrchr(tile_path, '/');
    fprintf(f, "{\"tile\":\"%s\",\"crop\":[%d,%d,%d,%d],\"scaled\":[%d,%d],"
            "\"strip_left\":%d,\"strips\":[", base ? base + 1 : tile_path,
            g->crop.x0, g->crop.y0, g->crop.x1, g->crop.y1, g->scaled_w,
            g->scaled_h, g->strip_left);
    for (int k = 0; k < g->n_strips; k++)
        fprintf(f, "%s[%d,%d,%d]", k ? "," : "", g->strip_x0[k],
                g->strip_x1[k], g->strip_y[k]);
    fprintf(f, "]}\n");
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int table_dump_cells(const table_page *page, const nv_cell_tile_opts *opts,
                     const char *dir, const char *prefix, char *err,
                     size_t errlen)
{
    const nv_table_layout *l = &page->layout;
    int written = 0;
    for (int r = 0; r < l->n_rows; r++)
        for (int c = 0; c < l->n_cols; c++) {
            const nv_box *b = nv_layout_cell(l, r, c);
            if (b->x0 >= b->x1)
                continue;
            nv_image tile;
            nv_cell_tile_geom g;
            nv_error e = {{0}};
            if (nv_cell_tile_make(&page->map, l, r, c, opts, &tile, &g, &e)) {
                fprintf(stderr, "nvlm table: %s: %s (not written)\n", prefix,
                        e.msg);
                continue;
            }
            char path[4096];
            snprintf(path, sizeof path, "%s/%s_r%02d_c%02d.ppm", dir, prefix,
                     r, c);
            int rc = write_ppm(path, &tile, err, errlen);
            nv_image_free(&tile);
            if (!rc)
                rc = append_geometry(dir, path, &g, err, errlen);
            if (rc)
                return -1;
            written++;
        }
    return written;
}

int table_cell_opts(const nvlm_model *m, nv_cell_tile_opts *opts, char *err,
                    size_t errlen)
{
    *opts = nv_cell_tile_opts_default();
    if (!nvlm_cell_reader(m, NULL, &opts->line_height, &opts->strip_height)) {
        snprintf(err, errlen, "the model has no cell reader "
                 "(config.json nvlm_cell_reader); use --whole to read the "
                 "whole image in one generation");
        return -1;
    }
    opts->tile_size = nvlm_tile_size(m);
    return 0;
}

typedef struct {
    nv_strbuf text;
    int tokens;
} cell_text;

/* Cells whose tiles go through the vision encoder together: one matrix
 * product per layer for all of them (each session holds its own KV cache,
 * so the batch stays small). */
#define CELL_BATCH 8

static int collect(void *user, int32_t id, const char *bytes, size_t len)
{
    (void)id;
    cell_text *t = user;
    /* A NUL or a newline would break the cell out of its Markdown row. */
    for (size_t i = 0; i < len; i++)
        if (bytes[i] != '\0' && bytes[i] != '\n' && bytes[i] != '\r')
            nv_strbuf_addn(&t->text, bytes + i, 1);
    t->tokens++;
    return 0;
}

/* A session holding one cell's tile and the prompt. */
static nvlm_session *cell_session(nvlm_model *m, const char *prompt,
                                  const nv_image *tile, char *err,
                                  size_t errlen)
{
    nvlm_session *s = nvlm_session_new(m, err, errlen);
    if (!s)
        return NULL;
    if (nvlm_add_image_rgb(s, tile->width, tile->height, tile->rgb, err,
                           errlen) ||
        nvlm_add_text(s, prompt, err, errlen)) {
        nvlm_session_free(s);
        return NULL;
    }
    return s;
}

/* The answer of an encoded session; *text is malloc'd. */
static int read_session(nvlm_session *s, int max_new, float temperature,
                        uint64_t seed, char **text, int *truncated, char *err,
                        size_t errlen)
{
    nvlm_gen_params p;
    nvlm_gen_params_init(&p);
    p.max_new_tokens = max_new;
    p.temperature = temperature;
    p.seed = seed;
    p.want_logprob = 1; /* the doubted cells are read again */
    cell_text t = {{0}, 0};
    int rc = nvlm_generate(s, &p, collect, &t, err, errlen);
    nv_error e = {{0}};
    nv_strbuf_add(&t.text, "");
    *text = nv_strbuf_finish(&t.text, &e);
    if (rc || !*text) {
        free(*text);
        *text = NULL;
        if (!rc)
            snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    const char *why = nvlm_last_stats(s)->stop_reason;
    *truncated = !why || strcmp(why, "eos") != 0;
    return 0;
}

/* A cell must be valid UTF-8 for the Markdown to be: a byte-level model
 * can stop inside a character. Invalid bytes become U+FFFD. */
static char *valid_utf8(const char *s)
{
    nv_error e = {{0}};
    size_t len;
    return nv_utf8_repair(s, strlen(s), &len, &e);
}

static char *trim_dup(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int table_alloc(nv_table *t, int rows, int cols)
{
    memset(t, 0, sizeof *t);
    t->row_cells = calloc((size_t)rows, sizeof(int));
    t->cells = calloc((size_t)rows, sizeof(char **));
    if (!t->row_cells || !t->cells)
        return -1;
    t->n_rows = rows;
    t->header_rows = 1;
    for (int r = 0; r < rows; r++) {
        t->cells[r] = calloc((size_t)cols, sizeof(char *));
        if (!t->cells[r])
            return -1;
        t->row_cells[r] = cols;
        for (int c = 0; c < cols; c++)
            if (!(t->cells[r][c] = calloc(1, 1)))
                return -1;
    }
    return 0;
}

/* One cell read from one tile. */
typedef struct cell_reading {
    int row, col;
    char *text;      /* as generated (malloc'd); NULL when not read */
    double logprob;  /* nvlm_stats.logprob of the answer */
    double min_prob; /* nvlm_stats.min_token_prob */
    int truncated;   /* the answer did not end with the stop token */
} cell_reading;

/* The tiles a doubtful cell is read from again: the first reading's tile
 * moved 1 px left, 1 px right and 2 px right, and its text line 1 px
 * shorter and 1, 2 and 4 px taller (never past the strip). The reader
 * turned out to be sensitive to where its glyphs fall on the 14 px patch
 * grid (moving every tile by 1 px costs ~0.01 of cell accuracy, by 3 px
 * ~0.05, by 4 px nearly all of it: benchmarks.md), and its mistakes at one
 * position are mostly not made at the next, so a doubtful cell read at its
 * neighbours and kept at its likeliest reading is right more often. The
 * taller lines help narrow fonts most (Liberation Sans Narrow's glyphs are
 * thin at 24 px), where the model's own line height is best for the wide
 * ones (benchmarks.md, "Taller re-read views"). */
typedef struct reread_view {
    int dx;          /* added to nv_cell_tile_opts.strip_left */
    int line_height; /* added to nv_cell_tile_opts.line_height */
} reread_view;
static const reread_view REREAD_VIEWS[] = {
    {-1, 0}, {1, 0}, {2, 0}, {0, -1}, {0, 1}, {0, 2}, {0, 4}};
#define N_REREAD_VIEWS ((int)(sizeof REREAD_VIEWS / sizeof REREAD_VIEWS[0]))

/* One tile to read: cell `cell` with the options of view `view` (-1: the
 * model's own). */
typedef struct read_job {
    int cell, view;
} read_job;

/* What one job's reading gave. */
typedef struct job_result {
    int made;        /* the tile could be made and was read */
    char *text;      /* as generated (malloc'd) */
    double logprob, min_prob;
    int truncated;
    int prompt_tokens, prompt_tokens_reused;
    char *why;       /* !made: why the tile could not be made (malloc'd) */
} job_result;

/* The jobs of one table read, shared by the readers: each takes the next
 * batch, and the results land in their job's slot, so that they are merged
 * afterwards in job order whatever reader read them. */
typedef struct read_work {
    const char *prompt;
    const table_page *page;
    const nv_cell_tile_opts *opts;
    const cells_read_opts *ro;
    const cell_reading *cells;
    const read_job *jobs;
    int n_jobs, batch, n_batches;
    job_result *results;
    atomic_int next_batch;
    atomic_int failed; /* a reader failed: the others stop */
    pthread_mutex_t err_lock;
    char err[1024];    /* the first failure's message */
} read_work;

/* One reader: a model (one per thread) and the session whose chat template
 * its other sessions start from (nvlm_session_reuse_prefix). */
typedef struct cell_reader {
    nvlm_model *m;
    nvlm_session *donor; /* owned; NULL until its first reading */
    read_work *w;
} cell_reader;

/* Reads batch b of the work: one vision pass for its tiles, then each
 * answer. A tile that cannot be made is recorded (made = 0) and skipped. */
static int read_batch(cell_reader *rd, int b, char *err, size_t errlen)
{
    read_work *w = rd->w;
    const nv_table_layout *l = &w->page->layout;
    nvlm_session *batch[CELL_BATCH];
    int at[CELL_BATCH];
    int n = 0, rc = 0;
    int j1 = (b + 1) * w->batch < w->n_jobs ? (b + 1) * w->batch : w->n_jobs;
    for (int j = b * w->batch; j < j1; j++) {
        const cell_reading *c = &w->cells[w->jobs[j].cell];
        nv_cell_tile_opts o = *w->opts;
        if (w->jobs[j].view >= 0) {
            o.strip_left += REREAD_VIEWS[w->jobs[j].view].dx;
            o.line_height += REREAD_VIEWS[w->jobs[j].view].line_height;
            if (o.line_height > o.strip_height)
                o.line_height = o.strip_height;
        }
        nv_image tile;
        nv_error e = {{0}};
        if (nv_cell_tile_make(&w->page->map, l, c->row, c->col, &o, &tile,
                              NULL, &e)) {
            w->results[j].why = strdup(e.msg);
            continue;
        }
        batch[n] = cell_session(rd->m, w->prompt, &tile, err, errlen);
        nv_image_free(&tile);
        if (!batch[n]) {
            rc = -1;
            break;
        }
        at[n++] = j;
    }
    if (!rc)
        rc = nvlm_encode_sessions(batch, n, err, errlen);
    for (int k = 0; k < n && !rc; k++) {
        job_result *r = &w->results[at[k]];
        const cell_reading *c = &w->cells[w->jobs[at[k]].cell];
        uint64_t cell_seed = w->ro->seed +
                             (uint64_t)c->row * (uint64_t)l->n_cols +
                             (uint64_t)c->col;
        if (rd->donor)
            rc = nvlm_session_reuse_prefix(batch[k], rd->donor, err, errlen);
        if (!rc)
            rc = read_session(batch[k], w->ro->max_new, w->ro->temperature,
                              cell_seed, &r->text, &r->truncated, err,
                              errlen);
        if (rc)
            break;
        const nvlm_stats *st = nvlm_last_stats(batch[k]);
        r->made = 1;
        r->logprob = st->logprob;
        r->min_prob = st->min_token_prob;
        r->prompt_tokens = st->prompt_tokens;
        r->prompt_tokens_reused = st->prompt_tokens_reused;
        if (!rd->donor) {
            rd->donor = batch[k];
            batch[k] = NULL;
        }
    }
    for (int k = 0; k < n; k++)
        nvlm_session_free(batch[k]);
    return rc;
}

static void *reader_main(void *arg)
{
    cell_reader *rd = arg;
    read_work *w = rd->w;
    char err[1024];
    for (;;) {
        int b = atomic_fetch_add(&w->next_batch, 1);
        if (b >= w->n_batches || atomic_load(&w->failed))
            break;
        if (read_batch(rd, b, err, sizeof err)) {
            pthread_mutex_lock(&w->err_lock);
            if (!atomic_exchange(&w->failed, 1))
                snprintf(w->err, sizeof w->err, "%s", err);
            pthread_mutex_unlock(&w->err_lock);
            break;
        }
    }
    return NULL;
}

/* Reads the jobs' tiles in batches of at most CELL_BATCH, with every
 * reader at once (one thread each; readers[0] on this thread), then merges
 * the readings in job order: a reading replaces its cell's when the cell
 * has none yet or the new one is likelier. A tile that cannot be made is
 * skipped; for the model's own view the cell is counted as failed, with a
 * line in `notes`. */
static int read_jobs(cell_reader *readers, int n_readers, const char *prompt,
                     const table_page *page, const nv_cell_tile_opts *opts,
                     const cells_read_opts *ro, cell_reading *cells,
                     const read_job *jobs, int n_jobs,
                     cells_read_stats *stats, nv_strbuf *notes, char *err,
                     size_t errlen)
{
    if (n_jobs == 0)
        return 0;
    job_result *results = calloc((size_t)n_jobs, sizeof *results);
    if (!results) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* As many batches as fill every reader evenly, none above CELL_BATCH. */
    int n_batches = (n_jobs + CELL_BATCH - 1) / CELL_BATCH;
    n_batches = (n_batches + n_readers - 1) / n_readers * n_readers;
    if (n_batches > n_jobs)
        n_batches = n_jobs;
    read_work w = {
        .prompt = prompt, .page = page, .opts = opts, .ro = ro,
        .cells = cells, .jobs = jobs, .n_jobs = n_jobs,
        .batch = (n_jobs + n_batches - 1) / n_batches,
        .results = results,
    };
    w.n_batches = (n_jobs + w.batch - 1) / w.batch;
    atomic_init(&w.next_batch, 0);
    atomic_init(&w.failed, 0);
    pthread_mutex_init(&w.err_lock, NULL);
    pthread_t threads[TABLE_MAX_READERS];
    int started[TABLE_MAX_READERS] = {0};
    for (int i = 0; i < n_readers; i++)
        readers[i].w = &w;
    /* A reader whose thread cannot start leaves its share to the others. */
    for (int i = 1; i < n_readers && i < w.n_batches; i++)
        started[i] = pthread_create(&threads[i], NULL, reader_main,
                                    &readers[i]) == 0;
    reader_main(&readers[0]);
    for (int i = 1; i < n_readers; i++)
        if (started[i])
            pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&w.err_lock);
    int rc = atomic_load(&w.failed) ? -1 : 0;
    if (rc)
        snprintf(err, errlen, "%s", w.err);
    for (int j = 0; j < n_jobs && !rc; j++) {
        job_result *r = &results[j];
        cell_reading *c = &cells[jobs[j].cell];
        if (!r->made) {
            if (jobs[j].view < 0) {
                stats->failed++;
                if (notes)
                    nv_strbuf_addf(notes, "row %d, column %d not read: %s\n",
                                   c->row + 1, c->col + 1,
                                   r->why ? r->why : "out of memory");
            }
            continue;
        }
        stats->prompt_tokens += r->prompt_tokens;
        stats->prompt_tokens_reused += r->prompt_tokens_reused;
        if (c->text && !(r->logprob > c->logprob))
            continue;
        free(c->text);
        c->text = r->text;
        r->text = NULL;
        c->logprob = r->logprob;
        c->min_prob = r->min_prob;
        c->truncated = r->truncated;
    }
    for (int j = 0; j < n_jobs; j++) {
        free(results[j].text);
        free(results[j].why);
    }
    free(results);
    return rc;
}

/* The cell's text as it goes into the table: valid UTF-8, trimmed. */
static int place_cell(nv_table *out, const cell_reading *c, int max_new,
                      cells_read_stats *stats, nv_strbuf *notes)
{
    if (c->truncated) {
        stats->truncated++;
        nv_strbuf_addf(notes, "row %d, column %d: cut at %d tokens\n",
                       c->row + 1, c->col + 1, max_new);
    }
    char *valid = valid_utf8(c->text);
    char *cell = valid ? trim_dup(valid) : NULL;
    free(valid);
    if (!cell)
        return -1;
    free(out->cells[c->row][c->col]);
    out->cells[c->row][c->col] = cell;
    stats->read++;
    return 0;
}

int table_read_cells(nvlm_model *m, const table_page *page,
                     const cells_read_opts *ro, nv_table *out,
                     cells_read_stats *stats, char **notes, char *err,
                     size_t errlen)
{
    memset(stats, 0, sizeof *stats);
    *notes = NULL;
    const nv_table_layout *l = &page->layout;
    const char *prompt = NULL;
    nv_cell_tile_opts opts;
    if (table_cell_opts(m, &opts, err, errlen))
        return -1;
    nvlm_cell_reader(m, &prompt, NULL, NULL);
    memset(out, 0, sizeof *out);
    size_t total = (size_t)l->n_rows * l->n_cols;
    cell_reading *cells = calloc(total ? total : 1, sizeof *cells);
    /* Each cell once, or each doubted cell once per view. */
    size_t max_jobs = (total ? total : 1) * N_REREAD_VIEWS;
    read_job *jobs = calloc(max_jobs, sizeof *jobs);
    if (!cells || !jobs || table_alloc(out, l->n_rows, l->n_cols)) {
        free(cells);
        free(jobs);
        nv_table_free(out);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    nv_strbuf note = {0};
    double t0 = now_ms();
    int n_jobs = 0;
    for (size_t i = 0; i < total; i++) {
        cells[i].row = (int)(i / (size_t)l->n_cols);
        cells[i].col = (int)(i % (size_t)l->n_cols);
        stats->cells++;
        const nv_box *b = nv_layout_cell(l, cells[i].row, cells[i].col);
        if (b->x0 >= b->x1)
            stats->empty++;
        else
            jobs[n_jobs++] = (read_job){(int)i, -1};
    }
    /* The readers: ro->readers side by side (one thread each), else m. */
    cell_reader readers[TABLE_MAX_READERS] = {{0}};
    int n_readers = ro->n_readers > 0 ? ro->n_readers : 1;
    if (n_readers > TABLE_MAX_READERS)
        n_readers = TABLE_MAX_READERS;
    for (int i = 0; i < n_readers; i++)
        readers[i].m = ro->n_readers > 0 ? ro->readers[i] : m;
    /* One owner of the cores: the readers' products run on their own
     * threads, OpenBLAS's threads stay out of them. */
    int blas_threads = nv_threads_get_blas();
    if (n_readers > 1)
        nv_threads_set_blas(1);
    int rc = read_jobs(readers, n_readers, prompt, page, &opts, ro, cells,
                       jobs, n_jobs, stats, &note, err, errlen);
    /* Greedy answers the model doubts are read again (REREAD_VIEWS), all
     * views of all doubted cells in one run of batches. */
    if (!rc && ro->temperature <= 0.0f && ro->reread_below > 0.0) {
        n_jobs = 0;
        for (size_t i = 0; i < total; i++) {
            if (!cells[i].text || !(cells[i].min_prob < ro->reread_below))
                continue;
            stats->reread++;
            for (int v = 0; v < N_REREAD_VIEWS; v++)
                jobs[n_jobs++] = (read_job){(int)i, v};
        }
        rc = read_jobs(readers, n_readers, prompt, page, &opts, ro, cells,
                       jobs, n_jobs, stats, NULL, err, errlen);
    }
    if (n_readers > 1)
        nv_threads_set_blas(blas_threads);
    for (int i = 0; i < n_readers; i++)
        nvlm_session_free(readers[i].donor);
    for (size_t i = 0; i < total && !rc; i++)
        if (cells[i].text && place_cell(out, &cells[i], ro->max_new, stats,
                                        &note)) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    for (size_t i = 0; i < total; i++)
        free(cells[i].text);
    free(cells);
    free(jobs);
    if (rc) {
        nv_error e = {{0}};
        nv_table_free(out);
        free(nv_strbuf_finish(&note, &e));
        return -1;
    }
    stats->ms_read = now_ms() - t0;
    nv_error e = {{0}};
    if (note.len)
        *notes = nv_strbuf_finish(&note, &e);
    else
        free(note.s);
    return 0;
}
