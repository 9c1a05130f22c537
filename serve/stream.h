/* stream.h - the buffer between a generation, which runs on its own thread
 * and writes server-sent events, and libmicrohttpd, which reads them for
 * the client on the connection's thread. Two owners: the producer (the
 * generation) and the response; whichever lets go last frees it. When the
 * client goes away, libmicrohttpd frees the response and the stream is
 * marked cancelled, which the generation checks at every token. */
#ifndef NV_SERVE_STREAM_H
#define NV_SERVE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct serve_stream serve_stream;

/* A stream with both references taken; NULL when memory ran out. */
serve_stream *serve_stream_new(void);
/* Appends bytes for the client (the producer). */
void serve_stream_put(serve_stream *s, const char *data, size_t n);
/* The producer is done: the response ends once drained. Drops the
 * producer's reference. */
void serve_stream_close(serve_stream *s);
/* 1 once the client has gone. */
int serve_stream_cancelled(serve_stream *s);

/* libmicrohttpd's content reader and its free callback (the response's
 * reference). */
ssize_t serve_stream_read(void *cls, uint64_t pos, char *buf, size_t max);
void serve_stream_release(void *cls);

#endif
