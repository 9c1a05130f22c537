/* pixel_shuffle.h - InternVL's pixel shuffle: folds each r x r block of
 * neighbouring ViT patch features into one token r*r times wider.
 *
 * For version 2 (ps_version "v2") output token (i, j) of the (g/r) x (g/r)
 * grid, in row-major order, holds the features of patches (r*i + q,
 * r*j + p) concatenated with q (the row offset) outer and p inner; for r = 2:
 * (2i,2j), (2i,2j+1), (2i+1,2j), (2i+1,2j+1). This is what the upstream
 * view / permute / view / permute sequence produces. Version 1 skips the last
 * permute, so the same tokens come out in column-major grid order (the
 * "transposed image" upstream warns about).
 */
#ifndef NV_PIXEL_SHUFFLE_H
#define NV_PIXEL_SHUFFLE_H

#include "core/error.h"

/* in: [n, grid*grid, dim] patch features, row-major patch grid, CLS already
 * dropped. out: [n, (grid/r)^2, r*r*dim]; must not alias in. Fails when r < 1,
 * grid is not a multiple of r, or version is not 1 or 2. */
int nv_pixel_shuffle(const float *in, int n, int grid, int dim, int r,
                     int version, float *out, nv_error *err);

#endif
