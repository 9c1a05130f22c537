/* llava_preprocess.c - CLIPImageProcessor / SiglipImageProcessor; see
 * llava_preprocess.h. */
#include "vision/llava_preprocess.h"

#include <stdio.h>
#include <string.h>

#include "core/json.h"

/* Preprocessed images larger than this per side are refused: no tower
 * comes near it and it bounds the float buffers. */
#define PREP_SIDE_LIMIT 8192

static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
static const float half[3] = {0.5f, 0.5f, 0.5f};

/* PIL's resample numbers. */
static int filter_from_pil(int64_t pil, nv_resample_filter *out)
{
    switch (pil) {
    case 1:
        *out = NV_RESAMPLE_LANCZOS;
        return 0;
    case 2:
        *out = NV_RESAMPLE_BILINEAR;
        return 0;
    case 3:
        *out = NV_RESAMPLE_BICUBIC;
        return 0;
    default:
        return -1;
    }
}

int nv_prep_read_resample(const cJSON *obj, const char *file, int64_t def,
                          nv_resample_filter *out, nv_error *err)
{
    int64_t resample = def;
    if (nv_json_int_opt(obj, "resample", file, def, &resample, err))
        return -1;
    if (filter_from_pil(resample, out))
        return nv_fail(err, "%s: resample %lld is not supported (1 Lanczos, "
                       "2 bilinear, 3 bicubic)", file, (long long)resample);
    return 0;
}

/* image_mean / image_std: a list of three numbers or one number. */
static int read_triple(const cJSON *obj, const char *key, const char *file,
                       const float def[3], float out[3], nv_error *err)
{
    const cJSON *v = nv_json_get(obj, key);
    if (!v || cJSON_IsNull(v)) {
        memcpy(out, def, sizeof(float) * 3);
        return 0;
    }
    /* Finite and within float range: a wider double does not convert to
     * float (undefined). */
    double x;
    if (cJSON_IsNumber(v)) {
        if (nv_json_as_num(v, key, file, -1e30, 1e30, &x, err))
            return -1;
        out[0] = out[1] = out[2] = (float)x;
        return 0;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
        return nv_fail(err, "%s: '%s' must be a number or a list of 3", file,
                       key);
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(e))
            return nv_fail(err, "%s: '%s' must hold numbers", file, key);
        char name[64];
        snprintf(name, sizeof name, "%s[%d]", key, i);
        if (nv_json_as_num(e, name, file, -1e30, 1e30, &x, err))
            return -1;
        out[i] = (float)x;
    }
    return 0;
}

int nv_prep_read_normalize(const cJSON *obj, const char *file,
                           const float def_mean[3], const float def_std[3],
                           int *do_rescale, double *rescale_factor,
                           int *do_normalize, float mean[3], float std[3],
                           nv_error *err)
{
    if (nv_json_bool_opt(obj, "do_rescale", file, 1, do_rescale, err) ||
        nv_json_num_opt(obj, "rescale_factor", file, 1.0 / 255,
                        rescale_factor, err) ||
        nv_json_bool_opt(obj, "do_normalize", file, 1, do_normalize, err) ||
        read_triple(obj, "image_mean", file, def_mean, mean, err) ||
        read_triple(obj, "image_std", file, def_std, std, err))
        return -1;
    for (int i = 0; i < 3; i++)
        if (!(std[i] > 0) || mean[i] != mean[i])
            return nv_fail(err, "%s: image_std must be > 0 and image_mean a "
                           "number", file);
    return 0;
}

int nv_prep_read_side(const cJSON *obj, const char *key, const char *file,
                      const char *where, int limit, int *out, nv_error *err)
{
    int64_t v = 0;
    if (nv_json_int_req(obj, key, file, &v, err))
        return nv_fail_prefix(err, "%s: ", where);
    if (v < 1 || v > limit)
        return nv_fail(err, "%s: %s.%s = %lld is out of range [1, %d]", file,
                       where, key, (long long)v, limit);
    *out = (int)v;
    return 0;
}

/* A side length in a `size` / `crop_size` object. */
static int side(const cJSON *obj, const char *key, const char *file,
                const char *where, int *out, nv_error *err)
{
    return nv_prep_read_side(obj, key, file, where, PREP_SIDE_LIMIT, out,
                             err);
}

int nv_llava_prep_parse(const cJSON *obj, const char *file,
                        nv_llava_prep *prep, nv_error *err)
{
    memset(prep, 0, sizeof *prep);
    const char *type = NULL;
    if (nv_json_str_req(obj, "image_processor_type", file, &type, err))
        return -1;
    int clip = !strcmp(type, "CLIPImageProcessor");
    if (!clip && strcmp(type, "SiglipImageProcessor") != 0)
        return nv_fail(err, "%s: image_processor_type '%s' is not supported "
                       "for LLaVA (CLIPImageProcessor, SiglipImageProcessor)",
                       file, type);
    if (nv_json_bool_opt(obj, "do_resize", file, 1, &prep->do_resize, err) ||
        nv_prep_read_resample(obj, file, 3, &prep->filter, err) ||
        nv_json_bool_opt(obj, "do_center_crop", file, clip,
                         &prep->do_center_crop, err) ||
        nv_prep_read_normalize(obj, file, clip ? clip_mean : half,
                               clip ? clip_std : half, &prep->do_rescale,
                               &prep->rescale_factor, &prep->do_normalize,
                               prep->mean, prep->std, err))
        return -1;
    const cJSON *size = NULL;
    if (prep->do_resize) {
        if (nv_json_obj_req(obj, "size", file, &size, err))
            return -1;
        if (nv_json_get(size, "shortest_edge")) {
            if (side(size, "shortest_edge", file, "size",
                     &prep->shortest_edge, err))
                return -1;
        } else if (side(size, "height", file, "size", &prep->resize_h,
                        err) ||
                   side(size, "width", file, "size", &prep->resize_w, err)) {
            return -1;
        }
    }
    if (prep->do_center_crop) {
        const cJSON *crop = NULL;
        if (nv_json_obj_req(obj, "crop_size", file, &crop, err) ||
            side(crop, "height", file, "crop_size", &prep->crop_h, err) ||
            side(crop, "width", file, "crop_size", &prep->crop_w, err))
            return -1;
    }
    return 0;
}

void nv_llava_shortest_edge_size(int w, int h, int shortest, int *out_w,
                                 int *out_h)
{
    int s = w <= h ? w : h, l = w <= h ? h : w;
    double long_d = (double)shortest * l / s;
    /* Beyond any sane size; the caller refuses it. */
    int new_long = long_d < (double)(1 << 30) ? (int)long_d : 1 << 30;
    *out_w = w <= h ? shortest : new_long;
    *out_h = w <= h ? new_long : shortest;
}

static int floor_half(int v)
{
    return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

/* transformers' center_crop on the 8-bit image: the window starting at
 * (size - crop) // 2; when the crop is larger than the image, the image is
 * first centred in a zero frame (ceil of half the difference on the top /
 * left). */
static int center_crop(const nv_image *src, int cw, int ch, nv_image *out,
                       nv_error *err)
{
    if (nv_image_alloc(out, cw, ch, err))
        return -1;
    memset(out->rgb, 0, (size_t)cw * ch * 3);
    int W = src->width, H = src->height;
    int top = floor_half(H - ch), left = floor_half(W - cw);
    int pad_top = 0, pad_left = 0;
    if (top < 0 || left < 0 || top + ch > H || left + cw > W) {
        int new_h = ch > H ? ch : H, new_w = cw > W ? cw : W;
        pad_top = (new_h - H + 1) / 2;
        pad_left = (new_w - W + 1) / 2;
        top += pad_top;
        left += pad_left;
        if (top < 0)
            top = 0;
        if (left < 0)
            left = 0;
    }
    for (int y = 0; y < ch; y++) {
        int sy = top + y - pad_top;
        if (sy < 0 || sy >= H)
            continue;
        for (int x = 0; x < cw; x++) {
            int sx = left + x - pad_left;
            if (sx < 0 || sx >= W)
                continue;
            memcpy(out->rgb + ((size_t)y * cw + x) * 3,
                   src->rgb + ((size_t)sy * W + sx) * 3, 3);
        }
    }
    return 0;
}

void nv_prep_normalize_chw(const nv_image *img, int do_rescale,
                           double rescale_factor, int do_normalize,
                           const float mean[3], const float std[3],
                           float *dst)
{
    size_t plane = (size_t)img->width * img->height;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            /* numpy: uint8 -> float64 * factor -> float32, then float32
             * (x - mean) / std. */
            float v = do_rescale
                          ? (float)((double)img->rgb[i * 3 + c] *
                                    rescale_factor)
                          : (float)img->rgb[i * 3 + c];
            if (do_normalize)
                v = (v - mean[c]) / std[c];
            dst[(size_t)c * plane + i] = v;
        }
}

int nv_llava_preprocess(const nv_image *img, const nv_llava_prep *prep,
                        nv_tensor *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    nv_image resized = {0}, cropped = {0};
    const nv_image *cur = img;
    int rc = 0;
    if (prep->do_resize) {
        int w = prep->resize_w, h = prep->resize_h;
        if (prep->shortest_edge > 0)
            nv_llava_shortest_edge_size(img->width, img->height,
                                        prep->shortest_edge, &w, &h);
        /* A very elongated image would grow without bound along its
         * long edge. */
        if (w < 1 || h < 1 || (int64_t)w * h > NV_IMAGE_DEFAULT_MAX_PIXELS)
            return nv_fail(err, "image %dx%d is too elongated: resizing "
                           "gives %dx%d", img->width, img->height, w, h);
        rc = nv_image_resize(img, w, h, prep->filter, &resized, err);
        cur = &resized;
    }
    if (!rc && prep->do_center_crop) {
        rc = center_crop(cur, prep->crop_w, prep->crop_h, &cropped, err);
        cur = &cropped;
    }
    if (!rc) {
        int64_t shape[4] = {1, 3, cur->height, cur->width};
        rc = nv_tensor_alloc_f32(out, 4, shape, err);
    }
    if (!rc)
        nv_prep_normalize_chw(cur, prep->do_rescale, prep->rescale_factor,
                              prep->do_normalize, prep->mean, prep->std,
                              out->data);
    nv_image_free(&resized);
    nv_image_free(&cropped);
    return rc;
}
