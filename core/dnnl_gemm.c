/* dnnl_gemm.c - bf16 matrix products through oneDNN; see dnnl_gemm.h.
 *
 * Every call builds its matmul descriptor from the shapes and strides at
 * hand: oneDNN keeps the compiled primitives in its own cache, so a shape
 * seen before costs a lookup, not a new kernel. The scratchpad belongs to
 * the call (user mode): two pool tasks may run the same cached primitive
 * at once, each with its own.
 */
#include "core/dnnl_gemm.h"

#include <dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* libgomp's (oneDNN's OpenMP runtime): the calling thread's team size. */
void omp_set_num_threads(int n);

/* The CPU engine, made once: a handle oneDNN only reads afterwards. */
static dnnl_engine_t engine;
static int bf16_ready;
static int bf16_amx; /* the probe's kernel runs on AMX tiles */
static pthread_once_t ready_once = PTHREAD_ONCE_INIT;

typedef struct matmul {
    dnnl_primitive_attr_t attr;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
} matmul;

static void matmul_free(matmul *mm)
{
    if (mm->prim)
        dnnl_primitive_destroy(mm->prim);
    if (mm->pd)
        dnnl_primitive_desc_destroy(mm->pd);
    if (mm->attr)
        dnnl_primitive_attr_destroy(mm->attr);
}

/* Descriptors of x [M, K] (bf16, rows ldx apart), the product's right
 * operand [K, N] (bf16: w's rows of K, ldw apart, read transposed, or with
 * w_kn rows of N, ldw apart) and y [M, N] (f32, rows ldy apart). */
static dnnl_status_t describe(const nv_dnnl_bf16_product *p,
                              dnnl_memory_desc_t *x, dnnl_memory_desc_t *wt,
                              dnnl_memory_desc_t *y, dnnl_memory_desc_t *b)
{
    dnnl_dims_t xd = {p->M, p->K}, xs = {p->ldx, 1};
    dnnl_dims_t wd = {p->K, p->N};
    dnnl_dims_t ws = {1, p->ldw};
    if (p->w_kn) {
        ws[0] = p->ldw;
        ws[1] = 1;
    }
    dnnl_dims_t yd = {p->M, p->N}, ys = {p->ldy, 1};
    dnnl_status_t st =
        dnnl_memory_desc_init_by_strides(x, 2, xd, dnnl_bf16, xs);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_strides(wt, 2, wd, dnnl_bf16, ws);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_strides(y, 2, yd, dnnl_f32, ys);
    if (st == dnnl_success && p->bias) {
        dnnl_dims_t bd = {1, p->N}, bs = {p->N, 1};
        st = dnnl_memory_desc_init_by_strides(b, 2, bd, dnnl_f32, bs);
    }
    return st;
}

static dnnl_status_t matmul_make(matmul *mm, const dnnl_memory_desc_t *x,
                                 const dnnl_memory_desc_t *wt,
                                 const dnnl_memory_desc_t *b,
                                 const dnnl_memory_desc_t *y)
{
    memset(mm, 0, sizeof *mm);
    dnnl_matmul_desc_t desc;
    dnnl_status_t st = dnnl_matmul_desc_init(&desc, x, wt, b, y);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_create(&mm->attr);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(mm->attr,
                                                     dnnl_scratchpad_mode_user);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&mm->pd, &desc, mm->attr, engine,
                                        NULL);
    if (st == dnnl_success)
        st = dnnl_primitive_create(&mm->prim, mm->pd);
    return st;
}

/* Ready when the engine exists and a probe product gets an AVX-512 BF16
 * kernel: on other CPUs oneDNN would fall back to reference loops, far
 * slower than the widening path it would replace. */
static void probe(void)
{
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success)
        return;
    omp_set_num_threads(1);
    dnnl_memory_desc_t x, wt, y, b;
    matmul mm;
    nv_dnnl_bf16_product p = {.M = 64, .K = 64, .N = 64, .ldx = 64,
                              .ldw = 64, .ldy = 64};
    if (describe(&p, &x, &wt, &y, &b) == dnnl_success &&
        matmul_make(&mm, &x, &wt, NULL, &y) == dnnl_success) {
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(mm.pd, dnnl_query_impl_info_str, 0,
                                      &impl) == dnnl_success &&
            impl && strstr(impl, "bf16") && !strstr(impl, "ref")) {
            bf16_ready = 1;
            bf16_amx = strstr(impl, "amx") != NULL;
        }
    }
    matmul_free(&mm);
}

int nv_dnnl_bf16_ready(void)
{
    pthread_once(&ready_once, probe);
    return bf16_ready;
}

int nv_dnnl_bf16_amx(void)
{
    pthread_once(&ready_once, probe);
    return bf16_amx;
}

int nv_dnnl_bf16_gemm_nt(const uint16_t *x, const uint16_t *w,
                         const float *bias, float *y, int M, int K, int N,
                         int ldy, nv_error *err)
{
    nv_dnnl_bf16_product p = {.x = x, .w = w, .bias = bias, .y = y, .M = M,
                              .K = K, .N = N, .ldx = K, .ldw = K,
                              .ldy = ldy};
    return nv_dnnl_bf16_gemm(&p, err);
}

static int run_product(const nv_dnnl_bf16_product *p, nv_error *err);

/* With AMX kernels, a product whose output rows are not contiguous (a
 * column range of a wider output, as the pool's tasks write, or one head
 * of attention) goes to a dense buffer first and is copied out: oneDNN
 * 2.6 gives a strided output to gemm:jit instead of its AMX brgemm, 5-20
 * % slower per product on a Xeon with AMX (1024 x 768 x 192-512, one
 * thread), far more than the copy. Without AMX the call is unchanged (not
 * measured there). */
int nv_dnnl_bf16_gemm(const nv_dnnl_bf16_product *p, nv_error *err)
{
    if (p->ldy == p->N || !nv_dnnl_bf16_amx() || p->M <= 0 || p->N <= 0)
        return run_product(p, err);
    size_t rows = (size_t)p->M, cols = (size_t)p->N;
    float *dense = malloc(sizeof(float) * rows * cols);
    if (!dense)
        return run_product(p, err);
    nv_dnnl_bf16_product q = *p;
    q.y = dense;
    q.ldy = p->N;
    int rc = run_product(&q, err);
    if (rc == 0)
        for (size_t m = 0; m < rows; m++)
            memcpy(p->y + m * (size_t)p->ldy, dense + m * cols,
                   sizeof(float) * cols);
    free(dense);
    return rc;
}

static int run_product(const nv_dnnl_bf16_product *p, nv_error *err)
{
    const uint16_t *x = p->x, *w = p->w;
    float *y = p->y;
    int M = p->M, K = p->K, N = p->N;
    if (!nv_dnnl_bf16_ready())
        return nv_fail(err, "oneDNN has no bf16 kernel on this CPU");
    omp_set_num_threads(1);
    dnnl_memory_desc_t xd, wd, yd, bd;
    matmul mm = {0};
    dnnl_memory_t xm = NULL, wm = NULL, ym = NULL, sm = NULL, bm = NULL;
    dnnl_stream_t stream = NULL;
    void *scratch = NULL;
    dnnl_status_t st = describe(p, &xd, &wd, &yd, &bd);
    if (st == dnnl_success)
        st = matmul_make(&mm, &xd, &wd, p->bias ? &bd : NULL, &yd);
    if (st == dnnl_success)
        st = dnnl_memory_create(&xm, &xd, engine, (void *)x);
    if (st == dnnl_success)
        st = dnnl_memory_create(&wm, &wd, engine, (void *)w);
    if (st == dnnl_success)
        st = dnnl_memory_create(&ym, &yd, engine, y);
    if (st == dnnl_success && p->bias)
        st = dnnl_memory_create(&bm, &bd, engine, (void *)p->bias);
    const dnnl_memory_desc_t *sd = NULL;
    if (st == dnnl_success)
        sd = dnnl_primitive_desc_query_md(mm.pd, dnnl_query_scratchpad_md, 0);
    size_t scratch_bytes = sd ? dnnl_memory_desc_get_size(sd) : 0;
    if (st == dnnl_success && scratch_bytes > 0) {
        scratch = malloc(scratch_bytes);
        if (!scratch) {
            matmul_free(&mm);
            dnnl_memory_destroy(xm);
            dnnl_memory_destroy(wm);
            dnnl_memory_destroy(ym);
            if (bm)
                dnnl_memory_destroy(bm);
            return nv_fail(err, "linear: out of memory for a %zu-byte "
                           "oneDNN scratchpad", scratch_bytes);
        }
        st = dnnl_memory_create(&sm, sd, engine, scratch);
    }
    if (st == dnnl_success)
        st = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, xm},
                                   {DNNL_ARG_WEIGHTS, wm},
                                   {DNNL_ARG_DST, ym}};
        int n_args = 3;
        if (bm)
            args[n_args++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bm};
        if (sm)
            args[n_args++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, sm};
        st = dnnl_primitive_execute(mm.prim, stream, n_args, args);
        if (st == dnnl_success)
            st = dnnl_stream_wait(stream);
    }
    if (stream)
        dnnl_stream_destroy(stream);
    if (sm)
        dnnl_memory_destroy(sm);
    if (ym)
        dnnl_memory_destroy(ym);
    if (bm)
        dnnl_memory_destroy(bm);
    if (wm)
        dnnl_memory_destroy(wm);
    if (xm)
        dnnl_memory_destroy(xm);
    free(scratch);
    matmul_free(&mm);
    if (st != dnnl_success)
        return nv_fail(err, "linear: oneDNN refused a %d x %d x %d bf16 "
                       "product (status %d)", M, K, N, (int)st);
    return 0;
}
