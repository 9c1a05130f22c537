/* roofline.c - FMA peak and read bandwidth, measured; see roofline.h.
 *
 * The FMA loop keeps 16 independent accumulators (more than FMA latency x
 * ports needs on any current x86 core) so it runs at the issue rate; the
 * read loop sums its share of the buffer with four accumulators. Each is
 * one pool job (every thread at once), timed on the caller; the best of
 * five is kept, as the ceiling the machine can reach. With AVX-512 BF16 a
 * vdpbf16ps loop of the same shape gives the bf16 dot-product peak, the
 * ceiling of oneDNN's bf16 products; where oneDNN runs them on AMX tiles
 * (nv_dnnl_bf16_amx), that ceiling is a tdpbf16ps loop's instead: four
 * independent 16 x 16 accumulator tiles, each step a 16 x 32 by 32 x 16
 * bf16 product (16 384 flops). On a Xeon with AMX measured here,
 * vdpbf16ps reached half the FMA peak and a whole bf16 prefill ran at 2.8
 * times that: against a vdpbf16ps ceiling it read as 282 % of peak.
 *
 * The AMX steps are written as inline assembly: GCC 12's tile intrinsics
 * are macros over assembly already, clang's are builtins that need the
 * target enabled, and the fuzz build compiles this file with clang.
 */
#include "core/roofline.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dnnl_gemm.h"
#include "core/lowp.h"

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

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
    int amx; /* bf16_task times AMX tiles, not vdpbf16ps */
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

/* The tile layout ldtilecfg reads (palette 1): tiles 0-3 the f32
 * accumulators, 4-5 the left bf16 operands, 6-7 the right ones, each 16
 * rows of 64 bytes. */
typedef struct amx_config {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} amx_config;

#define AMX_ITERS 1000000L

/* Linux hands out the tile registers' state only on request (once per
 * process; oneDNN has made the same request when it picked AMX). */
static int amx_permitted(void)
{
#if defined(__linux__) && defined(SYS_arch_prctl)
    const long req_xcomp_perm = 0x1023, xtiledata = 18;
    return syscall(SYS_arch_prctl, req_xcomp_perm, xtiledata) == 0;
#else
    return 0;
#endif
}

static float dot_amx(long iters)
{
    amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.bytes_per_row[t] = 64;
        cfg.rows[t] = 16;
    }
    static const uint16_t one = 0x3f80, small = 0x3a83; /* 1.0, ~0.001 */
    uint16_t left[16 * 32], right[16 * 32];
    float acc[16 * 16];
    for (int i = 0; i < 16 * 32; i++) {
        left[i] = one;
        right[i] = small;
    }
    memset(acc, 0, sizeof acc);
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm0\n\t"
                     "tileloadd (%0,%1,1), %%tmm1\n\t"
                     "tileloadd (%0,%1,1), %%tmm2\n\t"
                     "tileloadd (%0,%1,1), %%tmm3" ::"r"(acc), "r"(64L)
                     : "memory");
    __asm__ volatile("tileloadd (%0,%2,1), %%tmm4\n\t"
                     "tileloadd (%0,%2,1), %%tmm5\n\t"
                     "tileloadd (%1,%2,1), %%tmm6\n\t"
                     "tileloadd (%1,%2,1), %%tmm7" ::"r"(left), "r"(right),
                     "r"(64L)
                     : "memory");
    for (long i = 0; i < iters; i++)
        __asm__ volatile("tdpbf16ps %tmm6, %tmm4, %tmm0\n\t"
                         "tdpbf16ps %tmm7, %tmm4, %tmm1\n\t"
                         "tdpbf16ps %tmm6, %tmm5, %tmm2\n\t"
                         "tdpbf16ps %tmm7, %tmm5, %tmm3");
    __asm__ volatile("tilestored %%tmm0, (%0,%1,1)" ::"r"(acc), "r"(64L)
                     : "memory");
    __asm__ volatile("tilerelease");
    return acc[0];
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

/* The bf16 peak's loop: AMX tiles when the job says so, else vdpbf16ps. */
static void bf16_task(void *ctx, int index)
{
    roof_job *j = ctx;
    float r = 0.0f;
#ifdef NV_ROOF_X86
    r = j->amx ? dot_amx(AMX_ITERS) : dot_bf16(FMA_ITERS);
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
    out->bf16_engine = NULL;
#ifdef NV_ROOF_X86
    if (job.isa == NV_ISA_AVX512BF16 && nv_dnnl_bf16_amx() &&
        amx_permitted()) {
        job.amx = 1;
        t = best_time(pool, parts, bf16_task, &job);
        /* 4 tiles x 16 x 16 outputs x 32 products x 2 flops a step */
        out->bf16_gflops = (double)AMX_ITERS * 4.0 * 16.0 * 16.0 * 32.0 *
                           2.0 * parts / t / 1e9;
        out->bf16_engine = "AMX tiles";
    } else if (job.isa == NV_ISA_AVX512BF16) {
        t = best_time(pool, parts, bf16_task, &job);
        /* 16 accumulators x 16 lanes x 2 products x 2 flops a call */
        out->bf16_gflops = (double)FMA_ITERS * 16.0 * 16.0 * 4.0 * parts /
                           t / 1e9;
        out->bf16_engine = "vdpbf16ps";
    }
#endif

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
