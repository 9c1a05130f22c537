/* npy.h - a tiny bounds-checked reader of NumPy .npy files for the tests
 * (little-endian '<f4' or '|u1', C order). Reads the whole file; the data
 * is returned as an owned buffer the caller frees. */
#ifndef NV_TESTS_NPY_H
#define NV_TESTS_NPY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct npy_array {
    char descr[8];   /* "<f4", "|u1", ... */
    int ndim;
    int64_t shape[8];
    int64_t numel;
    void *data; /* numel elements; owned */
} npy_array;

static inline void npy_free(npy_array *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Returns 0 on success; prints why and returns -1 otherwise. */
static inline int npy_load(const char *path, npy_array *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    unsigned char head[10];
    if (fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0 ||
        head[6] != 1) {
        fprintf(stderr, "%s: not a version 1 .npy file\n", path);
        fclose(f);
        return -1;
    }
    size_t header_len = (size_t)head[8] | (size_t)head[9] << 8;
    char header[4096];
    if (header_len >= sizeof header ||
        fread(header, 1, header_len, f) != header_len) {
        fprintf(stderr, "%s: bad header length %zu\n", path, header_len);
        fclose(f);
        return -1;
    }
    header[header_len] = '\0';
    const char *d = strstr(header, "'descr': '");
    const char *fo = strstr(header, "'fortran_order': False");
    const char *sh = strstr(header, "'shape': (");
    if (!d || !fo || !sh) {
        fprintf(stderr, "%s: unsupported header %s\n", path, header);
        fclose(f);
        return -1;
    }
    d += strlen("'descr': '");
    size_t dl = strcspn(d, "'");
    if (dl == 0 || dl >= sizeof out->descr) {
        fprintf(stderr, "%s: bad descr\n", path);
        fclose(f);
        return -1;
    }
    memcpy(out->descr, d, dl);
    out->descr[dl] = '\0';
    size_t elem = strcmp(out->descr, "<f4") == 0   ? 4
                  : strcmp(out->descr, "|u1") == 0 ? 1
                  : strcmp(out->descr, "<i8") == 0 ? 8
                                                   : 0;
    if (!elem) {
        fprintf(stderr, "%s: unsupported dtype %s\n", path, out->descr);
        fclose(f);
        return -1;
    }
    const char *p = sh + strlen("'shape': (");
    out->numel = 1;
    while (*p && *p != ')') {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || out->ndim >= 8 || v > (1LL << 32)) {
            fprintf(stderr, "%s: bad shape\n", path);
            fclose(f);
            return -1;
        }
        out->shape[out->ndim++] = v;
        out->numel *= v;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    if (out->numel > (1LL << 31)) {
        fprintf(stderr, "%s: too large\n", path);
        fclose(f);
        return -1;
    }
    size_t bytes = (size_t)out->numel * elem;
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data || fread(out->data, 1, bytes, f) != bytes) {
        fprintf(stderr, "%s: data shorter than the shape says\n", path);
        npy_free(out);
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

#endif
