/* quantize.c - writes a model directory with Q8_0, Q4_0 or Q4_K weight
 * matrices; see quantize.h.
 *
 * Every 2-D float tensor named "*.weight" whose rows are a multiple of 32
 * long and that holds at least min_elements values becomes, for Q8_0, an
 * I8 tensor of the same name and shape plus "<name>.q8_scales", F16 [rows,
 * cols/32]: per block of 32 weights, d = f16(max |w| / 127) and q = round(w
 * / d) (the scale rounded first, so that q * d is what the runtime
 * computes); for Q4_0, a U8 tensor [rows, cols/2] of packed nibbles plus
 * "<name>.q4_scales" (nv_q4_quantize_row); for Q4_K, the same packed
 * nibbles plus "<name>.q4k_scales", U8 [rows, cols/256 x 24] records
 * (nv_q4k_quantize_row), or Q4_0 for a matrix whose rows are not a
 * multiple of 256 long. Every other tensor is copied as it is.
 *
 * Tensors are written largest element first (8-, 4-, 2-, then 1-byte
 * types) with no gaps, so that every tensor starts on its natural
 * alignment and can be borrowed from the mapping. The other files of the
 * model directory (config.json, tokenizer.json, ...) are copied; the
 * source is never changed.
 */
#include "core/quantize.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/lowp.h"
#include "core/safetensors.h"

/* ---- the plan: which tensors, in which order ---------------------------- */

typedef struct planned {
    const nv_st_entry *e;
    int quantize;
    nv_dtype to;         /* NV_Q8_0, NV_Q4_0 or NV_Q4_K when quantized */
    size_t bytes;        /* of the data written under e->name */
    size_t scale_bytes;  /* of "<name>.q8_scales" / ".q4_scales" / ... */
} planned;

static const char *scales_suffix(nv_dtype to)
{
    return to == NV_Q4_K ? "q4k_scales"
           : to == NV_Q4_0 ? "q4_scales" : "q8_scales";
}

static const char *type_name(nv_dtype to)
{
    return to == NV_Q4_K ? "q4_k" : to == NV_Q4_0 ? "q4_0" : "q8_0";
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && !strcmp(s + n - t, tail);
}

static int wants_q8(const nv_st_entry *e, int64_t min_elements)
{
    int float_type = e->dtype == NV_F32 || e->dtype == NV_F16 ||
                     e->dtype == NV_BF16;
    return float_type && e->ndim == 2 && ends_with(e->name, ".weight") &&
           e->shape[1] % NV_Q8_BLOCK == 0 &&
           e->shape[0] * e->shape[1] >= min_elements;
}

/* Element size as written: 1 for a quantized matrix. */
static size_t written_size(const planned *p)
{
    return p->quantize ? 1 : nv_dtype_size(p->e->dtype);
}

static int by_size_then_name(const void *a, const void *b)
{
    const planned *x = a, *y = b;
    size_t sx = written_size(x), sy = written_size(y);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(x->e->name, y->e->name);
}

static cJSON *entry_json(const char *dtype, int ndim, const int64_t *shape,
                         size_t begin, size_t end)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dtype", dtype);
    cJSON *sh = cJSON_AddArrayToObject(o, "shape");
    for (int i = 0; sh && i < ndim; i++)
        cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shape[i]));
    cJSON *off = cJSON_AddArrayToObject(o, "data_offsets");
    if (off) {
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)begin));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)end));
    }
    return o;
}

/* The header: 2-byte scales right after the 2-byte tensors, so the order
 * of sizes stays descending and nothing needs padding. */
static char *header_text(planned *plan, size_t n, nv_dtype to, size_t *len)
{
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    cJSON_AddStringToObject(meta, "nvlm_quantization", type_name(to));
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            planned *p = &plan[i];
            if (pass == 0) { /* everything not 1-byte, then the scales */
                if (written_size(p) == 1)
                    continue;
                cJSON_AddItemToObject(h, p->e->name,
                    entry_json(nv_dtype_name(p->e->dtype), p->e->ndim,
                               p->e->shape, off, off + p->bytes));
                off += p->bytes;
            } else if (p->quantize) {
                char name[1100];
                snprintf(name, sizeof name, "%s.%s", p->e->name,
                         scales_suffix(p->to));
                int q4k = p->to == NV_Q4_K;
                int64_t sshape[2] = {
                    p->e->shape[0],
                    q4k ? p->e->shape[1] / NV_Q4K_SUPER * NV_Q4K_RECORD
                        : p->e->shape[1] / NV_Q8_BLOCK};
                /* Q4_K records: an even number of bytes a row, so the
                 * 2-byte alignment of what follows holds */
                cJSON_AddItemToObject(h, name,
                                      entry_json(q4k ? "U8" : "F16", 2, sshape,
                                                 off, off + p->scale_bytes));
                off += p->scale_bytes;
            }
        }
    for (size_t i = 0; i < n; i++) {
        planned *p = &plan[i];
        if (written_size(p) != 1)
            continue;
        int64_t shape[2] = {p->e->shape[0], p->e->ndim > 1 ? p->e->shape[1] : 0};
        if (p->quantize && p->to != NV_Q8_0)
            shape[1] /= 2; /* two values a byte */
        cJSON_AddItemToObject(h, p->e->name,
            entry_json(!p->quantize ? nv_dtype_name(p->e->dtype)
                       : p->to != NV_Q8_0 ? "U8" : "I8",
                       p->e->ndim, p->quantize ? shape : p->e->shape, off,
                       off + p->bytes));
        off += p->bytes;
    }
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!text)
        return NULL;
    size_t t = strlen(text), padded = (t + 7) / 8 * 8;
    char *out = realloc(text, padded + 1);
    if (!out) {
        free(text);
        return NULL;
    }
    memset(out + t, ' ', padded - t);
    out[padded] = '\0';
    *len = padded;
    return out;
}

/* ---- writing ------------------------------------------------------------ */

/* Writes the quantized rows (scales_pass 0) or their scales (1) of p. */
static int write_quantized(FILE *f, const planned *p, int scales_pass,
                           float *row, int8_t *q, uint16_t *sc)
{
    const nv_st_entry *e = p->e;
    int64_t R = e->shape[0], K = e->shape[1];
    size_t es = nv_dtype_size(e->dtype);
    size_t row_bytes = p->to == NV_Q8_0 ? (size_t)K : (size_t)K / 2;
    for (int64_t r = 0; r < R; r++) {
        nv_lowp_to_f32(e->dtype, (const unsigned char *)e->data +
                                     (size_t)r * (size_t)K * es,
                       row, (size_t)K);
        nv_quantize_row(p->to, row, K, q, sc);
        size_t want = scales_pass ? nv_quant_scale_bytes(p->to, 1, K)
                                  : row_bytes;
        size_t ok = scales_pass ? fwrite(sc, 1, want, f)
                                : fwrite(q, 1, want, f);
        if (ok != want)
            return -1;
    }
    return 0;
}

static int write_model(planned *plan, size_t n, nv_dtype to,
                       const char *path, int64_t widest, nv_error *err)
{
    size_t hlen = 0;
    char *header = header_text(plan, n, to, &hlen);
    if (!header)
        return nv_fail(err, "out of memory for the header");
    FILE *f = fopen(path, "wb");
    float *row = malloc(sizeof(float) * (size_t)(widest ? widest : 1));
    int8_t *q = malloc((size_t)(widest ? widest : 1));
    /* room for either kind of scales of the widest row */
    uint16_t *sc = malloc(2 * (size_t)(widest / NV_Q8_BLOCK + 1) +
                          NV_Q4K_RECORD * (size_t)(widest / NV_Q4K_SUPER + 1));
    int rc = f && row && q && sc ? 0 : -1;
    int progress = isatty(2);
    if (!rc) {
        unsigned char le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
        rc = fwrite(le, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen
                 ? 0 : -1;
    }
    /* Same order as header_text. */
    for (size_t i = 0; i < n && !rc; i++)
        if (written_size(&plan[i]) != 1)
            rc = fwrite(plan[i].e->data, 1, plan[i].bytes, f) == plan[i].bytes
                     ? 0 : -1;
    for (size_t i = 0; i < n && !rc; i++)
        if (plan[i].quantize)
            rc = write_quantized(f, &plan[i], 1, row, q, sc);
    for (size_t i = 0; i < n && !rc; i++) {
        if (written_size(&plan[i]) != 1)
            continue;
        if (plan[i].quantize) {
            rc = write_quantized(f, &plan[i], 0, row, q, sc);
            if (progress)
                fprintf(stderr, "\rnvlm quantize: %zu/%zu tensors", i + 1,
                        n);
        } else {
            rc = fwrite(plan[i].e->data, 1, plan[i].bytes, f) == plan[i].bytes
                     ? 0 : -1;
        }
    }
    if (progress)
        fprintf(stderr, "\n");
    if (f && fclose(f))
        rc = -1;
    free(header);
    free(row);
    free(q);
    free(sc);
    if (rc)
        return nv_fail(err, "%s: write failed: %s", path,
                       errno ? strerror(errno) : "out of memory");
    return 0;
}

/* Copies every regular file of src except the weights into dst. */
static int copy_side_files(const char *src, const char *dst, nv_error *err)
{
    DIR *d = opendir(src);
    if (!d)
        return nv_fail(err, "%s: %s", src, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        const char *name = de->d_name;
        if (name[0] == '.' || ends_with(name, ".safetensors") ||
            !strcmp(name, "model.safetensors.index.json"))
            continue;
        char from[4096], to[4096];
        snprintf(from, sizeof from, "%s/%s", src, name);
        snprintf(to, sizeof to, "%s/%s", dst, name);
        struct stat sb;
        if (stat(from, &sb) || !S_ISREG(sb.st_mode))
            continue;
        FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
        char buf[1 << 16];
        size_t got;
        rc = in && out ? 0 : -1;
        while (!rc && (got = fread(buf, 1, sizeof buf, in)) > 0)
            rc = fwrite(buf, 1, got, out) == got ? 0 : -1;
        if (in)
            fclose(in);
        if (out && fclose(out))
            rc = -1;
        if (rc)
            nv_fail(err, "copying %s to %s failed", from, to);
    }
    closedir(d);
    return rc;
}

int nv_quantize_model(const char *src, const char *dst, nv_dtype to,
                      int64_t min_elements, nv_quantize_report *report,
                      nv_error *err)
{
    if (!nv_dtype_quantized(to))
        return nv_fail(err, "quantize: %s is no quantized type (Q8_0, Q4_0 "
                       "or Q4_K)", nv_dtype_name(to));
    struct stat sb;
    if (stat(dst, &sb) == 0)
        return nv_fail(err, "%s: already exists (give a new folder)", dst);
    nv_safetensors *st = nv_st_open(src, err);
    if (!st)
        return -1;
    size_t n = nv_st_count(st), n_q = 0;
    planned *plan = calloc(n ? n : 1, sizeof *plan);
    int64_t widest = 0;
    size_t before = 0, after = 0;
    for (size_t i = 0; plan && i < n; i++) {
        planned *p = &plan[i];
        p->e = nv_st_at(st, i);
        p->bytes = p->e->nbytes;
        before += p->bytes;
        if (wants_q8(p->e, min_elements)) {
            p->quantize = 1;
            int64_t K = p->e->shape[1];
            p->to = nv_quant_type_for(to, K);
            p->bytes = (size_t)(p->e->shape[0] * K);
            if (p->to != NV_Q8_0)
                p->bytes /= 2;
            p->scale_bytes = nv_quant_scale_bytes(p->to, p->e->shape[0], K);
            widest = K > widest ? K : widest;
            n_q++;
        }
        after += p->bytes + p->scale_bytes;
    }
    int rc = plan ? 0 : nv_fail(err, "out of memory");
    if (!rc)
        qsort(plan, n, sizeof *plan, by_size_then_name);
    if (!rc && mkdir(dst, 0755))
        rc = nv_fail(err, "%s: %s", dst, strerror(errno));
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dst);
    if (!rc)
        rc = copy_side_files(src, dst, err);
    if (!rc)
        rc = write_model(plan, n, to, path, widest, err);
    if (!rc && report) {
        report->tensors = n;
        report->quantized = n_q;
        report->bytes_before = before;
        report->bytes_after = after;
    }
    free(plan);
    nv_st_close(st);
    return rc;
}
