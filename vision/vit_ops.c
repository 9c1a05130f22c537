/* vit_ops.c - row-wise float kernels of the vision encoder; see vit_ops.h. */
#include "vision/vit_ops.h"

#include <math.h>

void nv_layer_norm_rows(float *y, const float *x, int rows, int dim,
                        const float *w, const float *b, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *yr = y + (size_t)r * dim;
        double sum = 0, sq = 0;
        for (int i = 0; i < dim; i++)
            sum += xr[i];
        double mean = sum / dim;
        for (int i = 0; i < dim; i++)
            sq += (xr[i] - mean) * (xr[i] - mean);
        float rstd = (float)(1.0 / sqrt(sq / dim + eps));
        float fmean = (float)mean;
        for (int i = 0; i < dim; i++)
            yr[i] = (xr[i] - fmean) * rstd * w[i] + b[i];
    }
}

void nv_rms_norm_rows(float *y, const float *x, int rows, int ld, int dim,
                      int var_dim, const float *w, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ld;
        float *yr = y + (size_t)r * ld;
        double sq = 0;
        for (int i = 0; i < var_dim; i++)
            sq += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(sq / var_dim + eps));
        for (int i = 0; i < dim; i++)
            yr[i] = xr[i] * scale * w[i];
    }
}

void nv_gelu_erf(float *x, size_t count)
{
    const float inv_sqrt2 = 0.70710678118654752440f;
    for (size_t i = 0; i < count; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * inv_sqrt2));
}

void nv_softmax_rows(float *s, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        float *row = s + (size_t)r * cols;
        float max = row[0];
        for (int i = 1; i < cols; i++)
            if (row[i] > max)
                max = row[i];
        double sum = 0;
        for (int i = 0; i < cols; i++) {
            row[i] = expf(row[i] - max);
            sum += row[i];
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < cols; i++)
            row[i] *= inv;
    }
}

void nv_add_scaled_rows(float *x, const float *delta, const float *scale,
                        int rows, int dim)
{
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int i = 0; i < dim; i++)
            x[r * dim + i] += scale[i] * delta[r * dim + i];
}
