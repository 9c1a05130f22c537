/* roofline.c - FMA peak and read bandwidth, measured; see roofline.h.
 *
 * The FMA loop keeps 16 independent accumulators (more than FMA latency x
 * ports needs on any current x86 core) so it runs at the issue rate; the
 * read loop sums its share of the buffer with four accumulators. Each is
 * one pool job (every thread at once), timed on the caller; the best of
 * five is kept, as the ceiling the machine can reach. With AVX-512 BF16 a
 * vdpbf16ps loop of the same shape gives the bf16 dot-product peak, the
 * ceiling of oneDNN's bf16 products.
 */
#include "core/roofline.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/lowp.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NV_ROOF_X86 1
#endif

#define FMA_ITERS 4000000L
#define READ_BYTES ((size_t)512 << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct roof_job {
    nv_isa isa;
    const float *buf;
    size_t n_floats;
    int parts;
    volatile float sink[256];
} roof_job;

#ifdef NV_ROOF_X86
__attribute__((target("avx512f"))) static float fma_avx512(long iters)
{
    __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
    __m512 c[16];
    for (int j = 0; j < 16; j++)
        c[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 16; j++)
            c[j] = _mm512_fmadd_ps(c[j], a, b);
    for (int j = 1; j < 16; j++)
        c[0] = _mm512_add_ps(c[0], c[j]);
    return _mm512_reduce_add_ps(c[0]);
}

__attribute__((target("avx512f,avx512bf16"))) static float
dot_bf16(long iters)
{
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80); /* 1.0 */
    __m512bh b = (__m512bh)_mm512_set1_epi16(0x3a83); /* ~0.001 */
    __m512 c[16];
    for (int j = 0; j < 16; j++)
        c[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 16; j++)
            c[j] = _mm512_dpbf16_ps(c[j], a, b);
    for (int j = 1; j < 16; j++)
        c[0] = _mm512_add_ps(c[0], c[j]);
    return _mm512_reduce_add_ps(c[0]);
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
    __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
    __m256 c[16];
    for (int j = 0; j < 16; j++)
        c[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 16; j++)
            c[j] = _mm256_fmadd_ps(c[j], a, b);
    for (int j = 1; j < 16; j++)
        c[0] = _mm256_add_ps(c[0], c[j]);
    float out[8];
    _mm256_storeu_ps(out, c[0]);
    return out[0] + out[7];
}

__attribute__((target("avx512f"))) static float sum_avx512(const float *p,
                                                           size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p + i));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps(p + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_loadu_ps(p + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_loadu_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx2"))) static float sum_avx2(const float *p,
                                                      size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(p + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(p + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1),
                                        _mm256_add_ps(s2, s3)));
    return out[0] + out[7];
}
#endif

/* Flops of one fma_* call: 16 accumulators x lanes x 2. */
static double fma_flops(nv_isa isa)
{
    int lanes = isa >= NV_ISA_AVX512 ? 16 : isa == NV_ISA_AVX2 ? 8 : 1;
    return (double)FMA_ITERS * 16.0 * lanes * 2.0;
}

static void fma_task(void *ctx, int index)
{
    roof_job *j = ctx;
    float r = 0.0f;
#ifdef NV_ROOF_X86
    if (j->isa >= NV_ISA_AVX512)
        r = fma_avx512(FMA_ITERS);
    else if (j->isa == NV_ISA_AVX2)
        r = fma_avx2(FMA_ITERS);
#endif
    if (j->isa == NV_ISA_C) {
        float c[16] = {0};
        for (long i = 0; i < FMA_ITERS; i++)
            for (int k = 0; k < 16; k++)
                c[k] = c[k] * 0.999f + 0.001f;
        for (int k = 0; k < 16; k++)
            r += c[k];
    }
    j->sink[index % 256] = r;
}

static void bf16_task(void *ctx, int index)
{
    roof_job *j = ctx;
    float r = 0.0f;
#ifdef NV_ROOF_X86
    r = dot_bf16(FMA_ITERS);
#endif
    j->sink[index % 256] = r;
}

static void read_task(void *ctx, int index)
{
    roof_job *j = ctx;
    size_t per = j->n_floats / (size_t)j->parts;
    const float *p = j->buf + per * (size_t)index;
    float r = 0.0f;
#ifdef NV_ROOF_X86
    if (j->isa >= NV_ISA_AVX512)
        r = sum_avx512(p, per);
    else if (j->isa == NV_ISA_AVX2)
        r = sum_avx2(p, per);
#endif
    if (j->isa == NV_ISA_C)
        for (size_t i = 0; i < per; i++)
            r += p[i];
    j->sink[index % 256] = r;
}

/* Best-of-five wall time of one pool job. */
static double best_time(nv_pool *pool, int parts, nv_task_fn fn,
                        roof_job *job)
{
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        if (pool && parts > 1)
            nv_pool_run(pool, parts, fn, job);
        else
            fn(job, 0);
        double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

int nv_roofline_measure(nv_pool *pool, nv_roofline *out, nv_error *err)
{
    int parts = pool ? nv_pool_size(pool) : 1;
    roof_job job;
    memset(&job, 0, sizeof job);
    job.isa = nv_lowp_isa();
    job.parts = parts;
    double t = best_time(pool, parts, fma_task, &job);
    out->fma_gflops = fma_flops(job.isa) * parts / t / 1e9;
    out->isa = nv_isa_name(job.isa);
    out->bf16_gflops = 0;
    if (job.isa == NV_ISA_AVX512BF16) {
        t = best_time(pool, parts, bf16_task, &job);
        /* 16 accumulators x 16 lanes x 2 products x 2 flops a call */
        out->bf16_gflops = (double)FMA_ITERS * 16.0 * 16.0 * 4.0 * parts /
                           t / 1e9;
    }

    float *buf = malloc(READ_BYTES);
    if (!buf)
        return nv_fail(err, "roofline: out of memory for the %zu MiB read "
                       "buffer", READ_BYTES >> 20);
    job.n_floats = READ_BYTES / sizeof(float);
    for (size_t i = 0; i < job.n_floats; i++)
        buf[i] = 1.0f; /* touched, so reads hit real pages */
    job.buf = buf;
    t = best_time(pool, parts, read_task, &job);
    out->read_gbps = (double)READ_BYTES / t / 1e9;
    free(buf);
    return 0;
}
