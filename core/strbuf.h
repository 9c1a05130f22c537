/* strbuf.h - a NUL-terminated byte string that grows as text is appended:
 * prompts, generated answers, Markdown output. Appends never fail one by
 * one; the first failed allocation marks the buffer and later appends do
 * nothing, so a builder checks once at the end (nv_strbuf_finish, or
 * `failed`).
 */
#ifndef NV_CORE_STRBUF_H
#define NV_CORE_STRBUF_H

#include <stddef.h>

#include "core/error.h"

/* Start from {0}; s is NULL until the first append. */
typedef struct nv_strbuf {
    char *s;
    size_t len, cap;
    int failed;
} nv_strbuf;

void nv_strbuf_add(nv_strbuf *b, const char *text);
void nv_strbuf_addn(nv_strbuf *b, const char *text, size_t n);
/* printf-style, for short pieces: a result over 255 bytes marks the
 * buffer failed. */
void nv_strbuf_addf(nv_strbuf *b, const char *fmt, ...);
/* Appends `text` `count` times. */
void nv_strbuf_repeat(nv_strbuf *b, const char *text, int count);
/* The string (caller frees), or NULL with err set when memory ran out. */
char *nv_strbuf_finish(nv_strbuf *b, nv_error *err);

#endif
