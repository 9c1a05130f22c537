/* utf8.c - validating UTF-8 decode/encode and repair; see utf8.h. */
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

/* For a lead byte: the sequence length and the allowed range of the second
 * byte (narrower than 80..BF for E0, ED, F0, F4, which excludes overlong
 * forms, surrogates and values above U+10FFFF). Returns 0 for bytes that
 * can never start a character. */
static size_t lead_info(unsigned char b, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0)
            *lo = 0xA0;
        if (b == 0xED)
            *hi = 0x9F;
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0)
            *lo = 0x90;
        if (b == 0xF4)
            *hi = 0x8F;
        return 4;
    }
    return 0;
}

/* Number of leading bytes of s that form a valid (possibly incomplete)
 * prefix of one character, and the full length needed in *need. */
static size_t valid_prefix(const char *s, size_t len, size_t *need)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char lo, hi;
    *need = lead_info(u[0], &lo, &hi);
    if (*need == 0)
        return 0;
    size_t k = 1;
    while (k < *need && k < len) {
        unsigned char c = u[k];
        if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF))
            break;
        k++;
    }
    return k;
}

size_t nv_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    if (len == 0)
        return 0;
    size_t need;
    size_t have = valid_prefix(s, len, &need);
    if (need == 0 || have < need)
        return 0;
    const unsigned char *u = (const unsigned char *)s;
    uint32_t v;
    if (need == 1)
        v = u[0];
    else if (need == 2)
        v = (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    else if (need == 3)
        v = (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 |
            (u[2] & 0x3F);
    else
        v = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
            (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
    *cp = v;
    return need;
}

size_t nv_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *u = (unsigned char *)out;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t nv_utf8_invalid_len(const char *s, size_t len)
{
    size_t need;
    size_t have = valid_prefix(s, len, &need);
    return have ? have : 1;
}

int nv_utf8_valid(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if ((unsigned char)text[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = nv_utf8_decode(text + i, len - i, &cp);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

char *nv_utf8_repair(const char *text, size_t len, size_t *out_len,
                     nv_error *err)
{
    /* Each replaced byte grows to at most 3 bytes. */
    if (len > (SIZE_MAX - 1) / 3) {
        nv_fail(err, "text: input of %zu bytes is too large", len);
        return NULL;
    }
    char *out = malloc(len * 3 + 1);
    if (!out) {
        nv_fail(err, "text: out of memory for %zu bytes", len);
        return NULL;
    }
    size_t o = 0, i = 0;
    while (i < len) {
        if ((unsigned char)text[i] < 0x80) {
            out[o++] = text[i++];
            continue;
        }
        uint32_t cp;
        size_t n = nv_utf8_decode(text + i, len - i, &cp);
        if (n) {
            memcpy(out + o, text + i, n);
            o += n;
            i += n;
        } else {
            o += nv_utf8_encode(0xFFFD, out + o);
            i += nv_utf8_invalid_len(text + i, len - i);
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}
