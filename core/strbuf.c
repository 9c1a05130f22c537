/* strbuf.c - the growing string; see strbuf.h. */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(nv_strbuf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void nv_strbuf_addn(nv_strbuf *b, const char *text, size_t n)
{
    if (reserve(b, n))
        return;
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void nv_strbuf_add(nv_strbuf *b, const char *text)
{
    nv_strbuf_addn(b, text, strlen(text));
}

void nv_strbuf_addf(nv_strbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof small) {
        b->failed = 1; /* only short pieces go through here */
        return;
    }
    nv_strbuf_add(b, small);
}

void nv_strbuf_repeat(nv_strbuf *b, const char *text, int count)
{
    size_t n = strlen(text);
    if (count <= 0 || reserve(b, n * (size_t)count))
        return;
    for (int i = 0; i < count; i++) {
        memcpy(b->s + b->len, text, n);
        b->len += n;
    }
    b->s[b->len] = '\0';
}

char *nv_strbuf_finish(nv_strbuf *b, nv_error *err)
{
    if (!b->failed && reserve(b, 0) == 0) {
        if (b->len == 0)
            b->s[0] = '\0';
        return b->s;
    }
    free(b->s);
    memset(b, 0, sizeof *b);
    nv_fail(err, "out of memory building the prompt");
    return NULL;
}
