/* idefics3_preprocess.c - Idefics3ImageProcessor for one image; see
 * idefics3_preprocess.h. */
#include "vision/idefics3_preprocess.h"

#include <math.h>
#include <string.h>

#include "core/json.h"
#include "vision/llava_preprocess.h"

/* The first resize is capped at this many pixels per side: transformers
 * 4.47 refuses size.longest_edge above 1820, later versions cap at 4096
 * (SmolVLM-256M asks for 2048); both agree below 1820. */
#define IDEFICS3_MAX_SIDE 4096
/* Largest size.longest_edge / max_image_size.longest_edge accepted. */
#define IDEFICS3_FRAME_LIMIT 4096

static const float half[3] = {0.5f, 0.5f, 0.5f};

/* size / max_image_size: {"longest_edge": N}, def when absent. */
static int longest(const cJSON *obj, const char *key, const char *file,
                   int def, int *out, nv_error *err)
{
    const cJSON *size = nv_json_get(obj, key);
    if (!size) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsObject(size))
        return nv_fail(err, "%s: '%s' is not an object", file, key);
    return nv_prep_read_side(size, "longest_edge", file, key,
                             IDEFICS3_FRAME_LIMIT, out, err);
}

int nv_idefics3_prep_parse(const cJSON *obj, const char *file,
                           nv_idefics3_prep *prep, nv_error *err)
{
    memset(prep, 0, sizeof *prep);
    const char *type = NULL;
    if (nv_json_str_req(obj, "image_processor_type", file, &type, err))
        return -1;
    if (strcmp(type, "Idefics3ImageProcessor") != 0)
        return nv_fail(err, "%s: image_processor_type '%s' is not "
                       "Idefics3ImageProcessor", file, type);
    int split = 1;
    if (nv_json_bool_opt(obj, "do_resize", file, 1, &prep->do_resize, err) ||
        longest(obj, "size", file, 4 * 364, &prep->longest_edge, err) ||
        longest(obj, "max_image_size", file, 364, &prep->frame, err) ||
        nv_prep_read_resample(obj, file, 1, &prep->filter, err) ||
        nv_json_bool_opt(obj, "do_image_splitting", file, 1, &split, err) ||
        nv_prep_read_normalize(obj, file, half, half, &prep->do_rescale,
                               &prep->rescale_factor, &prep->do_normalize,
                               prep->mean, prep->std, err))
        return -1;
    if (!split)
        return nv_fail(err, "%s: do_image_splitting false is not supported",
                       file);
    return 0;
}

void nv_idefics3_resize_size(int w, int h, int longest_edge, int *out_w,
                             int *out_h)
{
    double aspect = (double)w / h;
    if (w >= h) {
        w = longest_edge;
        h = (int)(w / aspect);
        if (h % 2)
            h++;
    } else {
        h = longest_edge;
        w = (int)(h * aspect);
        if (w % 2)
            w++;
    }
    if (h < 1)
        h = 1;
    if (w < 1)
        w = 1;
    aspect = (double)w / h;
    if (w >= h && w > IDEFICS3_MAX_SIDE) {
        w = IDEFICS3_MAX_SIDE;
        h = (int)(w / aspect);
    } else if (h > w && h > IDEFICS3_MAX_SIDE) {
        h = IDEFICS3_MAX_SIDE;
        w = (int)(h * aspect);
    }
    *out_w = w < 1 ? 1 : w;
    *out_h = h < 1 ? 1 : h;
}

static int round_up(int v, int m)
{
    return (v + m - 1) / m * m;
}

void nv_idefics3_frame_size(int w, int h, int frame, int *out_w, int *out_h)
{
    double aspect = (double)w / h;
    if (w >= h) {
        w = round_up(w, frame);
        h = round_up((int)(w / aspect), frame);
    } else {
        h = round_up(h, frame);
        w = round_up((int)(h * aspect), frame);
    }
    /* int(w / aspect) may reach 0 for a very thin image. */
    *out_w = w < frame ? frame : w;
    *out_h = h < frame ? frame : h;
}

/* Crop (x0, y0, M, M) of src into CHW floats. */
static void crop_normalize(const nv_image *src, int x0, int y0, int M,
                           const nv_idefics3_prep *p, nv_image *tmp,
                           float *dst)
{
    for (int y = 0; y < M; y++)
        memcpy(tmp->rgb + (size_t)y * M * 3,
               src->rgb + ((size_t)(y0 + y) * src->width + x0) * 3,
               (size_t)M * 3);
    nv_prep_normalize_chw(tmp, p->do_rescale, p->rescale_factor,
                          p->do_normalize, p->mean, p->std, dst);
}

int nv_idefics3_preprocess(const nv_image *img, const nv_idefics3_prep *p,
                           nv_tensor *out, int *rows, int *cols,
                           nv_error *err)
{
    memset(out, 0, sizeof *out);
    *rows = *cols = 0;
    nv_image first = {0}, framed = {0}, global = {0}, tmp = {0};
    const nv_image *cur = img;
    int M = p->frame, rc = 0;
    if (p->do_resize) {
        int w, h;
        nv_idefics3_resize_size(img->width, img->height, p->longest_edge, &w,
                                &h);
        rc = nv_image_resize(img, w, h, p->filter, &first, err);
        cur = &first;
    }
    int fw = 0, fh = 0;
    if (!rc) {
        nv_idefics3_frame_size(cur->width, cur->height, M, &fw, &fh);
        if ((long long)(fw / M) * (fh / M) > 1024)
            rc = nv_fail(err, "idefics3: %dx%d makes too many frames", fw,
                         fh);
    }
    if (!rc)
        rc = nv_image_resize(cur, fw, fh, p->filter, &framed, err);
    int split = !rc && (fw > M || fh > M);
    int n_rows = split ? fh / M : 0, n_cols = split ? fw / M : 0;
    int n = split ? n_rows * n_cols + 1 : 1;
    if (!rc)
        rc = nv_image_alloc(&tmp, M, M, err);
    if (!rc) {
        int64_t shape[4] = {n, 3, M, M};
        rc = nv_tensor_alloc_f32(out, 4, shape, err);
    }
    if (!rc && split)
        rc = nv_image_resize(&framed, M, M, p->filter, &global, err);
    if (!rc) {
        size_t per = (size_t)3 * M * M;
        float *dst = out->data;
        for (int r = 0; r < n_rows; r++)
            for (int c = 0; c < n_cols; c++, dst += per)
                crop_normalize(&framed, c * M, r * M, M, p, &tmp, dst);
        crop_normalize(split ? &global : &framed, 0, 0, M, p, &tmp, dst);
        *rows = n_rows;
        *cols = n_cols;
    }
    nv_image_free(&first);
    nv_image_free(&framed);
    nv_image_free(&global);
    nv_image_free(&tmp);
    if (rc)
        nv_tensor_free(out);
    return rc;
}
