/* quantize.h - model directories with Q8_0, Q4_0 or Q4_K weight matrices
 * (`nvlm quantize`; the formats in docs/model-format.md, 3.5 and 3.6).
 */
#ifndef NV_QUANTIZE_H
#define NV_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct nv_quantize_report {
    size_t tensors, quantized;       /* in the source; quantized */
    size_t bytes_before, bytes_after; /* of tensor data */
} nv_quantize_report;

/* Writes dst (a folder that must not exist yet) as a copy of the model
 * directory src whose 2-D "*.weight" float matrices of at least
 * min_elements values, rows a multiple of 32 long, are of type `to`
 * (NV_Q8_0, NV_Q4_0 or NV_Q4_K; Q4_K matrices whose rows are not a
 * multiple of 256 long become Q4_0). report may be NULL. Progress goes to
 * stderr when it is a terminal. */
int nv_quantize_model(const char *src, const char *dst, nv_dtype to,
                      int64_t min_elements, nv_quantize_report *report,
                      nv_error *err);

#endif
