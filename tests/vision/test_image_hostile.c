/* test_image_hostile.c - hostile images (issue 17) are refused quickly,
 * in little memory, with a message naming the file and the problem.
 *
 * The files are made here, byte by byte:
 *  - a JPEG whose DHT code counts add up to 272 (> 256): stb_image wrote
 *    past its arrays; must be an error, clean under ASan/UBSan; also with
 *    a stray byte after SOI (which once fell through to stb_image);
 *  - a 512x512 progressive JPEG with 1000 (empty) scans: refused at the
 *    scan limit; one with exactly the limit decodes;
 *  - an 8000x8000 JPEG header over the pixel cap: refused before decoding;
 *  - an 8000x8000 progressive JPEG of 150 bytes: refused for lacking the
 *    data its blocks need, before the coefficient buffer (565 MB) exists;
 *  - a 35-byte GIF with an 8000x8000 screen and a 1x1 frame: refused
 *    before stb_image allocates the screen (500 MB); a 64x64 screen with
 *    the same frame still decodes.
 * Memory is checked through the peak RSS (ru_maxrss), which these checks
 * run first so that nothing before raised it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tests/check.h"
#include "vision/image.h"
#include "vision/image_decoders.h"

typedef struct {
    uint8_t *b;
    size_t len, cap;
} buf;

static void put(buf *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2;
        o->b = realloc(o->b, o->cap);
        if (!o->b)
            abort();
    }
    memcpy(o->b + o->len, p, n);
    o->len += n;
}

static void put1(buf *o, int v)
{
    uint8_t c = (uint8_t)v;
    put(o, &c, 1);
}

/* A marker segment: FF m, big-endian length (payload + 2), payload. */
static void segment(buf *o, int marker, const uint8_t *payload, size_t n)
{
    put1(o, 0xFF);
    put1(o, marker);
    put1(o, (int)((n + 2) >> 8));
    put1(o, (int)((n + 2) & 0xFF));
    put(o, payload, n);
}

static void jpeg_head(buf *o, int sof, int width, int height, int comps)
{
    put(o, "\xFF\xD8", 2);
    uint8_t dqt[65] = {0};
    for (int i = 1; i < 65; i++)
        dqt[i] = 1;
    segment(o, 0xDB, dqt, sizeof dqt);
    uint8_t f[6 + 3 * 3] = {8, (uint8_t)(height >> 8), (uint8_t)height,
                            (uint8_t)(width >> 8), (uint8_t)width,
                            (uint8_t)comps};
    for (int c = 0; c < comps; c++) {
        f[6 + 3 * c] = (uint8_t)(c + 1);
        f[7 + 3 * c] = 0x11;
        f[8 + 3 * c] = 0;
    }
    segment(o, sof, f, 6 + 3 * (size_t)comps);
}

/* DC table 0 and AC table 0, each one symbol (0) with the code "0". */
static void jpeg_tables(buf *o)
{
    uint8_t t[18] = {0x00, 1};
    segment(o, 0xC4, t, sizeof t);
    t[0] = 0x10;
    segment(o, 0xC4, t, sizeof t);
}

static void jpeg_scan(buf *o, int comps, int ss, int se, int ah, int al)
{
    uint8_t s[1 + 2 * 3 + 3] = {(uint8_t)comps};
    for (int c = 0; c < comps; c++) {
        s[1 + 2 * c] = (uint8_t)(c + 1);
        s[2 + 2 * c] = 0x00;
    }
    s[1 + 2 * comps] = (uint8_t)ss;
    s[2 + 2 * comps] = (uint8_t)se;
    s[3 + 2 * comps] = (uint8_t)(ah << 4 | al);
    segment(o, 0xDA, s, 4 + 2 * (size_t)comps);
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Decodes `o` as `name`: expects a refusal whose message holds `want`
 * (NULL: expects success), within `max_s` seconds and `max_mb` MB of new
 * peak memory. */
static void expect(const buf *o, const char *name, int64_t max_pixels,
                   const char *want, double max_s, long max_mb)
{
    long rss0 = peak_rss_kb();
    double t0 = now_s();
    nv_image img;
    nv_error err = {{0}};
    int rc = nv_image_decode(o->b, o->len, name, max_pixels, &img, &err);
    double dt = now_s() - t0;
    long grown_mb = (peak_rss_kb() - rss0) / 1024;
    printf("  %-22s %6zu bytes -> %s (%.3f s, peak +%ld MB)\n", name, o->len,
           rc ? err.msg : "decoded", dt, grown_mb);
    if (want) {
        CHECK(rc == -1);
        CHECK(img.rgb == NULL);
        if (!CHECK(strstr(err.msg, name) == err.msg &&
                   strstr(err.msg, want) != NULL))
            fprintf(stderr, "  want '%s'\n", want);
    } else {
        CHECK(rc == 0);
        nv_image_free(&img);
    }
    CHECK(dt < max_s);
    CHECK(grown_mb <= max_mb);
}

static void check_over_cap(void)
{
    buf o = {0};
    jpeg_head(&o, 0xC0, 8000, 8000, 3);
    jpeg_tables(&o);
    jpeg_scan(&o, 3, 0, 63, 0, 0);
    put(&o, "\xFF\xD9", 2);
    expect(&o, "over_cap.jpg", (int64_t)8000 * 8000 - 1,
           "image of 8000x8000 pixels is above the limit of 63999999", 1.0,
           16);
    free(o.b);
}

static void check_progressive_without_data(void)
{
    buf o = {0};
    jpeg_head(&o, 0xC2, 8000, 8000, 3);
    jpeg_tables(&o);
    jpeg_scan(&o, 3, 0, 0, 0, 0);
    put(&o, "\xFF\xD9", 2);
    expect(&o, "prog_no_data.jpg", 0,
           "JPEG: 3000000 blocks need at least 375000 bytes of coded data", 1.0,
           16);
    free(o.b);
}

static void check_huge_gif_screen(void)
{
    static const uint8_t gif[35] = {
        'G', 'I', 'F', '8', '9', 'a', 0x40, 0x1F, 0x40, 0x1F, /* 8000x8000 */
        0x80, 0, 0, 0, 0, 0, 255, 255, 255,     /* 2-colour table */
        0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0,        /* 1x1 frame at 0,0 */
        2, 2, 0x44, 0x01, 0,                    /* LZW: clear, 0, end */
        0x3B};
    buf o = {0};
    put(&o, gif, sizeof gif);
    expect(&o, "screen.gif", 0,
           "GIF: logical screen of 8000x8000 pixels is more than 4 times its "
           "first frame (1x1)",
           1.0, 16);
    /* The same frame on a 64x64 screen is below the spare-screen limit. */
    o.b[6] = 64;
    o.b[7] = 0;
    o.b[8] = 64;
    o.b[9] = 0;
    expect(&o, "small_screen.gif", 0, NULL, 1.0, 16);
    free(o.b);
}

static void check_dht_overflow(void)
{
    buf o = {0};
    jpeg_head(&o, 0xC0, 8, 8, 1);
    uint8_t dht[1 + 16 + 272] = {0x00};
    for (int i = 0; i < 16; i++)
        dht[1 + i] = 17; /* 16 x 17 = 272 codes, more than 256 */
    for (int i = 0; i < 272; i++)
        dht[17 + i] = (uint8_t)i;
    segment(&o, 0xC4, dht, sizeof dht);
    jpeg_scan(&o, 1, 0, 63, 0, 0);
    put(&o, "\0\0\0\0\0\0\0\0", 8);
    put(&o, "\xFF\xD9", 2);
    expect(&o, "dht.jpg", 0, "JPEG: Bogus Huffman table definition", 1.0, 16);
    /* A stray byte after SOI: still libjpeg's, never stb_image's (whose
     * JPEG reader, reached through the TGA fallback, skips it too). */
    buf s = {0};
    put(&s, o.b, 2);
    put1(&s, 0x00);
    put(&s, o.b + 2, o.len - 2);
    expect(&s, "dht_stray.jpg", 0, "JPEG: Bogus Huffman table definition",
           1.0, 16);
    free(s.b);
    free(o.b);
}

/* Progressive 512x512 gray: a DC scan with data for its 4096 blocks, then
 * `ac_scans` AC scans without data (each libjpeg pass still walks every
 * block; at 8000x8000 1000 scans took stb_image 42 s). */
static void progressive_scans(buf *o, int ac_scans)
{
    jpeg_head(o, 0xC2, 512, 512, 1);
    jpeg_tables(o);
    jpeg_scan(o, 1, 0, 0, 0, 1);
    for (int i = 0; i < 4096 / 8; i++)
        put1(o, 0);
    for (int i = 0; i < ac_scans; i++) {
        jpeg_scan(o, 1, 1, 63, i ? 1 : 0, 0);
        put(o, "\0\0", 2);
    }
    put(o, "\xFF\xD9", 2);
}

static void check_scan_limit(void)
{
    char want[96];
    snprintf(want, sizeof want,
             "JPEG: more than %d scans (the limit for a progressive JPEG)",
             NV_JPEG_MAX_SCANS);
    buf o = {0};
    progressive_scans(&o, 1000);
    expect(&o, "scans.jpg", 0, want, 5.0, 64);
    free(o.b);
    buf at = {0};
    progressive_scans(&at, NV_JPEG_MAX_SCANS - 1); /* + the DC scan */
    expect(&at, "scans_at_limit.jpg", 0, NULL, 5.0, 64);
    free(at.b);
}

int main(void)
{
    /* The peak-memory checks first, while the peak is still low. */
    check_over_cap();
    check_progressive_without_data();
    check_huge_gif_screen();
    check_dht_overflow();
    check_scan_limit();
    return check_summary("test_image_hostile");
}
