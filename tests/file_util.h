/* file_util.h - reading and writing whole small files in tests: fixtures
 * read back as bytes or text, and config / index files written into
 * scratch directories. Header-only. */
#ifndef NV_TESTS_FILE_UTIL_H
#define NV_TESTS_FILE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file in a malloc'd buffer with a NUL after its *len bytes (so
 * text files read as C strings); NULL when it cannot be read. len may be
 * NULL. */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    char *buf = n >= 0 && fseek(f, 0, SEEK_SET) == 0
                    ? malloc((size_t)n + 1)
                    : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

/* Writes text as the whole file; 0 on success. */
static inline int test_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

#endif
