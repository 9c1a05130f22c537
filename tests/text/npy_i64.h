/* npy_i64.h - a small bounds-checked reader of .npy files holding int64 or
 * int32 arrays (little-endian, C order), enough for the golden input ids.
 * Returns a malloc'd array of *n values, or NULL with a message on stderr. */
#ifndef NV_TESTS_NPY_I64_H
#define NV_TESTS_NPY_I64_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int64_t *npy_read_i64(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return NULL;
    }
    unsigned char pre[12];
    char header[4096];
    int64_t *out = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "%s: not a .npy file\n", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
    } else {
        if (fread(pre + 10, 1, 2, f) != 2) {
            fprintf(stderr, "%s: truncated header\n", path);
            goto done;
        }
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
               (size_t)pre[11] << 24;
    }
    if (hlen >= sizeof header || fread(header, 1, hlen, f) != hlen) {
        fprintf(stderr, "%s: bad header length %zu\n", path, hlen);
        goto done;
    }
    header[hlen] = '\0';
    int is64 = strstr(header, "'<i8'") != NULL;
    if ((!is64 && !strstr(header, "'<i4'")) ||
        !strstr(header, "'fortran_order': False")) {
        fprintf(stderr, "%s: want <i8 or <i4 in C order: %s\n", path, header);
        goto done;
    }
    const char *shape = strstr(header, "'shape': (");
    if (!shape) {
        fprintf(stderr, "%s: no shape\n", path);
        goto done;
    }
    size_t count = 1;
    for (const char *p = shape + 10; *p && *p != ')';) {
        char *end;
        unsigned long long d = strtoull(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (d > 100000000ull || count * d > 100000000ull) {
            fprintf(stderr, "%s: array too large\n", path);
            goto done;
        }
        count *= (size_t)d;
        p = end;
    }
    size_t width = is64 ? 8 : 4;
    unsigned char *raw = malloc(count * width + 1);
    out = malloc((count ? count : 1) * sizeof *out);
    if (!raw || !out || fread(raw, width, count, f) != count) {
        fprintf(stderr, "%s: truncated data\n", path);
        free(raw);
        free(out);
        out = NULL;
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        uint64_t v = 0;
        for (size_t b = 0; b < width; b++)
            v |= (uint64_t)raw[i * width + b] << (8 * b);
        out[i] = is64 ? (int64_t)v : (int64_t)(int32_t)(uint32_t)v;
    }
    free(raw);
    *n = count;
done:
    fclose(f);
    return out;
}

#endif
