/* bench_images.h - the images `nvlm bench` runs on: the image files of a
 * directory (sorted by name, each with its STEM.md truth under --labels),
 * synthetic pictures of given sizes, or the default sizes S x S, 2S x S,
 * 3S x 2S and 4S x 3S of a model's tile size S (1, 2x1+1, 3x2+1 and 4x3+1
 * tiles under a limit of 12). */
#ifndef NV_CLI_BENCH_IMAGES_H
#define NV_CLI_BENCH_IMAGES_H

#include "core/error.h"
#include "vision/image.h"

typedef struct bench_image {
    char name[256];  /* shown in the table */
    char path[4096]; /* file, or "" for a synthetic image */
    int width, height; /* synthetic image size */
    char *truth;     /* --labels: the .md text, owned */
} bench_image;

/* labels may be NULL. A missing label is an error naming the file, unless
 * skip_cmd is given: then an image without its label is left out with a
 * line on stderr ("nvlm SKIP_CMD: skipping ...") and only no labelled
 * image at all is an error. A label that is there but unreadable or holds
 * no table is an error either way. */
int bench_images_from_dir(const char *dir, const char *labels,
                          const char *skip_cmd, bench_image **out,
                          int *n_out, nv_error *err);
/* "WxH,WxH,..." (at most 16, each side 1..20000). */
int bench_images_from_sizes(const char *text, bench_image **out, int *n_out,
                            nv_error *err);
/* The default sizes for the model in model_dir (its force_image_size). */
int bench_images_default(const char *model_dir, bench_image **out, int *n,
                         nv_error *err);
void bench_images_free(bench_image *images, int n);

/* A deterministic w x h picture with detail at every scale (so resizing
 * has work to do): a colour ramp crossed by thin lines. */
int bench_synthetic_image(int w, int h, nv_image *img, nv_error *err);

#endif
