/* test_describe.c - nvlm_describe_json (what `nvlm info -m` prints) gives,
 * for images of 1, 2x1 and 3x2 tiles, the prompt lengths and
 * cross-attention token counts the PyTorch reference recorded for the
 * same prompts (tests/fixtures/tiny_nvlm/cases.json: num_prompt_ids,
 * memory_rows), per fusion head; and the parameter counts add up to the
 * tensors in the file. The images are written by the test with libpng. */
#include <cjson/cJSON.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/json.h"
#include "nvlm.h"

static int write_png(const char *path, int w, int h)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    unsigned char *row = malloc((size_t)w * 3);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w * 3; x++)
            row[x] = (unsigned char)((x * 7 + y * 13) & 255);
        png_write_row(png, row);
    }
    free(row);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return 0;
}

int main(void)
{
    const char *fx = getenv("NV_FIXTURE_DIR");
    if (!fx) {
        fprintf(stderr, "NV_FIXTURE_DIR is not set\n");
        return 1;
    }
    char dir[1024], cases_path[1100], err[1024];
    snprintf(dir, sizeof dir, "%s/tiny_nvlm", fx);
    snprintf(cases_path, sizeof cases_path, "%s/cases.json", dir);
    nv_error e = {{0}};
    cJSON *cases = nv_json_load(cases_path, 0, &e);
    if (!CHECK(cases != NULL))
        return check_summary("describe");
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.threads = 1;
    nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
    if (!CHECK(m != NULL)) {
        fprintf(stderr, "%s\n", err);
        cJSON_Delete(cases);
        return check_summary("describe");
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cases, "cases")) {
        int cols = cJSON_GetObjectItem(c, "grid_cols")->valueint;
        int rows = cJSON_GetObjectItem(c, "grid_rows")->valueint;
        const char *head = cJSON_GetObjectItem(c, "head")->valuestring;
        char png[64];
        snprintf(png, sizeof png, "/tmp/nvlm_describe_%d.png", (int)getpid());
        /* The fixture's tiles are 28 px: a cols x rows grid is an image of
         * exactly that aspect ratio. */
        if (!CHECK(write_png(png, 28 * cols, 28 * rows) == 0))
            continue;
        char *text = nvlm_describe_json(m, png, "Describe the tiles.", err,
                                        sizeof err);
        unlink(png);
        if (!CHECK(text != NULL)) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        cJSON *d = cJSON_Parse(text);
        free(text);
        const cJSON *img = cJSON_GetObjectItem(d, "image");
        const cJSON *per = cJSON_GetObjectItem(
            cJSON_GetObjectItem(img, "per_fusion"), head);
        int tiles = cJSON_GetObjectItem(c, "tiles")->valueint;
        CHECK(cJSON_GetObjectItem(img, "num_tiles")->valueint == tiles);
        int prompt = cJSON_GetObjectItem(per, "prompt_tokens")->valueint;
        int keys = cJSON_GetObjectItem(per, "xattn_tokens")->valueint;
        int stream =
            cJSON_GetObjectItem(per, "image_tokens_in_stream")->valueint;
        int want_prompt = cJSON_GetObjectItem(c, "num_prompt_ids")->valueint;
        int want_keys = cJSON_GetObjectItem(c, "memory_rows")->valueint;
        int T = cJSON_GetObjectItem(cases, "tokens_per_tile")->valueint;
        int want_stream = !strcmp(head, "d") ? tiles * T
                          : !strcmp(head, "h") ? T : 0;
        if (!CHECK(prompt == want_prompt && keys == want_keys &&
                   stream == want_stream))
            fprintf(stderr, "%s/%d: prompt %d keys %d stream %d, want %d %d "
                    "%d\n", head, tiles, prompt, keys, stream, want_prompt,
                    want_keys, want_stream);
        /* Parameters: the parts add up to the total. */
        double sum = 0, total = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(d, "parameters")) {
            if (!strcmp(p->string, "total"))
                total = p->valuedouble;
            else
                sum += p->valuedouble;
        }
        CHECK(total > 0 && sum == total);
        cJSON_Delete(d);
    }
    nvlm_free(m);
    cJSON_Delete(cases);
    return check_summary("describe");
}
