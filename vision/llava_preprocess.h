/* llava_preprocess.h - the image processors of LLaVA 1.5 checkpoints:
 * CLIPImageProcessor and SiglipImageProcessor, as preprocessor_config.json
 * sets them up.
 *
 *   CLIP:   resize the shortest edge to size.shortest_edge (the other edge
 *           int(shortest * long / short)), centre crop to crop_size;
 *   SigLIP: resize to size.height x size.width;
 * both with Pillow's filter `resample` (3 bicubic, 2 bilinear, 1 Lanczos)
 * on the 8-bit image, then rescale (x * rescale_factor in double, stored as
 * float32) and normalise ((x - mean) / std in float32), channels first.
 * The result is one image [1, 3, H, W].
 */
#ifndef NV_VISION_LLAVA_PREPROCESS_H
#define NV_VISION_LLAVA_PREPROCESS_H

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/tensor.h"
#include "vision/image.h"
#include "vision/resize.h"

typedef struct nv_llava_prep {
    int do_resize;
    int shortest_edge;        /* > 0: resize the shortest edge to this */
    int resize_w, resize_h;   /* else: resize to this size */
    nv_resample_filter filter;
    int do_center_crop;
    int crop_w, crop_h;
    int do_rescale;
    double rescale_factor;
    int do_normalize;
    float mean[3], std[3];
} nv_llava_prep;

/* Reads `resample` (PIL's number: 1 Lanczos, 2 bilinear, 3 bicubic; def
 * when absent) as a filter; other numbers are refused. */
int nv_prep_read_resample(const cJSON *obj, const char *file, int64_t def,
                          nv_resample_filter *out, nv_error *err);

/* Reads a preprocessor_config.json object (image_processor_type
 * CLIPImageProcessor or SiglipImageProcessor). Keys the processor class
 * defaults are taken from the class when absent. */
int nv_llava_prep_parse(const cJSON *obj, const char *file,
                        nv_llava_prep *prep, nv_error *err);

/* Reads mean / std / rescale keys shared by the hub processors. */
int nv_prep_read_normalize(const cJSON *obj, const char *file,
                           const float def_mean[3], const float def_std[3],
                           int *do_rescale, double *rescale_factor,
                           int *do_normalize, float mean[3], float std[3],
                           nv_error *err);

/* A required side length `key` of the object `where` (e.g. size.height)
 * in [1, limit]; errors name file, where and key. */
int nv_prep_read_side(const cJSON *obj, const char *key, const char *file,
                      const char *where, int limit, int *out, nv_error *err);

/* The size after resizing the shortest edge of w x h to `shortest`, as
 * transformers' get_resize_output_image_size(default_to_square=False). */
void nv_llava_shortest_edge_size(int w, int h, int shortest, int *out_w,
                                 int *out_h);

/* The whole processor: out gets an owned f32 tensor [1, 3, H, W]. */
int nv_llava_preprocess(const nv_image *img, const nv_llava_prep *prep,
                        nv_tensor *out, nv_error *err);

/* 8-bit RGB (width x height) -> rescaled, normalised float32 CHW planes
 * at dst (3 * width * height values). */
void nv_prep_normalize_chw(const nv_image *img, int do_rescale,
                           double rescale_factor, int do_normalize,
                           const float mean[3], const float std[3],
                           float *dst);

#endif
