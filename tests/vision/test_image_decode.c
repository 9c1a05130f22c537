/* test_image_decode.c - decoding vs Pillow's convert("RGB") and refusal of
 * bad input.
 *
 * The fixtures (tests/fixtures/images, made by tools/make_image_fixtures.py)
 * hold images of every PNG color type / bit depth / interlacing, JPEG, BMP,
 * GIF, TGA and PNM, each with Pillow's RGB result. Every format must
 * match within the manifest's tolerance, now 0 for JPEG too (both decode
 * with libjpeg-turbo's defaults). Bad files must be
 * refused with a message naming the file; every truncation of a good file
 * must be refused (stb_image alone would pad it with zeros) and byte flips
 * must be handled without a crash or leak (run under ASan in CI). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "tests/check.h"
#include "tests/file_util.h"
#include "vision/image.h"
#include "vision/image_decoders.h"

static char fixture_dir[4096];

static const char *fixture(const char *name)
{
    static char path[8192];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    return path;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static void check_decode_entry(const cJSON *entry)
{
    const char *file = cJSON_GetObjectItem(entry, "file")->valuestring;
    const char *expected = cJSON_GetObjectItem(entry, "expected")->valuestring;
    int width = cJSON_GetObjectItem(entry, "width")->valueint;
    int height = cJSON_GetObjectItem(entry, "height")->valueint;
    int tolerance = cJSON_GetObjectItem(entry, "tolerance")->valueint;

    nv_image img;
    nv_error err = {{0}};
    if (!CHECK(nv_image_load(fixture(file), 0, &img, &err) == 0)) {
        fprintf(stderr, "  %s: %s\n", file, err.msg);
        return;
    }
    size_t want_len = 0;
    uint8_t *want = (uint8_t *)test_read_file(fixture(expected), &want_len);
    CHECK(want != NULL);
    CHECK(img.width == width && img.height == height);
    if (want && img.width == width && img.height == height &&
        CHECK(want_len == (size_t)width * height * 3)) {
        int max_diff = 0;
        double sum = 0;
        for (size_t i = 0; i < want_len; i++) {
            int d = abs((int)img.rgb[i] - (int)want[i]);
            sum += d;
            if (d > max_diff)
                max_diff = d;
        }
        printf("  %-26s %3dx%-3d max diff %d (tolerance %d), mean %.3f\n",
               file, width, height, max_diff, tolerance, sum / want_len);
        if (!CHECK(max_diff <= tolerance))
            fprintf(stderr, "  %s: max diff %d > %d\n", file, max_diff,
                    tolerance);
    }
    free(want);
    nv_image_free(&img);
}

static void check_bad_entry(const cJSON *entry)
{
    const char *file = cJSON_GetObjectItem(entry, "file")->valuestring;
    nv_image img;
    nv_error err = {{0}};
    int rc = nv_image_load(fixture(file), 0, &img, &err);
    printf("  %-16s -> %s\n", file, err.msg);
    CHECK(rc == -1);
    CHECK(img.rgb == NULL && img.width == 0);
    CHECK(strstr(err.msg, file) != NULL);
    if (strstr(file, "huge"))
        CHECK(strstr(err.msg, "above the limit") != NULL);
    if (strstr(file, "truncated"))
        CHECK(strstr(err.msg, "truncated") != NULL);
    nv_image_free(&img);
}

/* Bytes at the end of a fixture that a reader may do without: PNG's IEND
 * chunk, GIF's trailer byte, TGA's 26-byte footer (Pillow ignores them
 * too). Any shorter prefix lacks image data and must be refused. */
static size_t optional_tail(const char *file)
{
    if (ends_with(file, ".png"))
        return 12;
    if (ends_with(file, ".gif"))
        return 1;
    if (ends_with(file, ".tga"))
        return 26;
    return 0;
}

/* Every prefix and some byte flips of a good file: never a crash, never a
 * silently zero-padded image. */
static void check_damaged_copies(const char *file)
{
    size_t len = 0;
    uint8_t *data = (uint8_t *)test_read_file(fixture(file), &len);
    if (!CHECK(data != NULL))
        return;
    size_t must_fail_below = len - optional_tail(file);
    int prefix_failures = 0;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, data, cut);
        nv_image img;
        nv_error err = {{0}};
        int rc = nv_image_decode(copy, cut, file, 0, &img, &err);
        if (rc == 0) {
            if (cut < must_fail_below)
                prefix_failures++;
            nv_image_free(&img);
        } else if (!err.msg[0]) {
            prefix_failures++;
        }
        free(copy);
    }
    if (!CHECK(prefix_failures == 0))
        fprintf(stderr, "  %s: %d truncated copies accepted\n", file,
                prefix_failures);

    uint32_t state = 12345;
    for (int trial = 0; trial < 300; trial++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, data, len);
        for (int flips = 0; flips < 1 + trial % 4; flips++) {
            state = state * 1103515245u + 12345u;
            copy[(state >> 8) % len] ^= (uint8_t)(1u << (state >> 28 & 7));
        }
        nv_image img;
        nv_error err = {{0}};
        if (nv_image_decode(copy, len, file, 0, &img, &err) == 0) {
            CHECK(img.width > 0 && img.height > 0 && img.rgb);
            nv_image_free(&img);
        } else {
            CHECK(err.msg[0] != '\0');
        }
        free(copy);
    }
    free(data);
}

static void check_pixel_limit(void)
{
    /* rgb8.png is 13x9 = 117 pixels. */
    nv_image img;
    nv_error err = {{0}};
    CHECK(nv_image_load(fixture("rgb8.png"), 116, &img, &err) == -1);
    CHECK(strstr(err.msg, "above the limit of 116 pixels") != NULL);
    CHECK(nv_image_load(fixture("rgb8.png"), 117, &img, &err) == 0);
    nv_image_free(&img);
    CHECK(nv_image_load(fixture("photo420.jpg"), 100, &img, &err) == -1);
    CHECK(strstr(err.msg, "above the limit") != NULL);

    CHECK(nv_image_load(fixture("no_such_file.png"), 0, &img, &err) == -1);
    CHECK(strstr(err.msg, "cannot open") != NULL);
    CHECK(nv_image_load(fixture_dir, 0, &img, &err) == -1);
    CHECK(strstr(err.msg, "not a regular file") != NULL);
}

/* Issue 17: an image path that is a FIFO blocked open() forever; a PNM
 * width of 100 digits was reported as "empty image (-1x1)". */
static void check_hostile_files(void)
{
    char dir[] = "/tmp/nv_image_hostile_XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL))
        return;
    char path[256];
    nv_image img;
    nv_error err = {{0}};
    snprintf(path, sizeof path, "%s/image.png", dir);
    CHECK(mkfifo(path, 0600) == 0);
    CHECK(nv_image_load(path, 0, &img, &err) == -1);
    CHECK(strstr(err.msg, path) && strstr(err.msg, "not a regular file"));
    unlink(path);

    char digits[101], pnm[256];
    memset(digits, '9', 100);
    digits[100] = '\0';
    snprintf(pnm, sizeof pnm, "P6\n%s 1\n255\n", digits);
    const char *cases[][2] = {
        {pnm, "PNM: width is out of range (at most 2147483647)"},
        {"P6\n1 99999999999\n255\n", "PNM: height is out of range"},
        {"P5\n2147483648 1\n255\n", "PNM: width is out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *b = cases[i][0];
        CHECK(nv_image_decode((const uint8_t *)b, strlen(b), "x.ppm", 0, &img,
                              &err) == -1);
        if (!CHECK(strstr(err.msg, "x.ppm") &&
                   strstr(err.msg, cases[i][1])))
            fprintf(stderr, "  want '%s', got '%s'\n", cases[i][1], err.msg);
    }
    /* the generic size check: negative sides are out of range */
    CHECK(nv_image_check_size(-1, 1, 100, "y.img", &err) == -1 &&
          strstr(err.msg, "y.img: image dimensions -1x1 are out of range"));
    rmdir(dir);
}

int main(void)
{
    const char *base = getenv("NV_FIXTURE_DIR");
    if (!base) {
        fprintf(stderr, "NV_FIXTURE_DIR is not set\n");
        return 1;
    }
    snprintf(fixture_dir, sizeof fixture_dir, "%s/images", base);
    nv_error err = {{0}};
    cJSON *manifest = nv_json_load(fixture("manifest.json"), 0, &err);
    if (!manifest) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const cJSON *decode = cJSON_GetObjectItem(manifest, "decode");
    const cJSON *bad = cJSON_GetObjectItem(manifest, "bad");
    CHECK(cJSON_GetArraySize(decode) >= 30);
    CHECK(cJSON_GetArraySize(bad) >= 10);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, decode) check_decode_entry(entry);
    cJSON_ArrayForEach(entry, bad) check_bad_entry(entry);
    cJSON_ArrayForEach(entry, decode)
    {
        const char *file = cJSON_GetObjectItem(entry, "file")->valuestring;
        check_damaged_copies(file);
    }
    check_pixel_limit();
    check_hostile_files();
    cJSON_Delete(manifest);
    return check_summary("test_image_decode");
}
