/* ink_map.c - gray levels and contrast against each row's background band;
 * see ink_map.h. */
#include "vision/ink_map.h"

#include <stdlib.h>
#include <string.h>

/* A row is "clean" (a row of background between text lines) when this share
 * of its pixels lies within NV_INK_BAND_TOLERANCE of its mode. */
#define CLEAN_SUPPORT 0.6
/* A clean neighbour's band is taken for a text row when at least this share
 * of the text row's pixels are of that band. */
#define NEIGHBOUR_SUPPORT 0.15
/* Widest blurred edge between a band and the page (pixels). */
#define RAMP_WIDTH 3

void nv_ink_map_free(nv_ink_map *map)
{
    free(map->gray);
    free(map->contrast);
    memset(map, 0, sizeof *map);
}

static int near(int a, int b)
{
    return abs(a - b) <= NV_INK_BAND_TOLERANCE;
}

/* cum[v] = number of pixels with level < v, v = 0..256. */
static void cumulate(const long *hist, long *cum)
{
    cum[0] = 0;
    for (int v = 0; v < 256; v++)
        cum[v + 1] = cum[v] + hist[v];
}

/* Pixels with a level in [v - r, v + r]. */
static long count_near(const long *cum, int v, int r)
{
    int a = v - r < 0 ? 0 : v - r, b = v + r > 255 ? 255 : v + r;
    return cum[b + 1] - cum[a];
}

/* The most frequent level. JPEG noise spreads a flat colour over several
 * levels, so the peak is first found with a wide window (+-6), then placed
 * with a narrow one (+-2) inside it. */
static int mode_of(const long *cum)
{
    int coarse = 0;
    long best_n = -1;
    for (int v = 0; v < 256; v++) {
        long n = count_near(cum, v, 6);
        if (n > best_n) {
            best_n = n;
            coarse = v;
        }
    }
    int best = coarse;
    best_n = -1;
    for (int v = coarse - 4; v <= coarse + 4; v++) {
        if (v < 0 || v > 255)
            continue;
        long n = count_near(cum, v, 2);
        if (n > best_n) {
            best_n = n;
            best = v;
        }
    }
    return best;
}

static void row_histogram(const uint8_t *g, int w, long *cum)
{
    long hist[256] = {0};
    for (int x = 0; x < w; x++)
        hist[g[x]]++;
    cumulate(hist, cum);
}

/* Contrast of one row against its band `band` (between its first and last
 * pixel of that level) and the page level outside it. The blurred edge
 * between the band and the page (levels between the two) is background. */
static void row_contrast(const uint8_t *g, uint8_t *c, int w, int band,
                         int page)
{
    /* The band's ends: its first and last pixel nearer its level than the
     * page's (JPEG noise at a band's edge can stray past the tolerance). */
    int first = 0, last = w - 1;
    if (near(band, page)) {
        while (first < w && !near(g[first], band))
            first++;
        while (last > first && !near(g[last], band))
            last--;
    } else {
        while (first < w && abs(g[first] - band) >= abs(g[first] - page))
            first++;
        while (last > first && abs(g[last] - band) >= abs(g[last] - page))
            last--;
    }
    int lo = (band < page ? band : page) - NV_INK_BAND_TOLERANCE;
    int hi = (band > page ? band : page) + NV_INK_BAND_TOLERANCE;
    for (int x = 0; x < w; x++) {
        int bg = x >= first && x <= last ? band : page;
        int d = (int)g[x] - bg;
        c[x] = (uint8_t)(d < 0 ? -d : d);
    }
    if (near(band, page) || first >= w)
        return;
    /* The edge: up to RAMP_WIDTH pixels on either side of each end whose
     * levels lie between the band's and the page's. */
    const int start[4] = {first - 1, first, last + 1, last};
    const int step[4] = {-1, 1, 1, -1};
    for (int k = 0; k < 4; k++)
        for (int i = 0, x = start[k]; i < RAMP_WIDTH; i++, x += step[k]) {
            if (x < 0 || x >= w || g[x] < lo || g[x] > hi ||
                near(g[x], page) || near(g[x], band))
                break;
            if (c[x] > NV_INK_EDGE_CONTRAST)
                c[x] = NV_INK_EDGE_CONTRAST;
        }
}

/* The columns [*x0, *x1] that hold anything but the page level (at least
 * two pixels off it, so a lone JPEG speck does not count); the whole width
 * when nothing does. */
static void content_span(const uint8_t *gray, int w, int h, int page,
                         int *x0, int *x1)
{
    *x0 = 0;
    *x1 = w - 1;
    int first = -1, last = -1;
    for (int x = 0; x < w; x++) {
        int off = 0;
        for (int y = 0; y < h && off < 2; y++)
            off += !near(gray[(size_t)y * w + x], page);
        if (off >= 2) {
            if (first < 0)
                first = x;
            last = x;
        }
    }
    if (first >= 0) {
        *x0 = first;
        *x1 = last;
    }
}

int nv_ink_map_make(const nv_image *img, nv_ink_map *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    int w = img->width, h = img->height;
    if (w <= 0 || h <= 0 || !img->rgb)
        return nv_fail(err, "ink map: empty image");
    size_t n = (size_t)w * h;
    out->gray = malloc(n);
    out->contrast = malloc(n);
    int *band = malloc(sizeof(int) * (size_t)h);
    int *above = malloc(sizeof(int) * (size_t)h);
    int *below = malloc(sizeof(int) * (size_t)h);
    unsigned char *clean = malloc((size_t)h);
    int rc = 0;
    if (!out->gray || !out->contrast || !band || !above || !below || !clean) {
        nv_ink_map_free(out);
        rc = nv_fail(err, "ink map: out of memory for %dx%d", w, h);
        goto done;
    }
    out->width = w;
    out->height = h;
    long page_hist[256] = {0}, cum[257];
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->rgb + 3 * i;
        out->gray[i] = (uint8_t)((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) /
                                 1000);
        page_hist[out->gray[i]]++;
    }
    cumulate(page_hist, cum);
    int page = mode_of(cum);
    /* Rows are judged inside the content's columns only: a table on a wide
     * page (a dark header band half the image wide, the rest page) would
     * otherwise have its band outvoted by the margins. */
    int x0, x1;
    content_span(out->gray, w, h, page, &x0, &x1);
    int cw = x1 - x0 + 1;
    /* Each row's own mode; rows where it covers most of the row are clean
     * background rows (the padding between text lines, rules). */
    for (int y = 0; y < h; y++) {
        row_histogram(out->gray + (size_t)y * w + x0, cw, cum);
        band[y] = mode_of(cum);
        clean[y] = count_near(cum, band[y], NV_INK_BAND_TOLERANCE) >=
                   CLEAN_SUPPORT * cw;
    }
    for (int y = 0, last = -1; y < h; y++) {
        above[y] = last;
        if (clean[y])
            last = y;
    }
    for (int y = h - 1, next = -1; y >= 0; y--) {
        below[y] = next;
        if (clean[y])
            next = y;
    }
    /* A text row lies inside the band of the clean rows around it; its own
     * mode can be the ink's level (light text on a dark band, where the
     * page margins share the text's level). */
    for (int y = 0; y < h; y++) {
        const uint8_t *g = out->gray + (size_t)y * w;
        int bg = band[y];
        if (!clean[y] && (above[y] >= 0 || below[y] >= 0)) {
            row_histogram(g + x0, cw, cum);
            int a = above[y] >= 0 ? band[above[y]] : -1;
            int b = below[y] >= 0 ? band[below[y]] : -1;
            long min_n = (long)(NEIGHBOUR_SUPPORT * cw);
            long na = a >= 0 ? count_near(cum, a, NV_INK_BAND_TOLERANCE) : -1;
            long nb = b >= 0 ? count_near(cum, b, NV_INK_BAND_TOLERANCE) : -1;
            if (a >= 0 && b >= 0 && near(a, b)) {
                /* Between two rows of one band: a text line in it (the
                 * baseline row of blurred serif text can hold almost no
                 * pixel of the band's own level). */
                bg = a;
            } else if (na >= nb && na >= min_n) {
                bg = a;
            } else if (nb >= min_n) {
                bg = b;
            }
        }
        row_contrast(g, out->contrast + (size_t)y * w, w, bg, page);
    }
done:
    free(band);
    free(above);
    free(below);
    free(clean);
    return rc;
}
