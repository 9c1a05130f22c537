/* test_strbuf.c - the growing string (core/strbuf.h): appends of every
 * kind land in order with a closing NUL, growth past the first block keeps
 * the content, an empty builder finishes as "", and an over-long addf
 * marks the buffer failed so finish reports it. */
#include <string.h>

#include "check.h"
#include "core/strbuf.h"

static void check_appends(void)
{
    nv_error e = {0};
    nv_strbuf b = {0};
    nv_strbuf_add(&b, "ab");
    nv_strbuf_addn(&b, "cdef", 2);
    nv_strbuf_addf(&b, "<%d>", 42);
    nv_strbuf_repeat(&b, "x", 3);
    nv_strbuf_repeat(&b, "y", 0);
    char *s = nv_strbuf_finish(&b, &e);
    CHECK(s && !strcmp(s, "abcd<42>xxx"));
    free(s);
}

static void check_growth(void)
{
    nv_error e = {0};
    nv_strbuf b = {0};
    /* Far past the first allocation, so the buffer is moved several times. */
    for (int i = 0; i < 5000; i++)
        nv_strbuf_addf(&b, "%d,", i % 10);
    CHECK(!b.failed && b.len == 10000);
    char *s = nv_strbuf_finish(&b, &e);
    int ok = s && strlen(s) == 10000;
    for (int i = 0; ok && i < 5000; i++)
        ok = s[2 * i] == '0' + i % 10 && s[2 * i + 1] == ',';
    CHECK(ok);
    free(s);
}

static void check_empty_and_failed(void)
{
    nv_error e = {0};
    nv_strbuf empty = {0};
    char *s = nv_strbuf_finish(&empty, &e);
    CHECK(s && s[0] == '\0');
    free(s);

    char big[400];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    nv_strbuf b = {0};
    nv_strbuf_add(&b, "ok");
    nv_strbuf_addf(&b, "%s", big);
    nv_strbuf_add(&b, "more");
    CHECK(b.failed);
    CHECK(nv_strbuf_finish(&b, &e) == NULL);
    CHECK(strstr(e.msg, "out of memory") != NULL);
}

int main(void)
{
    check_appends();
    check_growth();
    check_empty_and_failed();
    return check_summary("strbuf");
}
