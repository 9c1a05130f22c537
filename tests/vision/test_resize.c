/* test_resize.c - bicubic resizing vs Pillow 9.4's Image.resize(BICUBIC).
 *
 * The fixtures hold Pillow's resizes of one 37x23 RGB source to sizes
 * covering upscaling, strong downscaling, one axis only, 1x1 and the same
 * size (a copy). Tolerance: 0 uint8 steps (bit-exact). */
#include <string.h>

#include "core/json.h"
#include "tests/check.h"
#include "tests/file_util.h"
#include "vision/image.h"
#include "vision/resize.h"

int main(void)
{
    const char *base = getenv("NV_FIXTURE_DIR");
    if (!base) {
        fprintf(stderr, "NV_FIXTURE_DIR is not set\n");
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/images/manifest.json", base);
    nv_error err = {{0}};
    cJSON *manifest = nv_json_load(path, 0, &err);
    if (!manifest) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const cJSON *cases = cJSON_GetObjectItem(manifest, "resize");
    CHECK(cJSON_GetArraySize(cases) >= 8);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cases)
    {
        const char *source = cJSON_GetObjectItem(entry, "source")->valuestring;
        const char *expected =
            cJSON_GetObjectItem(entry, "expected")->valuestring;
        int width = cJSON_GetObjectItem(entry, "width")->valueint;
        int height = cJSON_GetObjectItem(entry, "height")->valueint;

        snprintf(path, sizeof path, "%s/images/%s", base, source);
        nv_image src, out;
        if (!CHECK(nv_image_load(path, 0, &src, &err) == 0)) {
            fprintf(stderr, "%s\n", err.msg);
            continue;
        }
        snprintf(path, sizeof path, "%s/images/%s", base, expected);
        size_t want_len = 0;
        uint8_t *want = (uint8_t *)test_read_file(path, &want_len);
        if (CHECK(want && want_len == (size_t)width * height * 3) &&
            CHECK(nv_image_resize_bicubic(&src, width, height, &out,
                                          &err) == 0)) {
            int max_diff = 0;
            long differing = 0;
            for (size_t i = 0; i < want_len; i++) {
                int d = abs((int)out.rgb[i] - (int)want[i]);
                differing += d != 0;
                if (d > max_diff)
                    max_diff = d;
            }
            printf("  %dx%d -> %dx%d: max diff %d, %ld of %zu bytes differ\n",
                   src.width, src.height, width, height, max_diff, differing,
                   want_len);
            CHECK(max_diff == 0);
            nv_image_free(&out);
        }
        free(want);
        nv_image_free(&src);
    }

    /* Bad arguments are refused. */
    nv_image src, out;
    CHECK(nv_image_alloc(&src, 4, 4, &err) == 0);
    memset(src.rgb, 7, 48);
    CHECK(nv_image_resize_bicubic(&src, 0, 4, &out, &err) == -1);
    CHECK(nv_image_resize_bicubic(&src, 4, -1, &out, &err) == -1);
    CHECK(out.rgb == NULL);
    /* A flat image stays flat at any size. */
    CHECK(nv_image_resize_bicubic(&src, 9, 3, &out, &err) == 0);
    int flat = 1;
    for (int i = 0; i < 9 * 3 * 3; i++)
        flat &= out.rgb[i] == 7;
    CHECK(flat);
    nv_image_free(&out);
    nv_image_free(&src);

    cJSON_Delete(manifest);
    return check_summary("test_resize");
}
