/* metrics.c - counters for GET /metrics; see metrics.h. */
#include "serve/metrics.h"

#include <string.h>

#include "core/strbuf.h"

static const double bucket_le[SERVE_METRICS_BUCKETS] = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

void serve_metrics_init(serve_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void serve_metrics_free(serve_metrics *m)
{
    pthread_mutex_destroy(&m->mu);
}

void serve_metrics_request(serve_metrics *m, const char *path, int code)
{
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->n_req && (m->req[i].path != path || m->req[i].code != code))
        i++;
    if (i == m->n_req && i < SERVE_METRICS_CODES) {
        m->req[i].path = path;
        m->req[i].code = code;
        m->n_req++;
    }
    if (i < m->n_req)
        m->req[i].n++;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_run(serve_metrics *m, int head, int prompt_tokens,
                       int completion_tokens, double seconds)
{
    if (head < 0 || head > 2)
        return;
    pthread_mutex_lock(&m->mu);
    m->head[head].requests++;
    m->head[head].prompt_tokens += (unsigned long)prompt_tokens;
    m->head[head].completion_tokens += (unsigned long)completion_tokens;
    m->head[head].seconds += seconds;
    int b = 0;
    while (b < SERVE_METRICS_BUCKETS && seconds > bucket_le[b])
        b++;
    m->head[head].bucket[b]++;
    pthread_mutex_unlock(&m->mu);
}

char *serve_metrics_text(serve_metrics *m, serve_heads *heads)
{
    nv_strbuf b = {0};
    int running, waiting;
    serve_heads_counts(heads, &running, &waiting);
    pthread_mutex_lock(&m->mu);
    nv_strbuf_add(&b, "# HELP nvlm_requests_total HTTP requests answered, "
                      "by path and status.\n"
                      "# TYPE nvlm_requests_total counter\n");
    for (int i = 0; i < m->n_req; i++)
        nv_strbuf_addf(&b, "nvlm_requests_total{path=\"%s\",code=\"%d\"} "
                       "%lu\n", m->req[i].path, m->req[i].code, m->req[i].n);
    nv_strbuf_add(&b, "# HELP nvlm_prompt_tokens_total Prompt tokens, by "
                      "head.\n# TYPE nvlm_prompt_tokens_total counter\n");
    for (int h = 0; h < heads->n; h++)
        nv_strbuf_addf(&b, "nvlm_prompt_tokens_total{model=\"%s\"} %lu\n",
                       heads->head[h].id, m->head[h].prompt_tokens);
    nv_strbuf_add(&b, "# HELP nvlm_completion_tokens_total Generated tokens, "
                      "by head.\n# TYPE nvlm_completion_tokens_total "
                      "counter\n");
    for (int h = 0; h < heads->n; h++)
        nv_strbuf_addf(&b, "nvlm_completion_tokens_total{model=\"%s\"} %lu\n",
                       heads->head[h].id, m->head[h].completion_tokens);
    nv_strbuf_add(&b, "# HELP nvlm_request_duration_seconds Time from a "
                      "slot to the last token, by head.\n"
                      "# TYPE nvlm_request_duration_seconds histogram\n");
    for (int h = 0; h < heads->n; h++) {
        unsigned long cum = 0;
        for (int k = 0; k <= SERVE_METRICS_BUCKETS; k++) {
            cum += m->head[h].bucket[k];
            if (k < SERVE_METRICS_BUCKETS)
                nv_strbuf_addf(&b, "nvlm_request_duration_seconds_bucket{"
                               "model=\"%s\",le=\"%g\"} %lu\n",
                               heads->head[h].id, bucket_le[k], cum);
            else
                nv_strbuf_addf(&b, "nvlm_request_duration_seconds_bucket{"
                               "model=\"%s\",le=\"+Inf\"} %lu\n",
                               heads->head[h].id, cum);
        }
        nv_strbuf_addf(&b, "nvlm_request_duration_seconds_sum{model=\"%s\"} "
                       "%.6f\n", heads->head[h].id, m->head[h].seconds);
        nv_strbuf_addf(&b, "nvlm_request_duration_seconds_count{model=\"%s\"}"
                       " %lu\n", heads->head[h].id, m->head[h].requests);
    }
    pthread_mutex_unlock(&m->mu);
    nv_strbuf_addf(&b, "# HELP nvlm_requests_running Requests holding a "
                   "slot.\n# TYPE nvlm_requests_running gauge\n"
                   "nvlm_requests_running %d\n", running);
    nv_strbuf_addf(&b, "# HELP nvlm_queue_length Requests waiting for a "
                   "slot.\n# TYPE nvlm_queue_length gauge\n"
                   "nvlm_queue_length %d\n", waiting);
    nv_error e = {{0}};
    return nv_strbuf_finish(&b, &e);
}
