/* stream.c - the SSE buffer between a generation and its response; see
 * stream.h. */
#include "serve/stream.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/strbuf.h"

struct serve_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    nv_strbuf buf;
    size_t read_pos;
    int done;
    int refs;
    atomic_int cancelled;
};

serve_stream *serve_stream_new(void)
{
    serve_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->refs = 2;
    return s;
}

static void unref(serve_stream *s)
{
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left)
        return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->buf.s);
    free(s);
}

void serve_stream_put(serve_stream *s, const char *data, size_t n)
{
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->cancelled)) {
        /* Drop what was read once it is most of the buffer. */
        if (s->read_pos > 4096 && s->read_pos * 2 > s->buf.len) {
            memmove(s->buf.s, s->buf.s + s->read_pos,
                    s->buf.len - s->read_pos + 1);
            s->buf.len -= s->read_pos;
            s->read_pos = 0;
        }
        nv_strbuf_addn(&s->buf, data, n);
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

void serve_stream_close(serve_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->done = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    unref(s);
}

int serve_stream_cancelled(serve_stream *s)
{
    return atomic_load(&s->cancelled);
}

ssize_t serve_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    serve_stream *s = cls;
    pthread_mutex_lock(&s->mu);
    /* Thread per connection: the reader may block until there is more. */
    while (s->read_pos == s->buf.len && !s->done && !s->buf.failed)
        pthread_cond_wait(&s->cv, &s->mu);
    ssize_t n;
    if (s->buf.failed) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (s->read_pos < s->buf.len) {
        size_t k = s->buf.len - s->read_pos;
        if (k > max)
            k = max;
        memcpy(buf, s->buf.s + s->read_pos, k);
        s->read_pos += k;
        n = (ssize_t)k;
    } else {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

void serve_stream_release(void *cls)
{
    serve_stream *s = cls;
    atomic_store(&s->cancelled, 1);
    unref(s);
}
