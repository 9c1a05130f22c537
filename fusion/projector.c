/* projector.c - the mlp1 vision-to-language projector; see projector.h. */
#include "fusion/projector.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/matmul.h"
#include "core/tensor.h"
#include "vision/vit_ops.h"

struct nv_projector {
    int in_dim, mid_dim, out_dim;
    nv_tensor ln_w, ln_b; /* [in] */
    nv_tensor w1, b1;     /* [mid, in], [mid] or empty */
    nv_tensor w2, b2;     /* [out, mid], [out] or empty */
};

static const nv_st_entry *find(const nv_safetensors *st, const char *prefix,
                               const char *suffix, char *name, size_t size)
{
    snprintf(name, size, "%s%s", prefix, suffix);
    return nv_st_find(st, name);
}

/* Width of a required tensor: dimension `dim` of a tensor of `ndim` dims. */
static int width_of(const nv_safetensors *st, const char *prefix,
                    const char *suffix, int ndim, int dim, int *out,
                    nv_error *err)
{
    char name[256];
    const nv_st_entry *e = find(st, prefix, suffix, name, sizeof name);
    if (!e) {
        /* Let the reader word the error: it knows the file's path. */
        nv_tensor none = {0};
        return nv_st_get_f32(st, name, -1, NULL, &none, err);
    }
    int64_t n = e->ndim == ndim ? nv_st_model_dim(st, e, dim) : 0;
    if (e->ndim != ndim || n < 1 || n > INT_MAX / 4)
        return nv_fail(err, "%s: tensor '%s' has an unexpected shape",
                       e->file, name);
    *out = (int)n;
    return 0;
}

static int load(const nv_safetensors *st, const char *prefix,
                const char *suffix, int ndim, int64_t rows, int64_t cols,
                nv_tensor *out, nv_error *err)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    const int64_t shape[2] = {rows, cols};
    if (ndim == 2) /* matrices in their stored precision (core/lowp.h) */
        return nv_st_get_weight(st, name, 2, shape, out, err);
    return nv_st_get_f32(st, name, ndim, ndim == 1 ? &rows : shape, out, err);
}

static int load_bias(const nv_safetensors *st, const char *prefix,
                     const char *suffix, int64_t len, nv_tensor *out,
                     nv_error *err)
{
    char name[256];
    if (!find(st, prefix, suffix, name, sizeof name))
        return 0;
    return load(st, prefix, suffix, 1, len, 0, out, err);
}

int nv_projector_load(const nv_safetensors *st, const char *prefix,
                      int in_dim, int out_dim, const char *config,
                      nv_projector **out, nv_error *err)
{
    *out = NULL;
    nv_projector *p = calloc(1, sizeof *p);
    if (!p)
        return nv_fail(err, "projector: out of memory");
    if (width_of(st, prefix, "0.weight", 1, 0, &p->in_dim, err) < 0 ||
        width_of(st, prefix, "1.weight", 2, 0, &p->mid_dim, err) < 0 ||
        width_of(st, prefix, "3.weight", 2, 0, &p->out_dim, err) < 0)
        goto fail;
    if ((in_dim > 0 && in_dim != p->in_dim) ||
        (out_dim > 0 && out_dim != p->out_dim)) {
        char name[256];
        const nv_st_entry *e = find(st, prefix, "3.weight", name, sizeof name);
        nv_fail(err,
                "%s: projector '%s' maps %d -> %d, but %s needs %d -> %d "
                "(the vision features after pixel shuffle -> the language "
                "model's hidden_size)",
                e ? e->file : nv_st_path(st), prefix, p->in_dim, p->out_dim,
                config ? config : "the model",
                in_dim > 0 ? in_dim : p->in_dim,
                out_dim > 0 ? out_dim : p->out_dim);
        goto fail;
    }
    if (load(st, prefix, "0.weight", 1, p->in_dim, 0, &p->ln_w, err) < 0 ||
        load(st, prefix, "0.bias", 1, p->in_dim, 0, &p->ln_b, err) < 0 ||
        load(st, prefix, "1.weight", 2, p->mid_dim, p->in_dim, &p->w1, err) <
            0 ||
        load(st, prefix, "3.weight", 2, p->out_dim, p->mid_dim, &p->w2, err) <
            0 ||
        load_bias(st, prefix, "1.bias", p->mid_dim, &p->b1, err) < 0 ||
        load_bias(st, prefix, "3.bias", p->out_dim, &p->b2, err) < 0)
        goto fail;
    *out = p;
    return 0;
fail:
    nv_projector_free(p);
    return -1;
}

void nv_projector_free(nv_projector *p)
{
    if (!p)
        return;
    nv_tensor_free(&p->ln_w);
    nv_tensor_free(&p->ln_b);
    nv_tensor_free(&p->w1);
    nv_tensor_free(&p->b1);
    nv_tensor_free(&p->w2);
    nv_tensor_free(&p->b2);
    free(p);
}

int nv_projector_in_dim(const nv_projector *p) { return p->in_dim; }
int nv_projector_mid_dim(const nv_projector *p) { return p->mid_dim; }
int nv_projector_out_dim(const nv_projector *p) { return p->out_dim; }

int nv_projector_forward(const nv_projector *p, nv_pool *pool,
                         const float *in, int rows, float *out, nv_error *err)
{
    int widest = p->in_dim > p->mid_dim ? p->in_dim : p->mid_dim;
    if (rows < 0 || (long long)rows * widest > INT_MAX)
        return nv_fail(err, "projector: cannot project %d rows at once", rows);
    if (rows == 0)
        return 0;
    float *normed = malloc((size_t)rows * p->in_dim * sizeof(float));
    float *mid = malloc((size_t)rows * p->mid_dim * sizeof(float));
    if (!normed || !mid) {
        free(normed);
        free(mid);
        return nv_fail(err, "projector: out of memory for %d rows", rows);
    }
    nv_layer_norm_rows_pooled(pool, normed, in, rows, p->in_dim,
                              nv_tensor_f32(&p->ln_w), nv_tensor_f32(&p->ln_b),
                              NV_PROJECTOR_LN_EPS);
    int rc = nv_linear_w(pool, mid, normed, &p->w1, nv_tensor_f32(&p->b1),
                         rows, p->in_dim, p->mid_dim, err);
    if (rc == 0) {
        nv_gelu_erf_pooled(pool, mid, (size_t)rows * p->mid_dim);
        rc = nv_linear_w(pool, out, mid, &p->w2, nv_tensor_f32(&p->b2), rows,
                         p->mid_dim, p->out_dim, err);
    }
    free(normed);
    free(mid);
    return rc;
}
