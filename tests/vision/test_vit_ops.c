/* test_vit_ops.c - the polynomial GELU and softmax of vision/vit_ops.c
 * against double-precision references, over every range their piecewise
 * approximations cover (the model-level tests see only the values a few
 * tiny layers produce).
 *
 * GELU: reference 0.5 x (1 + erf(x / sqrt 2)) in double. Our float result
 * follows PyTorch's float expression, so besides its own few-ulp error it
 * carries the rounding of 1 + erf near -1; the bound is therefore
 * 4 * 2^-24 |ref| + |x| * 2^-24 (half an ulp of 1 + erf, times x / 2, with
 * room for the erf error). PyTorch's own float GELU has the same second term.
 * (glibc's erff measures 0.44 of this bound, ours 0.93.)
 * Softmax: reference in double from the float difference x - max (which
 * PyTorch rounds the same way; at |x - max| ~ 100 that rounding alone moves
 * exp by ~4e-6), relative error per element <= 5e-7 (measured 1.5e-7).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vision/vit_ops.h"

static double gelu_ref(double x)
{
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static void test_gelu_sweep(void)
{
    /* [-12, 12] in steps of 2^-14: every piece of the erf approximation
     * (|z| < 1, 1 <= |z| < 3.92, beyond) and both signs. */
    long count = 24L << 14;
    float *x = malloc((size_t)(count + 1) * sizeof *x);
    float *y = malloc((size_t)(count + 1) * sizeof *y);
    for (long i = 0; i <= count; i++)
        x[i] = (float)(-12.0 + (double)i / (1 << 14));
    memcpy(y, x, (size_t)(count + 1) * sizeof *y);
    nv_gelu_erf(y, (size_t)count + 1);
    double worst = 0, worst_x = 0;
    int within = 1;
    for (long i = 0; i <= count; i++) {
        double ref = gelu_ref(x[i]);
        double bound = 4.0 * ldexp(fabs(ref), -24) + ldexp(fabs(x[i]), -24);
        double err = fabs((double)y[i] - ref);
        if (!(err <= bound))
            within = 0;
        if (err / bound > worst) {
            worst = err / bound;
            worst_x = x[i];
        }
    }
    printf("gelu sweep: worst error %.3g of its bound (at x = %g)\n", worst,
           worst_x);
    CHECK(within);
    free(x);
    free(y);
}

static void test_gelu_special(void)
{
    float v[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 100.0f, -100.0f, INFINITY,
                 NAN};
    nv_gelu_erf(v, sizeof v / sizeof v[0]);
    CHECK(v[0] == 0.0f);
    CHECK(v[1] == 0.0f);
    CHECK(fabs(v[2] - 0.5e-30) <= 1e-36);
    CHECK(fabs(v[3] + 0.5e-30) <= 1e-36);
    CHECK(v[4] == 100.0f);
    CHECK(v[5] == 0.0f);
    CHECK(isinf(v[6]) && v[6] > 0);
    CHECK(isnan(v[7]));
}

static void test_softmax(void)
{
    /* Rows of 1025 (a 448-pixel InternViT tile) and of 7 (shorter than the
     * vector lanes), values spread over [-60, 60] so that some exponents
     * underflow. */
    int widths[] = {1025, 7, 1};
    srand(7);
    for (int w = 0; w < 3; w++) {
        int rows = 16, cols = widths[w];
        size_t total = (size_t)rows * cols;
        float *s = malloc(total * sizeof *s);
        for (size_t i = 0; i < total; i++)
            s[i] = (float)(120.0 * rand() / RAND_MAX - 60.0);
        float *orig = malloc(total * sizeof *orig);
        memcpy(orig, s, total * sizeof *s);
        nv_softmax_rows(s, rows, cols);
        double worst = 0;
        for (int r = 0; r < rows; r++) {
            const float *row = orig + (size_t)r * cols;
            float max = row[0];
            double sum = 0;
            for (int i = 1; i < cols; i++)
                max = row[i] > max ? row[i] : max;
            for (int i = 0; i < cols; i++)
                sum += exp((double)(row[i] - max));
            for (int i = 0; i < cols; i++) {
                double ref = exp((double)(row[i] - max)) / sum;
                double got = s[(size_t)r * cols + i];
                /* Below 1e-30 only the absolute error matters. */
                double err = fabs(got - ref) / fmax(ref, 1e-30);
                worst = err > worst ? err : worst;
            }
        }
        printf("softmax rows of %d: worst relative error %.3g (tol 5e-7)\n",
               cols, worst);
        CHECK(worst <= 5e-7);
        free(s);
        free(orig);
    }
}

/* Masked (-inf) and far-below-maximum entries get exactly 0, as expf's
 * underflow gives them. */
static void test_softmax_masked(void)
{
    float row[] = {0.0f, -INFINITY, 1.0f, -200.0f};
    nv_softmax_rows(row, 1, 4);
    double p1 = 1.0 / (1.0 + exp(-1.0));
    CHECK(fabs(row[2] - p1) <= 2e-7 * p1);
    CHECK(fabs(row[0] - (1.0 - p1)) <= 2e-7 * (1.0 - p1));
    CHECK(row[1] == 0.0f);
    CHECK(row[3] == 0.0f);
}

int main(void)
{
    test_gelu_sweep();
    test_gelu_special();
    test_softmax();
    test_softmax_masked();
    return check_summary("vit_ops");
}
