/* preprocess.c - tiling plus ToTensor/Normalize; see preprocess.h. */
#include "vision/preprocess.h"

#include <math.h>
#include <string.h>

nv_preprocess_opts nv_preprocess_opts_default(void)
{
    nv_preprocess_opts opts = {
        .tiling = nv_tiling_opts_default(),
        .mean = {0.485f, 0.456f, 0.406f},
        .std = {0.229f, 0.224f, 0.225f},
    };
    return opts;
}

int nv_tiles_normalize(const nv_tiles *tiles, const float mean[3],
                       const float std[3], nv_tensor *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    for (int c = 0; c < 3; c++)
        if (!(std[c] > 0.0f) || !isfinite(std[c]) || !isfinite(mean[c]))
            return nv_fail(err, "preprocess: bad normalisation for channel "
                                "%d (mean %g, std %g)",
                           c, (double)mean[c], (double)std[c]);
    if (tiles->count < 1 || tiles->tile_size < 1 || !tiles->rgb)
        return nv_fail(err, "preprocess: no tiles");
    int64_t side = tiles->tile_size;
    int64_t shape[4] = {tiles->count, 3, side, side};
    if (nv_tensor_alloc_f32(out, 4, shape, err) != 0)
        return -1;
    float *dst = nv_tensor_f32(out);
    size_t plane = (size_t)side * (size_t)side;
    for (int t = 0; t < tiles->count; t++) {
        const uint8_t *src = tiles->rgb + (size_t)t * plane * 3;
        float *tile = dst + (size_t)t * plane * 3;
        for (int c = 0; c < 3; c++) {
            float *chan = tile + (size_t)c * plane;
            /* Two separately rounded f32 steps, as torchvision computes
             * them: ToTensor divides by 255, Normalize subtracts and
             * divides. */
            for (size_t i = 0; i < plane; i++) {
                float x = (float)src[i * 3 + (size_t)c] / 255.0f;
                chan[i] = (x - mean[c]) / std[c];
            }
        }
    }
    return 0;
}

int nv_preprocess_image(const nv_image *img, const nv_preprocess_opts *opts,
                        nv_tile_grid *grid, nv_tensor *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    nv_tile_grid chosen;
    if (nv_tile_grid_choose(img->width, img->height, &opts->tiling, &chosen,
                            err) != 0)
        return -1;
    nv_tiles tiles;
    if (nv_tiles_make(img, &chosen, opts->tiling.tile_size, &tiles, err) !=
        0)
        return -1;
    int rc = nv_tiles_normalize(&tiles, opts->mean, opts->std, out, err);
    nv_tiles_free(&tiles);
    if (rc == 0 && grid)
        *grid = chosen;
    return rc;
}
