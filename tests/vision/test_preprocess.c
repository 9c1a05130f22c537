/* test_preprocess.c - the whole image -> tensor path vs the upstream
 * InternVL / NVLM-D preprocessing.
 *
 * For the golden cases internvl_single (56 px, 1 tile), internvl_tiles
 * (112 px, max 6 -> 3x2 + thumbnail) and internvl_tiles_wide (2x1 +
 * thumbnail), hf/<image> is decoded, tiled and normalised with the
 * meta.json's image_size / max_num and compared with in_pixel_values.npy,
 * which upstream computed with Pillow + torchvision. Tolerance: 0 (bit-exact:
 * decoding and resizing match Pillow exactly and the two f32 steps are
 * rounded as torchvision rounds them). The grid must equal meta.json's
 * tile_grid. */
#include <string.h>

#include "core/json.h"
#include "tests/check.h"
#include "tests/vision/npy.h"
#include "vision/image.h"
#include "vision/preprocess.h"

#define TOLERANCE 0.0

static void check_case(const char *name)
{
    const char *golden = check_golden_dir();
    char path[4096];
    nv_error err = {{0}};
    snprintf(path, sizeof path, "%s/hf/%s/meta.json", golden, name);
    cJSON *meta = nv_json_load(path, 0, &err);
    if (!CHECK(meta != NULL)) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const char *image_name = cJSON_GetObjectItem(meta, "image")->valuestring;
    int image_size = cJSON_GetObjectItem(meta, "image_size")->valueint;
    int max_num = cJSON_GetObjectItem(meta, "max_num")->valueint;
    const cJSON *want_grid = cJSON_GetObjectItem(meta, "tile_grid");

    nv_image img;
    snprintf(path, sizeof path, "%s/hf/%s", golden, image_name);
    if (!CHECK(nv_image_load(path, 0, &img, &err) == 0)) {
        fprintf(stderr, "%s\n", err.msg);
        cJSON_Delete(meta);
        return;
    }
    nv_preprocess_opts opts = nv_preprocess_opts_default();
    opts.tiling.tile_size = image_size;
    opts.tiling.max_tiles = max_num;
    nv_tile_grid grid;
    nv_tensor pixels;
    if (!CHECK(nv_preprocess_image(&img, &opts, &grid, &pixels, &err) == 0)) {
        fprintf(stderr, "%s\n", err.msg);
        nv_image_free(&img);
        cJSON_Delete(meta);
        return;
    }
    CHECK(grid.cols == cJSON_GetObjectItem(want_grid, "cols")->valueint);
    CHECK(grid.rows == cJSON_GetObjectItem(want_grid, "rows")->valueint);
    CHECK(grid.num_tiles ==
          cJSON_GetObjectItem(want_grid, "num_tiles")->valueint);
    CHECK(grid.thumbnail ==
          cJSON_IsTrue(cJSON_GetObjectItem(want_grid, "thumbnail")));

    npy_array want;
    snprintf(path, sizeof path, "%s/hf/%s/in_pixel_values.npy", golden, name);
    if (CHECK(npy_load(path, &want) == 0)) {
        int shape_ok = CHECK(!strcmp(want.descr, "<f4")) &&
                       CHECK(want.ndim == 4 && pixels.ndim == 4);
        for (int d = 0; shape_ok && d < 4; d++)
            shape_ok = CHECK(want.shape[d] == pixels.shape[d]);
        if (shape_ok) {
            const float *got = nv_tensor_f32(&pixels);
            const float *ref = want.data;
            double max_abs = 0, max_steps = 0;
            int64_t plane = pixels.shape[2] * pixels.shape[3];
            for (int64_t i = 0; i < want.numel; i++) {
                double d = fabs((double)got[i] - ref[i]);
                int channel = (int)(i / plane % 3);
                double steps = d * opts.std[channel] * 255.0;
                if (d > max_abs || d != d)
                    max_abs = d != d ? INFINITY : d;
                if (steps > max_steps)
                    max_steps = steps;
            }
            printf("  %-20s %s %dx%d -> %d tiles of %d: max |diff| %.3g "
                   "(%.3g uint8 steps), tolerance %g\n",
                   name, image_name, img.width, img.height, grid.num_tiles,
                   image_size, max_abs, max_steps, TOLERANCE);
            CHECK(max_abs <= TOLERANCE);
        }
        npy_free(&want);
    }
    nv_tensor_free(&pixels);
    nv_image_free(&img);
    cJSON_Delete(meta);
}

static void check_bad_normalisation(void)
{
    nv_error err = {{0}};
    nv_tiles tiles = {.count = 1, .tile_size = 2, .rgb = (uint8_t[12]){0}};
    nv_tensor out;
    float mean[3] = {0.5f, 0.5f, 0.5f};
    float std[3] = {0.5f, 0.0f, 0.5f};
    CHECK(nv_tiles_normalize(&tiles, mean, std, &out, &err) == -1);
    CHECK(out.data == NULL);
    std[1] = 0.5f;
    CHECK(nv_tiles_normalize(&tiles, mean, std, &out, &err) == 0);
    CHECK(out.shape[0] == 1 && out.shape[1] == 3 && out.shape[3] == 2);
    CHECK(nv_tensor_f32(&out)[0] == -1.0f);
    nv_tensor_free(&out);
}

int main(void)
{
    check_case("internvl_single");
    check_case("internvl_tiles");
    check_case("internvl_tiles_wide");
    check_bad_normalisation();
    return check_summary("test_preprocess");
}
