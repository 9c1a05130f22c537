/* pixel_shuffle.c - InternVL pixel shuffle as plain copies; see
 * pixel_shuffle.h. */
#include "vision/pixel_shuffle.h"

#include <string.h>

int nv_pixel_shuffle(const float *in, int n, int grid, int dim, int r,
                     int version, float *out, nv_error *err)
{
    if (r < 1 || grid < 1 || dim < 1 || n < 0 || grid % r)
        return nv_fail(err,
                       "pixel shuffle: a %dx%d grid cannot fold by %d",
                       grid, grid, r);
    if (version != 1 && version != 2)
        return nv_fail(err, "pixel shuffle: unknown version %d", version);
    int side = grid / r;
    size_t row_bytes = (size_t)dim * sizeof(float);
    size_t out_dim = (size_t)r * r * dim;
    for (int t = 0; t < n; t++) {
        const float *tile = in + (size_t)t * grid * grid * dim;
        float *tile_out = out + (size_t)t * side * side * out_dim;
        for (int i = 0; i < side; i++) {
            for (int j = 0; j < side; j++) {
                /* v1 never swaps the grid axes back: (i, j) lands at (j, i). */
                size_t slot = version == 2 ? (size_t)i * side + j
                                           : (size_t)j * side + i;
                float *dst = tile_out + slot * out_dim;
                for (int q = 0; q < r; q++) {
                    for (int p = 0; p < r; p++) {
                        size_t patch = (size_t)(r * i + q) * grid + (r * j + p);
                        memcpy(dst, tile + patch * dim, row_bytes);
                        dst += dim;
                    }
                }
            }
        }
    }
    return 0;
}
