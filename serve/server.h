/* server.h - what the request handlers share: the configuration, the loaded
 * heads, the metrics, and the way they answer (http.c): a JSON body, an
 * OpenAI-style error object, or a response they built themselves. */
#ifndef NV_SERVE_SERVER_H
#define NV_SERVE_SERVER_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "serve/heads.h"
#include "serve/metrics.h"
#include "serve/request.h"
#include "serve/serve.h"

typedef struct serve_server {
    const serve_config *cfg;
    serve_heads heads;
    serve_metrics metrics;
    time_t started;
    atomic_ulong next_id;  /* chat completion ids */
    /* Requests from their first byte until their response is sent (a
     * slot is given back before the response goes out), so that a
     * shutdown lets them finish. */
    pthread_mutex_t flight_mu;
    pthread_cond_t flight_cv;
    int in_flight;
} serve_server;

/* How long a request waits in the queue for a slot before a 503. */
#define SERVE_QUEUE_WAIT_S 120.0

/* What a handler hands back: a response and its status. */
typedef struct serve_reply {
    struct MHD_Response *resp;
    unsigned status;
} serve_reply;

/* A JSON body (j is deleted). */
serve_reply serve_reply_json(cJSON *j, unsigned status);
/* {"error": {"message", "type", "param", "code"}} with e->status; a 503
 * carries Retry-After. */
serve_reply serve_reply_error(const serve_err *e);

/* The slot for head `head`, or the error that says why there is none. */
int serve_slot_or_error(serve_server *srv, int head, serve_slot *slot,
                        serve_err *e);

/* POST /v1/chat/completions (chat.c) and POST /v1/tables (tables.c). */
serve_reply serve_chat(serve_server *srv, const char *body, size_t len);
serve_reply serve_tables(serve_server *srv, struct MHD_Connection *c,
                         const char *body, size_t len);

/* The page of GET / (page_html.c, made from page.html at build time). */
extern const char serve_page_html[];
extern const unsigned long serve_page_html_len;

#endif
