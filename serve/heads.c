/* heads.c - the loaded heads and the request slots; see heads.h. */
#include "serve/heads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/threads.h"

static void model_name(const char *dir, char *out, size_t cap)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/')
        tmp[--n] = '\0';
    const char *base = strrchr(tmp, '/');
    snprintf(out, cap, "%s", base ? base + 1 : tmp);
}

static nvlm_model *load_one(const serve_config *cfg, const char *fusion,
                            char *err, size_t errlen)
{
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.fusion = fusion;
    int cores = nv_threads_available();
    opt.threads = cfg->threads > 0 ? cfg->threads
                                   : (cores / cfg->parallel > 0
                                          ? cores / cfg->parallel : 1);
    opt.max_pixels = cfg->max_pixels;
    return nvlm_load(cfg->model_dir, &opt, err, errlen);
}

int serve_heads_load(serve_heads *h, const serve_config *cfg, char *err,
                     size_t errlen)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->parallel = cfg->parallel;
    h->queue = cfg->queue;
    model_name(cfg->model_dir, h->model_name, sizeof h->model_name);
    char wanted[4] = "";
    if (cfg->fusions && cfg->fusions[0]) {
        snprintf(wanted, sizeof wanted, "%s", cfg->fusions);
    } else {
        /* Every head the model has: the default load says which. */
        nvlm_model *probe = load_one(cfg, NULL, err, errlen);
        if (!probe)
            return -1;
        for (const char *f = "dxh"; *f; f++) {
            char one[2] = {*f, 0};
            if (nvlm_has_fusion(probe, one))
                wanted[strlen(wanted)] = *f;
        }
        nvlm_free(probe);
    }
    for (int i = 0; wanted[i]; i++) {
        serve_head *hd = &h->head[h->n++];
        hd->fusion[0] = wanted[i];
        snprintf(hd->id, sizeof hd->id, "%s:%c", h->model_name, wanted[i]);
        hd->inst = calloc((size_t)h->parallel, sizeof *hd->inst);
        hd->busy = calloc((size_t)h->parallel, sizeof *hd->busy);
        if (!hd->inst || !hd->busy) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (int k = 0; k < h->parallel; k++)
            if (!(hd->inst[k] = load_one(cfg, hd->fusion, err, errlen)))
                return -1;
        fprintf(stderr, "nvlm serve: loaded %s (%d instance%s)\n", hd->id,
                h->parallel, h->parallel > 1 ? "s" : "");
    }
    if (h->n && nvlm_model_warning(h->head[0].inst[0]))
        fprintf(stderr, "nvlm serve: note: %s\n",
                nvlm_model_warning(h->head[0].inst[0]));
    return 0;
}

void serve_heads_free(serve_heads *h)
{
    for (int i = 0; i < h->n; i++) {
        for (int k = 0; h->head[i].inst && k < h->parallel; k++)
            nvlm_free(h->head[i].inst[k]);
        free(h->head[i].inst);
        free(h->head[i].busy);
    }
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    memset(h, 0, sizeof *h);
}

int serve_heads_find(const serve_heads *h, const char *model)
{
    if (!model || !model[0] || !strcmp(model, h->model_name))
        return h->n ? 0 : -1;
    for (int i = 0; i < h->n; i++)
        if (!strcasecmp(model, h->head[i].id) ||
            !strcasecmp(model, h->head[i].fusion))
            return i;
    return -1;
}

static void deadline_after(struct timespec *ts, double s)
{
    clock_gettime(CLOCK_REALTIME, ts);
    long long ns = ts->tv_nsec + (long long)(s * 1e9);
    ts->tv_sec += (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

int serve_heads_acquire(serve_heads *h, int head, double wait_s,
                        serve_slot *slot)
{
    struct timespec until;
    deadline_after(&until, wait_s);
    pthread_mutex_lock(&h->mu);
    int rc = SERVE_SLOT_OK;
    if (h->stopping) {
        rc = SERVE_SLOT_STOPPING;
    } else if (h->running >= h->parallel && h->waiting >= h->queue) {
        rc = SERVE_SLOT_BUSY;
    } else {
        h->waiting++;
        while (h->running >= h->parallel && !h->stopping && rc == 0)
            if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT)
                rc = SERVE_SLOT_TIMEOUT;
        h->waiting--;
        if (h->stopping)
            rc = SERVE_SLOT_STOPPING;
    }
    if (rc == SERVE_SLOT_OK) {
        /* running < parallel and each head has parallel instances: one is
         * free. */
        serve_head *hd = &h->head[head];
        int k = 0;
        while (k < h->parallel && hd->busy[k])
            k++;
        hd->busy[k] = 1;
        h->running++;
        slot->head = head;
        slot->inst = k;
        slot->model = hd->inst[k];
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

void serve_heads_release(serve_heads *h, serve_slot *slot)
{
    if (!slot->model)
        return;
    pthread_mutex_lock(&h->mu);
    h->head[slot->head].busy[slot->inst] = 0;
    h->running--;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    slot->model = NULL;
}

void serve_heads_counts(serve_heads *h, int *running, int *waiting)
{
    pthread_mutex_lock(&h->mu);
    *running = h->running;
    *waiting = h->waiting;
    pthread_mutex_unlock(&h->mu);
}

void serve_heads_refuse(serve_heads *h)
{
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

void serve_heads_stop(serve_heads *h, double grace_s)
{
    struct timespec until;
    deadline_after(&until, grace_s);
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_broadcast(&h->cv);
    while (h->running > 0)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT)
            break;
    if (h->running > 0) {
        fprintf(stderr, "nvlm serve: cancelling %d running request(s)\n",
                h->running);
        atomic_store(&h->cancel, 1);
        while (h->running > 0)
            pthread_cond_wait(&h->cv, &h->mu);
    }
    pthread_mutex_unlock(&h->mu);
}
