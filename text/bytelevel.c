/* bytelevel.c - GPT-2 byte <-> character alphabet; see bytelevel.h. */
#include "text/bytelevel.h"

#include "text/utf8.h"

static int stands_for_itself(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
           (b >= 0xAE && b <= 0xFF);
}

/* The 68 bytes that are not printable, in byte order, are 0x00..0x20,
 * 0x7F..0xA0 and 0xAD; the n-th of them is spelled U+0100 + n. */
uint32_t nv_bytelevel_char(unsigned char b)
{
    if (stands_for_itself(b))
        return b;
    if (b <= 0x20)
        return 0x100 + (uint32_t)b;
    if (b >= 0x7F && b <= 0xA0)
        return 0x100 + 33 + (uint32_t)(b - 0x7F);
    return 0x100 + 67; /* 0xAD, the soft hyphen */
}

int nv_bytelevel_byte(uint32_t cp)
{
    if (cp < 0x100)
        return stands_for_itself(cp) ? (int)cp : -1;
    uint32_t n = cp - 0x100;
    if (n < 33)
        return (int)n;
    if (n < 67)
        return (int)(0x7F + (n - 33));
    if (n == 67)
        return 0xAD;
    return -1;
}

long nv_bytelevel_to_bytes(const char *piece, size_t len, char *out)
{
    size_t i = 0;
    long o = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = nv_utf8_decode(piece + i, len - i, &cp);
        if (n == 0)
            return -1;
        int b = nv_bytelevel_byte(cp);
        if (b < 0)
            return -1;
        out[o++] = (char)b;
        i += n;
    }
    return o;
}
