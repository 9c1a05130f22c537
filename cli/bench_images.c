/* bench_images.c - the images `nvlm bench` runs on; see bench_images.h. */
#include "cli/bench_images.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/files.h"
#include "core/json.h"
#include "fusion/table_metrics.h"

#define BENCH_MAX_SIZES 16
#define LABEL_LIMIT ((size_t)64 << 20)

static int is_image_name(const char *name)
{
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".bmp",
                                       ".gif", ".ppm", ".pgm", ".pnm",
                                       ".tga"};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i]))
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A label without a table would score every empty answer as perfect. */
static int has_table(const char *text, const char *path, nv_error *err)
{
    nv_table t;
    if (nv_table_parse_markdown(text, strlen(text), &t, err))
        return nv_fail_prefix(err, "%s: ", path);
    int rows = t.n_rows;
    nv_table_free(&t);
    return rows > 0 ? 0 : nv_fail(err, "%s: no Markdown table in the label",
                                  path);
}

int bench_images_from_dir(const char *dir, const char *labels,
                          const char *skip_cmd, bench_image **out,
                          int *n_out, nv_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return nv_fail(err, "%s: cannot open the image directory", dir);
    char **names = NULL;
    int n = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && !rc) {
        if (e->d_name[0] == '.' || !is_image_name(e->d_name))
            continue;
        char **nn = realloc(names, sizeof *names * (size_t)(n + 1));
        char *copy = nn ? strdup(e->d_name) : NULL;
        if (nn)
            names = nn;
        if (!copy)
            rc = nv_fail(err, "out of memory");
        else
            names[n++] = copy;
    }
    closedir(d);
    if (!rc && n == 0)
        rc = nv_fail(err, "%s: no images (png, jpg, bmp, gif, pnm, tga)",
                     dir);
    if (!rc)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    bench_image *imgs = rc ? NULL : calloc((size_t)n, sizeof *imgs);
    if (!rc && !imgs)
        rc = nv_fail(err, "out of memory");
    int kept = 0; /* images filled in imgs[0..kept) */
    for (int i = 0; i < n && !rc; i++) {
        bench_image *img = &imgs[kept];
        snprintf(img->name, sizeof img->name, "%s", names[i]);
        snprintf(img->path, sizeof img->path, "%s/%s", dir, names[i]);
        if (labels) {
            char md[4400];
            const char *dot = strrchr(names[i], '.');
            snprintf(md, sizeof md, "%s/%.*s.md", labels,
                     (int)(dot - names[i]), names[i]);
            struct stat sb;
            if (skip_cmd && stat(md, &sb) != 0 && errno == ENOENT) {
                fprintf(stderr, "nvlm %s: skipping %s: no %s beside it\n",
                        skip_cmd, img->path, md);
                memset(img, 0, sizeof *img);
                continue;
            }
            img->truth = nv_cli_read_file(md, LABEL_LIMIT, NULL, err);
            rc = img->truth ? has_table(img->truth, md, err) : -1;
        }
        kept++;
    }
    if (!rc && kept == 0)
        rc = nv_fail(err, "%s: no image has its Markdown truth (IMAGE.md "
                     "beside IMAGE.png)", dir);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc && imgs) {
        for (int i = 0; i < n; i++)
            free(imgs[i].truth);
        free(imgs);
        imgs = NULL;
    }
    *out = imgs;
    *n_out = rc ? 0 : kept;
    return rc;
}

int bench_images_from_sizes(const char *text, bench_image **out, int *n_out,
                       nv_error *err)
{
    bench_image *imgs = calloc(BENCH_MAX_SIZES, sizeof *imgs);
    if (!imgs)
        return nv_fail(err, "out of memory");
    int n = 0;
    const char *p = text;
    while (*p) {
        int w = 0, h = 0, used = 0;
        if (n == BENCH_MAX_SIZES ||
            sscanf(p, "%9dx%9d%n", &w, &h, &used) != 2 || w < 1 || h < 1 ||
            w > 20000 || h > 20000 || (p[used] != ',' && p[used] != '\0')) {
            free(imgs);
            return nv_fail(err, "--sizes: '%s' is not a list of at most %d "
                           "WxH sizes (1..20000)", text, BENCH_MAX_SIZES);
        }
        imgs[n].width = w;
        imgs[n].height = h;
        snprintf(imgs[n].name, sizeof imgs[n].name, "%dx%d", w, h);
        n++;
        p += used + (p[used] == ',');
    }
    *out = imgs;
    *n_out = n;
    return 0;
}

/* A deterministic picture with detail at every scale (so resizing has
 * work to do): a colour ramp crossed by thin lines. */
int bench_synthetic_image(int w, int h, nv_image *img, nv_error *err)
{
    if (nv_image_alloc(img, w, h, err))
        return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *px = img->rgb + ((size_t)y * w + x) * 3;
            int line = (x % 37 == 0) || (y % 23 == 0);
            px[0] = line ? 0 : (uint8_t)(255 * x / (w > 1 ? w - 1 : 1));
            px[1] = line ? 0 : (uint8_t)(255 * y / (h > 1 ? h - 1 : 1));
            px[2] = line ? 0 : (uint8_t)((x + y) & 255);
        }
    return 0;
}

/* Default sizes: S x S, 2S x S, 3S x 2S, 4S x 3S for tile size S, which
 * give 1, 2x1+1, 3x2+1 and 4x3+1 tiles under a limit of 12. */
int bench_images_default(const char *model_dir, bench_image **out, int *n,
                         nv_error *err)
{
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", model_dir);
    cJSON *root = nv_json_load(cfg, 0, err);
    if (!root)
        return -1;
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(root,
                                                         "force_image_size");
    int S = cJSON_IsNumber(size) ? size->valueint : 448;
    cJSON_Delete(root);
    if (S < 1 || S > 4096)
        return nv_fail(err, "%s: force_image_size %d", cfg, S);
    char text[128];
    snprintf(text, sizeof text, "%dx%d,%dx%d,%dx%d,%dx%d", S, S, 2 * S, S,
             3 * S, 2 * S, 4 * S, 3 * S);
    return bench_images_from_sizes(text, out, n, err);
}

void bench_images_free(bench_image *images, int n)
{
    for (int i = 0; images && i < n; i++)
        free(images[i].truth);
    free(images);
}
