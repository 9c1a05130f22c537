/* roofline.h - this machine's ceilings, measured: the peak rate of fused
 * multiply-adds and the rate at which memory can be read, on the threads
 * of a pool. `nvlm bench --roofline` prints each stage's GFLOP/s and GB/s
 * as a fraction of them, so that a figure means the same on any machine.
 */
#ifndef NV_ROOFLINE_H
#define NV_ROOFLINE_H

#include "core/error.h"
#include "core/threads.h"

typedef struct nv_roofline {
    double fma_gflops; /* f32 FMA peak over the pool's threads (2 flops each) */
    double bf16_gflops; /* the peak of the instructions oneDNN's bf16
                           products run on: AMX tiles where it picks them,
                           else vdpbf16ps (pairs of bf16 products summed in
                           f32: 4 flops a lane); 0 without AVX-512 BF16 */
    const char *bf16_engine; /* "AMX tiles", "vdpbf16ps" or NULL */
    double read_gbps;  /* reading a buffer far larger than the caches */
    const char *isa;   /* the vector width the FMA loop used */
} nv_roofline;

/* Measures them on every thread of pool (NULL: the caller alone), best of
 * five runs each (a virtual machine's memory bandwidth varies from second
 * to second: the best is the ceiling); reads a 512 MiB buffer (allocated
 * here and freed). About two seconds. */
int nv_roofline_measure(nv_pool *pool, nv_roofline *out, nv_error *err);

#endif
