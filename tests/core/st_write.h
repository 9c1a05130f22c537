/* st_write.h - writes small safetensors files for the core tests: a header
 * given as JSON text plus raw data bytes, independent of the reader under
 * test. Hostile tests pass their own header-length field. */
#ifndef NV_TESTS_ST_WRITE_H
#define NV_TESTS_ST_WRITE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Writes the 8-byte little-endian length field, then `header_bytes` of
 * header, then the data. Returns 0 on success. */
static inline int st_write_raw(const char *path, uint64_t length_field,
                               const void *header, size_t header_bytes,
                               const void *data, size_t data_bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(length_field >> (8 * i));
    int ok = fwrite(len, 1, 8, f) == 8 &&
             (header_bytes == 0 ||
              fwrite(header, 1, header_bytes, f) == header_bytes) &&
             (data_bytes == 0 || fwrite(data, 1, data_bytes, f) == data_bytes);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A well-formed file: the header padded with spaces to a multiple of 8 as
 * the reference writer does. */
static inline int st_write(const char *path, const char *header,
                           const void *data, size_t data_bytes)
{
    char padded[8192];
    size_t n = strlen(header);
    if (n + 8 > sizeof padded)
        return -1;
    memcpy(padded, header, n);
    while (n % 8)
        padded[n++] = ' ';
    return st_write_raw(path, n, padded, n, data, data_bytes);
}

#endif
