/* heads.h - the fusion heads `nvlm serve` keeps loaded, and the slots that
 * bound how many requests run at once.
 *
 * An nvlm_model holds one head and runs one call at a time (nvlm.h), so
 * each head is loaded `parallel` times: any running request finds a free
 * instance of the head it names. Every instance maps the same
 * model.safetensors, so the file's pages are in memory once; what each
 * instance adds is its own converted (f16 -> f32) weights and scratch
 * (docs/serve.md, "Memory").
 *
 * At most `parallel` requests hold a slot; up to `queue` more wait for one;
 * past that a request is told to come back (HTTP 503). Thread-safe.
 */
#ifndef NV_SERVE_HEADS_H
#define NV_SERVE_HEADS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "nvlm.h"
#include "serve/serve.h"

typedef struct serve_head {
    char id[80];         /* what requests name it: "nvlm-tables:d" */
    char fusion[2];      /* "d", "x" or "h" */
    nvlm_model **inst;   /* [parallel] */
    int *busy;           /* [parallel] */
} serve_head;

typedef struct serve_heads {
    serve_head head[3];
    int n;
    char model_name[64];  /* the model directory's name */
    int parallel, queue;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, waiting;
    int stopping;         /* no new slots: the server is going down */
    atomic_int cancel;    /* running generations stop at their next token */
} serve_heads;

typedef struct serve_slot {
    int head, inst;
    nvlm_model *model;
} serve_slot;

enum { SERVE_SLOT_OK = 0, SERVE_SLOT_BUSY = 1, SERVE_SLOT_STOPPING = 2,
       SERVE_SLOT_TIMEOUT = 3 };

/* Loads cfg->fusions (every head of the model when empty), parallel times
 * each. Prints one line per head to stderr. -1 with a message. */
int serve_heads_load(serve_heads *h, const serve_config *cfg, char *err,
                     size_t errlen);
void serve_heads_free(serve_heads *h);

/* The head a request's "model" names: "nvlm-tables:d", "d" (any case), or
 * NULL / "" / the bare model name for the first head. -1 when unknown. */
int serve_heads_find(const serve_heads *h, const char *model);

/* Waits (at most wait_s seconds) for a slot on head `head`. Returns
 * SERVE_SLOT_OK with *slot filled, SERVE_SLOT_BUSY when the queue is full,
 * SERVE_SLOT_STOPPING or SERVE_SLOT_TIMEOUT. */
int serve_heads_acquire(serve_heads *h, int head, double wait_s,
                        serve_slot *slot);
void serve_heads_release(serve_heads *h, serve_slot *slot);

/* Running and waiting requests now. */
void serve_heads_counts(serve_heads *h, int *running, int *waiting);

/* Refuses new slots from now on and wakes the waiters (their 503). */
void serve_heads_refuse(serve_heads *h);

/* Refuses new slots and wakes the waiters; waits up to grace_s for the
 * running requests to end, then asks them to stop (cancel) and waits for
 * them. */
void serve_heads_stop(serve_heads *h, double grace_s);

#endif
