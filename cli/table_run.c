/* table_run.c - a table image through the model; see table_run.h. */
#include "cli/table_run.h"
#include "cli/table_readers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli/table_cells.h"
#include "fusion/table_format.h"
#include "fusion/table_metrics.h"
#include "text/utf8.h"

static int collect(void *user, int32_t id, const char *bytes, size_t len)
{
    (void)id;
    table_result *r = user;
    char *t = realloc(r->raw, r->raw_len + len + 1);
    if (!t)
        return 1;
    r->raw = t;
    /* A NUL byte would cut the C strings of the table's cells short. */
    for (size_t i = 0; i < len; i++)
        if (bytes[i] != '\0')
            r->raw[r->raw_len++] = bytes[i];
    r->raw[r->raw_len] = '\0';
    return 0;
}

void table_result_free(table_result *r)
{
    free(r->raw);
    free(r->markdown);
    free(r->repairs);
    memset(r, 0, sizeof *r);
}

/* `image` names the file to read, or only the image when `img` (already
 * decoded) is given. */
static int run_whole(nvlm_model *m, const char *image, const nv_image *img,
                     const table_run_opts *o, table_result *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nvlm_session *s = nvlm_session_new(m, err, errlen);
    if (!s)
        return -1;
    nvlm_gen_params p;
    nvlm_gen_params_init(&p);
    p.max_new_tokens = o->max_new;
    p.temperature = o->temperature;
    p.seed = o->seed;
    int rc = img ? nvlm_add_image_rgb(s, img->width, img->height, img->rgb,
                                      err, errlen)
                 : nvlm_add_image_file(s, image, err, errlen);
    if (!rc)
        rc = nvlm_add_text(s, nvlm_table_prompt(m), err, errlen);
    if (!rc)
        rc = nvlm_generate(s, &p, collect, out, err, errlen);
    if (!rc) {
        out->stop_reason = nvlm_last_stats(s)->stop_reason;
        out->truncated = out->stop_reason && strcmp(out->stop_reason, "eos");
    }
    nvlm_session_free(s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out->ms_total = (t1.tv_sec - t0.tv_sec) * 1e3 +
                    (t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (!rc && !out->raw && !(out->raw = calloc(1, 1))) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc) {
        table_result_free(out); /* the tokens collected before the failure */
        return -1;
    }
    nv_table t;
    nv_error e = {{0}};
    if (nv_table_parse_markdown(out->raw, out->raw_len, &t, &e) != 0)
        return 0; /* no table in the generation: the caller reports it */
    out->n_repairs = nv_table_regularize(&t, &out->repairs, &e);
    if (out->n_repairs >= 0)
        out->markdown = nv_table_write_markdown(&t, &e);
    nv_table_free(&t);
    if (out->n_repairs < 0)
        out->n_repairs = 0;
    return 0;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int run_cells(nvlm_model *m, const char *image, const nv_image *img,
                     const table_run_opts *o, table_result *out, char *err,
                     size_t errlen)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nv_cell_tile_opts probe;
    if (table_cell_opts(m, &probe, err, errlen))
        return -1;
    table_page page;
    int rc = img ? table_page_from_image(img, image, &page, err, errlen)
                 : table_page_load(image, o->max_pixels, &page, err, errlen);
    out->ms_layout = ms_since(&t0);
    if (rc == NV_LAYOUT_NO_TABLE) {
        table_page_free(&page);
        out->no_table = 1;
        out->raw = strdup(err);
        err[0] = '\0';
        return out->raw ? 0 : -1;
    }
    if (rc)
        return -1;
    out->rows = page.layout.n_rows;
    out->cols = page.layout.n_cols;
    nv_table t;
    cells_read_stats st;
    cells_read_opts ro = {o->max_new, o->temperature, o->seed,
                          o->reread_below,
                          o->readers ? o->readers->models : NULL,
                          o->readers ? o->readers->n : 0};
    rc = table_read_cells(m, &page, &ro, &t, &st, &out->repairs, err, errlen);
    table_page_free(&page);
    if (rc)
        return -1;
    out->cells_read = st.read;
    out->cells_empty = st.empty;
    out->cells_failed = st.failed;
    out->cells_truncated = st.truncated;
    out->cells_reread = st.reread;
    out->prompt_tokens = st.prompt_tokens;
    out->prompt_tokens_reused = st.prompt_tokens_reused;
    out->truncated = st.truncated > 0;
    out->n_repairs = st.failed + st.truncated;
    nv_error e = {{0}};
    out->markdown = nv_table_write_markdown(&t, &e);
    nv_table_free(&t);
    out->ms_total = ms_since(&t0);
    if (!out->markdown) {
        snprintf(err, errlen, "%s", e.msg);
        table_result_free(out);
        return -1;
    }
    return 0;
}

int table_run(nvlm_model *m, const char *image, const table_run_opts *opts,
              table_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (opts->whole)
        return run_whole(m, image, NULL, opts, out, err, errlen);
    return run_cells(m, image, NULL, opts, out, err, errlen);
}

int table_run_image(nvlm_model *m, const char *name, const nv_image *img,
                    const table_run_opts *opts, table_result *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (opts->whole)
        return run_whole(m, name, img, opts, out, err, errlen);
    return run_cells(m, name, img, opts, out, err, errlen);
}

void table_result_json_grid(cJSON *o, const table_result *r)
{
    cJSON_AddNumberToObject(o, "rows", r->rows);
    cJSON_AddNumberToObject(o, "cols", r->cols);
    cJSON_AddNumberToObject(o, "cells_read", r->cells_read);
    cJSON_AddNumberToObject(o, "cells_empty", r->cells_empty);
    cJSON_AddNumberToObject(o, "cells_failed", r->cells_failed);
    cJSON_AddNumberToObject(o, "cells_truncated", r->cells_truncated);
    cJSON_AddNumberToObject(o, "cells_reread", r->cells_reread);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)r->prompt_tokens);
    cJSON_AddNumberToObject(o, "prompt_tokens_reused",
                            (double)r->prompt_tokens_reused);
}

void table_result_json_raw(cJSON *o, const table_result *r)
{
    nv_error e = {{0}};
    size_t len;
    char *raw = nv_utf8_repair(r->raw ? r->raw : "", r->raw ? r->raw_len : 0,
                               &len, &e);
    cJSON_AddStringToObject(o, "raw", raw ? raw : "");
    free(raw);
}
