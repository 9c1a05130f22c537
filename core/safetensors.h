/* safetensors.h - read-only access to safetensors files over mmap.
 *
 * Opens one file, a model directory (model.safetensors, or the shards listed
 * in model.safetensors.index.json) or an index file itself. Every header is
 * validated before any tensor is handed out:
 *   - the 8-byte header length is bounded and the header lies inside the file;
 *   - the header is valid JSON, each entry has a known dtype, a shape whose
 *     product does not overflow, and data_offsets inside the data area whose
 *     length equals numel * dtype size;
 *   - no two tensors overlap;
 *   - a sharded index names existing files and every tensor it lists exists
 *     in the shard it names.
 * A bad file gives an error naming the file, the tensor and the problem.
 *
 * Ownership: nv_st_open returns a handle the caller frees with nv_st_close.
 * Entries and their data pointers stay valid until then.
 */
#ifndef NV_SAFETENSORS_H
#define NV_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct nv_st_entry {
    const char *name;
    nv_dtype dtype;
    int ndim;
    int64_t shape[NV_MAX_DIMS];
    const void *data; /* inside the mapping; may be unaligned */
    size_t nbytes;
    const char *file; /* path of the file holding it */
} nv_st_entry;

typedef struct nv_safetensors nv_safetensors;

/* path: a .safetensors file, a .index.json file, or a directory holding
 * model.safetensors or model.safetensors.index.json. */
nv_safetensors *nv_st_open(const char *path, nv_error *err);
void nv_st_close(nv_safetensors *st);

size_t nv_st_count(const nv_safetensors *st);
/* The path given to nv_st_open (what messages name). */
const char *nv_st_path(const nv_safetensors *st);
const nv_st_entry *nv_st_at(const nv_safetensors *st, size_t i);
/* NULL when absent. */
const nv_st_entry *nv_st_find(const nv_safetensors *st, const char *name);
/* Dimension `dim` of an entry as the model sees it: the stored size, but
 * twice it for the columns of a Q4_0 or Q4_K weight (a U8 entry with
 * "<name>.q4_scales" or "<name>.q4k_scales", two values a byte). For checks made on entries
 * before the weights are loaded. */
int64_t nv_st_model_dim(const nv_safetensors *st, const nv_st_entry *e,
                        int dim);
/* Total bytes of tensor data mapped. */
size_t nv_st_data_bytes(const nv_safetensors *st);

/* Loads a tensor as f32, checking that its
 * shape equals expect_shape[0..ndim) (pass ndim = -1 to accept any shape).
 * An aligned F32 tensor is borrowed from the read-only mapping (owned = 0,
 * valid until nv_st_close, must not be written); F16/BF16/F64 and
 * unaligned F32 are converted into an owned copy.
 * Errors name the file and tensor: missing, wrong shape, non-float dtype. */
int nv_st_get_f32(const nv_safetensors *st, const char *name, int ndim,
                  const int64_t *expect_shape, nv_tensor *out, nv_error *err);

/* What nv_st_get_weight hands out. */
typedef enum nv_weight_mode {
    NV_WEIGHTS_STORED, /* the file's dtype, borrowed (the default) */
    NV_WEIGHTS_F32,    /* converted to f32, as before issue 15 (to compare) */
    NV_WEIGHTS_BF16,   /* rounded to bf16 where the file has another type */
    NV_WEIGHTS_F16,    /* rounded to f16 likewise */
    NV_WEIGHTS_Q8_0,   /* 2-D weights with rows a multiple of 32 long
                          quantized to Q8_0 at load; others as stored */
    NV_WEIGHTS_Q4_0,   /* the same to Q4_0 */
    NV_WEIGHTS_Q4_K,   /* to Q4_K where rows are a multiple of 256 long,
                          else Q4_0 */
} nv_weight_mode;

/* "stored", "f32", "bf16", "f16", "q8_0", "q4_0", "q4_k"; parse returns -1
 * on another name. */
int nv_weight_mode_parse(const char *name, nv_weight_mode *out);
const char *nv_weight_mode_name(nv_weight_mode mode);

/* Loads a weight (a matrix the kernels of core/matmul.h read, or an
 * embedding table). In the default mode F32, F16 and BF16 tensors on their
 * natural alignment are borrowed from the mapping with their dtype (no
 * copy); F64 or unaligned data become an owned copy. Another mode gives
 * every weight that dtype, borrowed where the file already has it and an
 * owned converted copy elsewhere. Shape and dtype checks and messages as
 * nv_st_get_f32. */
int nv_st_get_weight(const nv_safetensors *st, const char *name, int ndim,
                     const int64_t *expect_shape, nv_tensor *out,
                     nv_error *err);

/* Set before the weights are loaded (`--dtype`). */
void nv_st_set_weight_mode(nv_safetensors *st, nv_weight_mode mode);
nv_weight_mode nv_st_weight_mode(const nv_safetensors *st);

/* Loads an integer tensor (I64/I32/I16/I8/U8/BOOL) as owned int64 values
 * (out->dtype = NV_I64). Used by tests reading golden inputs. */
int nv_st_get_i64(const nv_safetensors *st, const char *name, nv_tensor *out,
                  nv_error *err);

#endif
