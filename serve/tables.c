/* tables.c - POST /v1/tables: an image in, the Markdown table out, read by
 * one head exactly as `nvlm table` reads it (cli/table_run.h: the grid from
 * the pixels and the model on each cell, or "whole": one generation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/table_cells.h"
#include "cli/table_run.h"
#include "serve/server.h"

/* What `nvlm table` uses without -n. */
#define TABLE_CELL_MAX_NEW 64
#define TABLE_WHOLE_MAX_NEW 1024

static cJSON *result_json(const serve_server *srv, int head,
                          const serve_table_req *q, const table_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "table");
    cJSON_AddStringToObject(o, "model", srv->heads.head[head].id);
    cJSON_AddStringToObject(o, "mode", q->whole ? "whole" : "cells");
    cJSON_AddStringToObject(o, "markdown", r->markdown);
    if (!q->whole) {
        table_result_json_grid(o, r);
    } else {
        table_result_json_raw(o, r);
        cJSON_AddStringToObject(o, "stop_reason",
                                r->stop_reason ? r->stop_reason : "");
    }
    cJSON_AddBoolToObject(o, "truncated", r->truncated);
    cJSON_AddStringToObject(o, "notes", r->repairs ? r->repairs : "");
    cJSON *n = cJSON_AddObjectToObject(o, "nvlm");
    cJSON_AddStringToObject(n, "fusion", srv->heads.head[head].fusion);
    cJSON *t = cJSON_AddObjectToObject(n, "timings_ms");
    cJSON_AddNumberToObject(t, "layout", r->ms_layout);
    cJSON_AddNumberToObject(t, "total", r->ms_total);
    return o;
}

serve_reply serve_tables(serve_server *srv, struct MHD_Connection *c,
                         const char *body, size_t len)
{
    serve_err e;
    serve_table_req q;
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                    "Content-Type");
    if (serve_table_parse(
            body, len, ctype,
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "model"),
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "whole"),
            srv->cfg->max_tokens, srv->cfg->max_pixels, &q, &e)) {
        serve_table_req_free(&q);
        return serve_reply_error(&e);
    }
    int head = serve_heads_find(&srv->heads, q.model);
    serve_slot slot = {0};
    if (head < 0) {
        serve_fail(&e, 404, "model", "model '%.100s' is not loaded (GET "
                   "/v1/models lists them)", q.model);
        serve_table_req_free(&q);
        return serve_reply_error(&e);
    }
    if (serve_slot_or_error(srv, head, &slot, &e)) {
        serve_table_req_free(&q);
        return serve_reply_error(&e);
    }
    table_run_opts o = {q.whole,
                        q.max_tokens > 0 ? q.max_tokens
                        : q.whole        ? TABLE_WHOLE_MAX_NEW
                                         : TABLE_CELL_MAX_NEW,
                        srv->cfg->max_pixels, (float)q.temperature, q.seed,
                        TABLE_REREAD_BELOW,
                        /* The slots are the server's side-by-side unit
                         * (--parallel): a slot's model reads alone. */
                        NULL};
    table_result r;
    char err[1024] = "";
    int rc = table_run_image(slot.model, "image", &q.image, &o, &r, err,
                             sizeof err);
    serve_heads_release(&srv->heads, &slot);
    serve_reply reply;
    if (rc) {
        serve_fail(&e, 400, "image", "%s", err);
        reply = serve_reply_error(&e);
    } else if (!r.markdown) {
        if (r.no_table)
            serve_fail(&e, 422, "image", "%s", r.raw ? r.raw : "no table");
        else
            serve_fail(&e, 422, "image", "the model wrote no Markdown table");
        reply = serve_reply_error(&e);
    } else {
        serve_metrics_run(&srv->metrics, head, 0, 0, r.ms_total / 1e3);
        reply = serve_reply_json(result_json(srv, head, &q, &r), 200);
    }
    table_result_free(&r);
    serve_table_req_free(&q);
    return reply;
}
