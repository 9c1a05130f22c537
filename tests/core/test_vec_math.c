/* test_vec_math.c - core/vec_math.h's element-wise functions against double:
 *   - nv_silu_mul: g / (1 + e^-g) * up over g in [-100, 100] (a fine grid
 *     and the values where the two branches meet: +-0, tiny, +-87 where
 *     the exp flushes to 0), within 4e-7 relative to |g| * |up| / (1 +
 *     e^-g) plus 1e-34 absolute (below -87 the exp flushes to 0, where
 *     |g| e^g up < 1.2e-35 here); never NaN or inf for
 *     finite inputs as large as 1e30.
 *   - nv_softmax_rows: each row against exp(x - max) / sum in double,
 *     within (4e-7 + 1.2e-7 |x - max|) relative (the float subtraction
 *     x - max is itself rounded by up to half an ulp of it), rows summing to 1 within 1e-6, on row lengths
 *     1 .. 40 (every vector tail) and a row with -inf.
 *   - nv_softmax_rows_bf16 equals nv_softmax_rows then nv_f32_to_bf16 bit
 *     for bit.
 *   - nv_sum_f64 and nv_sum_sq_f64 (the norms' statistics) against long
 *     double sums, within 1e-15 relative, every tail length.
 * (tests/vision/test_vit_ops.c checks the softmax inside attention too.)
 */
#include <math.h>
#include <stdio.h>

#include "core/tensor.h"
#include "core/vec_math.h"
#include "tests/check.h"

static void check_silu(void)
{
    enum { N = 4096 + 12 };
    static float gate[N], up[N], g0[N];
    int n = 0;
    for (int i = 0; i < 4096; i++, n++)
        g0[n] = -100.0f + 200.0f * (float)i / 4095.0f;
    const float edges[12] = {0.0f,   -0.0f,  1e-30f, -1e-30f, 87.0f, -87.0f,
                             -87.5f, 88.0f,  -200.0f, 1e30f,  -1e30f, 20.0f};
    for (int i = 0; i < 12; i++, n++)
        g0[n] = edges[i];
    for (int i = 0; i < n; i++) {
        gate[i] = g0[i];
        up[i] = 0.5f + (float)(i % 7);
    }
    nv_silu_mul(gate, up, (size_t)n);
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < n && bad < 5; i++) {
        double g = g0[i];
        double want = g / (1.0 + exp(-g)) * up[i];
        double bound = 4e-7 * fabs(want) + 1e-34;
        double err = fabs(gate[i] - want);
        if (fabs(want) > 1e-30 && err / fabs(want) > worst)
            worst = err / fabs(want);
        if (!isfinite(gate[i]) || err > bound) {
            printf("FAIL silu(%g) * %g = %.9g, want %.9g\n", g, up[i],
                   gate[i], want);
            bad++;
        }
    }
    printf("silu: worst relative error %.2e (bound 4e-7)\n", worst);
    CHECK(bad == 0);
}

static void check_softmax(void)
{
    static float row[64];
    int bad = 0;
    for (int cols = 1; cols <= 40 && !bad; cols++) {
        for (int i = 0; i < cols; i++)
            row[i] = (float)sin(1.3 * i + cols) * 12.0f;
        if (cols == 7)
            row[3] = -INFINITY;
        double mx = -INFINITY;
        float in[64];
        for (int i = 0; i < cols; i++) {
            in[i] = row[i];
            mx = row[i] > mx ? row[i] : mx;
        }
        double sum = 0;
        for (int i = 0; i < cols; i++)
            sum += exp(in[i] - mx);
        nv_softmax_rows(row, 1, cols);
        double total = 0;
        for (int i = 0; i < cols; i++) {
            double want = exp(in[i] - mx) / sum;
            total += row[i];
            /* the float x - max alone is off by half an ulp of it */
            double tol = (4e-7 + 1.2e-7 * fabs(in[i] - mx)) * want + 1e-37;
            if (fabs(row[i] - want) > tol) {
                printf("FAIL softmax cols %d [%d] = %.9g, want %.9g\n", cols,
                       i, row[i], want);
                bad = 1;
            }
        }
        if (fabs(total - 1.0) > 1e-6) {
            printf("FAIL softmax cols %d sums to %.9g\n", cols, total);
            bad = 1;
        }
    }
    CHECK(!bad);
}

/* nv_softmax_rows_bf16 = nv_softmax_rows then nv_f32_to_bf16, bit for bit,
 * on rows of 1 .. 70 values (every vector tail), ties included, values up
 * to 60 apart (past the exp's -87 floor after scaling by 2) and a -inf;
 * and nv_softmax_rows_bf16_scaled(s, 1/8) = the same of s / 8 (the ViT's
 * attention). On AVX-512 CPUs the bf16 forms run intrinsics of their own,
 * so this compares them with the portable loop. */
static void check_softmax_bf16(void)
{
    static float a[3 * 70], b[3 * 70];
    static uint16_t got[3 * 70];
    int bad = 0;
    for (int run = 0; run < 4 && !bad; run++) {
        float amplitude = run % 2 ? 60.0f : 9.0f, scale = run < 2 ? 1.0f : 0.125f;
        for (int cols = 1; cols <= 70 && !bad; cols++) {
            for (int i = 0; i < 3 * cols; i++) {
                b[i] = (float)cos(0.7 * i + cols) * amplitude;
                a[i] = b[i] * scale;
            }
            if (run % 2 && cols > 5) {
                a[cols + 3] = -INFINITY;
                b[cols + 3] = -INFINITY;
            }
            nv_softmax_rows(a, 3, cols);
            if (scale == 1.0f)
                nv_softmax_rows_bf16(b, 3, cols, got);
            else
                nv_softmax_rows_bf16_scaled(b, 3, cols, scale, got);
            for (int i = 0; i < 3 * cols && !bad; i++)
                if (got[i] != nv_f32_to_bf16(a[i])) {
                    printf("FAIL softmax bf16 run %d cols %d [%d]: %04x, "
                           "want %04x\n", run, cols, i, got[i],
                           nv_f32_to_bf16(a[i]));
                    bad = 1;
                }
        }
    }
    CHECK(!bad);
}

/* The norms' double sums against long double sums in order: within
 * 1e-15 relative of the sum of |terms| on every length 0 .. 40 (each tail)
 * and 1031; a mutation that drops a lane or the tail is far outside. */
static void check_sums(void)
{
    static float x[1031];
    for (int i = 0; i < 1031; i++)
        x[i] = (float)sin(i * 0.37) * (1.0f + (float)(i % 17));
    int bad = 0;
    for (int n = 0; n <= 1031; n += n < 40 ? 1 : 991) {
        long double s = 0, q = 0, abs_s = 0;
        double center = 0.25;
        for (int i = 0; i < n; i++) {
            s += x[i];
            abs_s += fabsl((long double)x[i]);
            q += ((long double)x[i] - center) * ((long double)x[i] - center);
        }
        double got_s = nv_sum_f64(x, (size_t)n);
        double got_q = nv_sum_sq_f64(x, (size_t)n, center);
        if (fabsl(got_s - s) > 1e-15L * (abs_s + 1e-300L) ||
            fabsl(got_q - q) > 1e-15L * (q + 1e-300L)) {
            printf("FAIL sums n=%d: %.17g / %.17g, want %.17Lg / %.17Lg\n", n,
                   got_s, got_q, s, q);
            bad = 1;
        }
    }
    CHECK(!bad);
}

int main(void)
{
    check_sums();
    check_silu();
    check_softmax();
    check_softmax_bf16();
    return check_summary("vec_math");
}
