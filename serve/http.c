/* http.c - the libmicrohttpd daemon of `nvlm serve`: one thread per
 * connection (a request may block on its slot and its generation without
 * holding up the others), the body gathered up to --max-body, the API key
 * checked before any of it is read, then one handler per path. Every
 * refusal is an OpenAI-style error object; the server keeps serving.
 * SIGINT / SIGTERM: stop accepting, let running requests finish for
 * --grace seconds, cancel the rest, exit 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "serve/server.h"

/* Per request (libmicrohttpd's con_cls). */
typedef struct conn {
    nv_strbuf body;
    int too_big;
    int answered; /* a response was queued before the body was read */
} conn;

serve_reply serve_reply_json(cJSON *j, unsigned status)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return (serve_reply){NULL, 500};
    size_t n = strlen(text);
    text[n] = '\n'; /* the NUL becomes a newline: curl prints a whole line */
    struct MHD_Response *r = MHD_create_response_from_buffer(
        n + 1, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return (serve_reply){NULL, 500};
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    return (serve_reply){r, status};
}

serve_reply serve_reply_error(const serve_err *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *eo = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(eo, "message", e->msg);
    cJSON_AddStringToObject(eo, "type", e->type);
    if (e->param)
        cJSON_AddStringToObject(eo, "param", e->param);
    else
        cJSON_AddNullToObject(eo, "param");
    const char *code = e->status == 401   ? "invalid_api_key"
                       : e->status == 404 ? "not_found"
                       : e->status == 413 ? "request_too_large"
                       : e->status == 503 ? "overloaded"
                                          : NULL;
    if (code)
        cJSON_AddStringToObject(eo, "code", code);
    else
        cJSON_AddNullToObject(eo, "code");
    serve_reply r = serve_reply_json(o, (unsigned)e->status);
    if (r.resp && e->status == 503)
        MHD_add_response_header(r.resp, "Retry-After", "1");
    if (r.resp && e->status == 401)
        MHD_add_response_header(r.resp, "WWW-Authenticate", "Bearer");
    return r;
}

int serve_slot_or_error(serve_server *srv, int head, serve_slot *slot,
                        serve_err *e)
{
    switch (serve_heads_acquire(&srv->heads, head, SERVE_QUEUE_WAIT_S,
                                slot)) {
    case SERVE_SLOT_OK:
        return 0;
    case SERVE_SLOT_BUSY:
        return serve_fail(e, 503, NULL, "the server is busy (%d running, "
                          "%d waiting): retry later",
                          srv->heads.parallel, srv->heads.queue);
    case SERVE_SLOT_STOPPING:
        return serve_fail(e, 503, NULL, "the server is shutting down");
    default:
        return serve_fail(e, 503, NULL, "no slot freed within %.0f s: retry "
                          "later", SERVE_QUEUE_WAIT_S);
    }
}

static serve_reply text_reply(const char *text, size_t n, const char *type,
                              enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, (void *)text, mode);
    if (r)
        MHD_add_response_header(r, "Content-Type", type);
    return (serve_reply){r, 200};
}

static serve_reply models_reply(serve_server *srv)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    for (int i = 0; i < srv->heads.n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", srv->heads.head[i].id);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", (double)srv->started);
        cJSON_AddStringToObject(m, "owned_by", "nvlm");
        cJSON_AddStringToObject(m, "fusion", srv->heads.head[i].fusion);
        cJSON_AddItemToArray(data, m);
    }
    return serve_reply_json(o, 200);
}

static serve_reply health_reply(serve_server *srv)
{
    int running, waiting;
    serve_heads_counts(&srv->heads, &running, &waiting);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddNumberToObject(o, "heads", srv->heads.n);
    cJSON_AddNumberToObject(o, "running", running);
    cJSON_AddNumberToObject(o, "waiting", waiting);
    cJSON_AddNumberToObject(o, "parallel", srv->heads.parallel);
    return serve_reply_json(o, 200);
}

/* The paths, as the static strings the metrics count them under. */
static const char *const known_paths[] = {
    "/v1/chat/completions", "/v1/tables", "/v1/models", "/health",
    "/metrics", "/"};

static const char *metric_path(const char *url)
{
    for (size_t i = 0; i < sizeof known_paths / sizeof known_paths[0]; i++)
        if (!strcmp(url, known_paths[i]))
            return known_paths[i];
    return "other";
}

static serve_reply route(serve_server *srv, struct MHD_Connection *c,
                         const char *url, const char *method, conn *k)
{
    serve_err e;
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int post = !strcmp(method, "POST");
    const char *want = NULL;
    if (!strcmp(url, "/v1/chat/completions")) {
        if (post)
            return serve_chat(srv, k->body.s, k->body.len);
        want = "POST";
    } else if (!strcmp(url, "/v1/tables")) {
        if (post)
            return serve_tables(srv, c, k->body.s, k->body.len);
        want = "POST";
    } else if (!strcmp(url, "/v1/models")) {
        if (get)
            return models_reply(srv);
        want = "GET";
    } else if (!strcmp(url, "/health")) {
        if (get)
            return health_reply(srv);
        want = "GET";
    } else if (!strcmp(url, "/metrics")) {
        if (get) {
            char *t = serve_metrics_text(&srv->metrics, &srv->heads);
            if (t)
                return text_reply(t, strlen(t),
                                  "text/plain; version=0.0.4; charset=utf-8",
                                  MHD_RESPMEM_MUST_FREE);
            serve_fail(&e, 500, NULL, "out of memory");
            return serve_reply_error(&e);
        }
        want = "GET";
    } else if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
        if (get)
            return text_reply(serve_page_html, serve_page_html_len,
                              "text/html; charset=utf-8",
                              MHD_RESPMEM_PERSISTENT);
        want = "GET";
    } else {
        serve_fail(&e, 404, NULL, "no such path: %.200s (POST "
                   "/v1/chat/completions, POST /v1/tables, GET /v1/models, "
                   "/health, /metrics, /)", url);
        return serve_reply_error(&e);
    }
    serve_fail(&e, 405, NULL, "%s %.200s: use %s", method, url, want);
    serve_reply r = serve_reply_error(&e);
    if (r.resp)
        MHD_add_response_header(r.resp, "Allow", want);
    return r;
}

static enum MHD_Result queue(serve_server *srv, struct MHD_Connection *c,
                             const char *url, serve_reply r)
{
    if (!r.resp) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\","
                                  "\"type\":\"server_error\"}}\n";
        r.resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom,
                                                 MHD_RESPMEM_PERSISTENT);
        r.status = 500;
        if (!r.resp)
            return MHD_NO;
    }
    serve_metrics_request(&srv->metrics, metric_path(url), (int)r.status);
    enum MHD_Result ok = MHD_queue_response(c, r.status, r.resp);
    MHD_destroy_response(r.resp);
    return ok;
}

/* Authorization: Bearer KEY, compared without leaking the key's length
 * through early exits on the first differing byte. */
static int authorized(const serve_server *srv, struct MHD_Connection *c,
                      const char *url, const char *method)
{
    const char *key = srv->cfg->api_key;
    if (!key)
        return 1;
    /* The page itself holds nothing; it asks for the key and sends it. */
    if (!strcmp(method, "GET") && !strcmp(url, "/"))
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return 0;
    h += 7;
    size_t n = strlen(key), m = strlen(h);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)h[i] ^ (unsigned char)key[i % (n ? n : 1)];
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)version;
    serve_server *srv = cls;
    conn *k = *con_cls;
    serve_err e;
    if (!k) {
        if (!(k = calloc(1, sizeof *k)))
            return MHD_NO;
        *con_cls = k;
        pthread_mutex_lock(&srv->flight_mu);
        srv->in_flight++;
        pthread_mutex_unlock(&srv->flight_mu);
        if (!authorized(srv, c, url, method)) {
            k->answered = 1;
            serve_fail(&e, 401, NULL, "missing or wrong API key: send "
                       "'Authorization: Bearer KEY'");
            return queue(srv, c, url, serve_reply_error(&e));
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->cfg->max_body) {
            k->answered = 1;
            serve_fail(&e, 413, NULL, "the body of %s bytes is over the "
                       "limit of %zu (--max-body)", cl, srv->cfg->max_body);
            return queue(srv, c, url, serve_reply_error(&e));
        }
        return MHD_YES;
    }
    if (*data_size) {
        if (!k->answered && !k->too_big) {
            if (k->body.len + *data_size > srv->cfg->max_body)
                k->too_big = 1;
            else
                nv_strbuf_addn(&k->body, data, *data_size);
        }
        *data_size = 0;
        return MHD_YES;
    }
    if (k->answered)
        return MHD_YES;
    k->answered = 1;
    if (k->too_big) {
        serve_fail(&e, 413, NULL, "the body is over the limit of %zu bytes "
                   "(--max-body)", srv->cfg->max_body);
        return queue(srv, c, url, serve_reply_error(&e));
    }
    if (k->body.failed) {
        serve_fail(&e, 413, NULL, "the body does not fit in memory");
        return queue(srv, c, url, serve_reply_error(&e));
    }
    if (!k->body.s)
        nv_strbuf_add(&k->body, ""); /* handlers get a string, never NULL */
    return queue(srv, c, url, route(srv, c, url, method, k));
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    serve_server *srv = cls;
    conn *k = *con_cls;
    if (k) {
        free(k->body.s);
        free(k);
        pthread_mutex_lock(&srv->flight_mu);
        srv->in_flight--;
        pthread_cond_broadcast(&srv->flight_cv);
        pthread_mutex_unlock(&srv->flight_mu);
    }
    *con_cls = NULL;
}

/* host:port into a socket address; IPv6 when the host is one. */
static int resolve(const char *host, int port, struct sockaddr_storage *sa,
                   socklen_t *len, int *v6)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc) {
        fprintf(stderr, "nvlm serve: --host %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

/* Waits up to s seconds for the requests in flight to be answered;
 * returns how many are left. */
static int wait_in_flight(serve_server *srv, double s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = until.tv_nsec + (long long)(s * 1e9);
    until.tv_sec += (time_t)(ns / 1000000000LL);
    until.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&srv->flight_mu);
    while (srv->in_flight > 0)
        if (pthread_cond_timedwait(&srv->flight_cv, &srv->flight_mu,
                                   &until) == ETIMEDOUT)
            break;
    int left = srv->in_flight;
    pthread_mutex_unlock(&srv->flight_mu);
    return left;
}

int serve_run(const serve_config *cfg)
{
    /* The signals are taken by sigwait below, never by a handler; every
     * thread started from here on inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    serve_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return 1;
    srv->cfg = cfg;
    srv->started = time(NULL);
    pthread_mutex_init(&srv->flight_mu, NULL);
    pthread_cond_init(&srv->flight_cv, NULL);
    serve_metrics_init(&srv->metrics);
    char err[1024];
    if (serve_heads_load(&srv->heads, cfg, err, sizeof err)) {
        fprintf(stderr, "nvlm serve: %s\n", err);
        serve_heads_free(&srv->heads);
        serve_metrics_free(&srv->metrics);
        free(srv);
        return 1;
    }
    struct sockaddr_storage sa;
    socklen_t salen;
    int v6 = 0;
    struct MHD_Daemon *d = NULL;
    if (resolve(cfg->host, cfg->port, &sa, &salen, &v6) == 0) {
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                         MHD_USE_ITC |
                         (v6 ? MHD_USE_IPv6 : 0);
        unsigned limit = (unsigned)(cfg->parallel + cfg->queue + 64);
        d = MHD_start_daemon(
            flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
            MHD_OPTION_CONNECTION_LIMIT, limit,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
            MHD_OPTION_END);
        if (!d)
            fprintf(stderr, "nvlm serve: cannot listen on %s port %d (in "
                    "use, or not an address of this machine)\n", cfg->host,
                    cfg->port);
    }
    if (!d) {
        serve_heads_free(&srv->heads);
        serve_metrics_free(&srv->metrics);
        free(srv);
        return 1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int port = info ? info->port : cfg->port;
    fprintf(stderr, "nvlm serve: listening on http://%s%s%s:%d/ (%d "
            "parallel, queue %d)\n", v6 ? "[" : "", cfg->host, v6 ? "]" : "",
            port, cfg->parallel, cfg->queue);
    fflush(stderr);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "nvlm serve: %s: stopping (running requests get %.0f s)"
            "\n", sig == SIGINT ? "SIGINT" : "SIGTERM", cfg->grace_s);
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    serve_heads_refuse(&srv->heads);
    if (wait_in_flight(srv, cfg->grace_s)) {
        fprintf(stderr, "nvlm serve: cancelling the requests still running "
                "after %.0f s\n", cfg->grace_s);
        atomic_store(&srv->heads.cancel, 1);
        wait_in_flight(srv, 5); /* a client that reads nothing: cut off */
    }
    MHD_stop_daemon(d);
    serve_heads_stop(&srv->heads, 0); /* streams still generating */
    serve_heads_free(&srv->heads);
    serve_metrics_free(&srv->metrics);
    pthread_mutex_destroy(&srv->flight_mu);
    pthread_cond_destroy(&srv->flight_cv);
    free(srv);
    fprintf(stderr, "nvlm serve: stopped\n");
    return 0;
}
