/* metrics.h - what GET /metrics reports, in Prometheus' text format:
 * requests by path and status, tokens and request latency per head (a
 * histogram), and the running and waiting requests. Thread-safe; the
 * server owns one. */
#ifndef NV_SERVE_METRICS_H
#define NV_SERVE_METRICS_H

#include <pthread.h>

#include "serve/heads.h"

#define SERVE_METRICS_BUCKETS 11
#define SERVE_METRICS_CODES 64

typedef struct serve_metrics {
    pthread_mutex_t mu;
    struct {
        const char *path; /* a static string */
        int code;
        unsigned long n;
    } req[SERVE_METRICS_CODES];
    int n_req;
    struct {
        unsigned long requests, prompt_tokens, completion_tokens;
        unsigned long bucket[SERVE_METRICS_BUCKETS + 1]; /* last: +Inf */
        double seconds;
    } head[3];
} serve_metrics;

void serve_metrics_init(serve_metrics *m);
void serve_metrics_free(serve_metrics *m);

/* One answered request. `path` must be a static string. */
void serve_metrics_request(serve_metrics *m, const char *path, int code);
/* One model run on head index `head`. */
void serve_metrics_run(serve_metrics *m, int head, int prompt_tokens,
                       int completion_tokens, double seconds);
/* The exposition text (malloc'd), NULL when memory ran out. */
char *serve_metrics_text(serve_metrics *m, serve_heads *heads);

#endif
