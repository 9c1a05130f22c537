/* ink_map.c - gray levels and contrast against each row's background band;
 * see ink_map.h. */
#include "vision/ink_map.h"

#include <stdlib.h>
#include <string.h>

void nv_ink_map_free(nv_ink_map *map)
{
    free(map->gray);
    free(map->contrast);
    memset(map, 0, sizeof *map);
}

/* The most frequent level, counting each level with its neighbours within
 * 2 so that JPEG noise around a flat colour does not split its peak. */
static int mode_of(const long *hist)
{
    int best = 0;
    long best_n = -1;
    for (int v = 0; v < 256; v++) {
        long n = 0;
        for (int d = -2; d <= 2; d++)
            if (v + d >= 0 && v + d < 256)
                n += hist[v + d];
        if (n > best_n) {
            best_n = n;
            best = v;
        }
    }
    return best;
}

static int near(int a, int b)
{
    return abs(a - b) <= NV_INK_BAND_TOLERANCE;
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
    if (!out->gray || !out->contrast) {
        nv_ink_map_free(out);
        return nv_fail(err, "ink map: out of memory for %dx%d", w, h);
    }
    out->width = w;
    out->height = h;
    long page_hist[256] = {0};
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->rgb + 3 * i;
        out->gray[i] = (uint8_t)((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) /
                                 1000);
        page_hist[out->gray[i]]++;
    }
    int page = mode_of(page_hist);
    for (int y = 0; y < h; y++) {
        const uint8_t *g = out->gray + (size_t)y * w;
        uint8_t *c = out->contrast + (size_t)y * w;
        long hist[256] = {0};
        for (int x = 0; x < w; x++)
            hist[g[x]]++;
        int band = mode_of(hist);
        int first = 0, last = w - 1;
        while (first < w && !near(g[first], band))
            first++;
        while (last > first && !near(g[last], band))
            last--;
        for (int x = 0; x < w; x++) {
            int bg = x >= first && x <= last ? band : page;
            int d = (int)g[x] - bg;
            c[x] = (uint8_t)(d < 0 ? -d : d);
        }
    }
    return 0;
}
