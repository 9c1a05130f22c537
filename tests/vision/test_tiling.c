/* test_tiling.c - grid choice vs the upstream dynamic_preprocess.
 *
 * $NV_GOLDEN_DIR/hf/tiling_cases.json holds what OpenGVLab's unmodified
 * dynamic_preprocess picked for 41 image sizes with image_size 448 and
 * max_num 6 and 12 (ties included). All 82 must match exactly: grid,
 * tile count, thumbnail and resized size. Also checks the tile cutting
 * order (row-major, thumbnail last) on a synthetic image. */
#include <string.h>

#include "core/json.h"
#include "tests/check.h"
#include "vision/resize.h"
#include "vision/tiling.h"

static int get_int(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItem(obj, key);
    if (cJSON_IsBool(item))
        return cJSON_IsTrue(item);
    return item && cJSON_IsNumber(item) ? item->valueint : -1;
}

static int check_cases(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/hf/tiling_cases.json", check_golden_dir());
    nv_error err = {{0}};
    cJSON *root = nv_json_load(path, 0, &err);
    if (!CHECK(root != NULL)) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    const cJSON *params = cJSON_GetObjectItem(root, "params");
    int image_size = get_int(params, "image_size");
    int min_num = get_int(params, "min_num");
    int use_thumbnail = get_int(params, "use_thumbnail");
    const cJSON *max_nums = cJSON_GetObjectItem(params, "max_num");
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    int compared = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases)
    {
        int w = get_int(c, "w"), h = get_int(c, "h");
        const cJSON *m;
        cJSON_ArrayForEach(m, max_nums)
        {
            char key[32];
            snprintf(key, sizeof key, "max_num_%d", m->valueint);
            const cJSON *want = cJSON_GetObjectItem(c, key);
            if (!CHECK(want != NULL))
                continue;
            nv_tiling_opts opts = {.tile_size = image_size,
                                   .min_tiles = min_num,
                                   .max_tiles = m->valueint,
                                   .use_thumbnail = use_thumbnail};
            nv_tile_grid g;
            if (!CHECK(nv_tile_grid_choose(w, h, &opts, &g, &err) == 0))
                continue;
            const cJSON *wh = cJSON_GetObjectItem(want, "resized_wh");
            int ok = g.cols == get_int(want, "cols") &&
                     g.rows == get_int(want, "rows") &&
                     g.blocks == get_int(want, "blocks") &&
                     g.num_tiles == get_int(want, "num_tiles") &&
                     g.thumbnail == get_int(want, "thumbnail") &&
                     g.resized_width ==
                         cJSON_GetArrayItem(wh, 0)->valueint &&
                     g.resized_height == cJSON_GetArrayItem(wh, 1)->valueint;
            if (!CHECK(ok))
                fprintf(stderr, "  %dx%d max %d: got %dx%d (%d tiles), want "
                                "%dx%d (%d tiles)\n",
                        w, h, m->valueint, g.cols, g.rows, g.num_tiles,
                        get_int(want, "cols"), get_int(want, "rows"),
                        get_int(want, "num_tiles"));
            compared++;
        }
    }
    printf("  %d tiling cases compared\n", compared);
    cJSON_Delete(root);
    return compared;
}

/* Each tile must be the matching block of the resized image. */
static void check_cutting(void)
{
    nv_error err = {{0}};
    nv_image img, resized, thumb;
    CHECK(nv_image_alloc(&img, 50, 21, &err) == 0);
    for (int i = 0; i < 50 * 21 * 3; i++)
        img.rgb[i] = (uint8_t)(i * 7 + i / 150);
    nv_tiling_opts opts = {.tile_size = 8, .min_tiles = 1, .max_tiles = 6,
                           .use_thumbnail = 1};
    nv_tile_grid g;
    CHECK(nv_tile_grid_choose(50, 21, &opts, &g, &err) == 0);
    CHECK(g.cols == 2 && g.rows == 1 && g.num_tiles == 3);
    nv_tiles tiles;
    CHECK(nv_tiles_make(&img, &g, 8, &tiles, &err) == 0);
    CHECK(nv_image_resize_bicubic(&img, 16, 8, &resized, &err) == 0);
    CHECK(nv_image_resize_bicubic(&img, 8, 8, &thumb, &err) == 0);
    int same = tiles.count == 3;
    for (int t = 0; t < 2 && same; t++)
        for (int y = 0; y < 8; y++)
            same &= !memcmp(tiles.rgb + (size_t)t * 192 + y * 24,
                            resized.rgb + (y * 16 + t * 8) * 3, 24);
    CHECK(same);
    CHECK(!memcmp(tiles.rgb + 2 * 192, thumb.rgb, 192));
    nv_tiles_free(&tiles);
    nv_image_free(&resized);
    nv_image_free(&thumb);

    /* No thumbnail for a single block, and none when switched off. */
    CHECK(nv_tile_grid_choose(8, 8, &opts, &g, &err) == 0);
    CHECK(g.blocks == 1 && g.num_tiles == 1 && !g.thumbnail);
    opts.use_thumbnail = 0;
    CHECK(nv_tile_grid_choose(50, 21, &opts, &g, &err) == 0);
    CHECK(g.num_tiles == 2 && !g.thumbnail);

    /* Bad options. */
    opts.tile_size = 0;
    CHECK(nv_tile_grid_choose(50, 21, &opts, &g, &err) == -1);
    opts.tile_size = 8;
    opts.max_tiles = 0;
    CHECK(nv_tile_grid_choose(50, 21, &opts, &g, &err) == -1);
    opts.max_tiles = 6;
    CHECK(nv_tile_grid_choose(0, 21, &opts, &g, &err) == -1);
    nv_image_free(&img);
}

/* nv_tile_grid_choose visits grids of one tile count in its own order
 * (upstream: Python set order). That is safe only if two grids of the same
 * count are never both the closest: i.e. no two neighbouring ratio values
 * share a tile count. Checked exactly (integer cross products) for every
 * cap up to NV_MAX_TILES_LIMIT. */
struct grid_ratio {
    int cols, rows;
};

static int compare_ratio(const void *pa, const void *pb)
{
    const struct grid_ratio *a = pa, *b = pb;
    long lhs = (long)a->cols * b->rows, rhs = (long)b->cols * a->rows;
    return (lhs > rhs) - (lhs < rhs);
}

static void check_same_count_never_tie(void)
{
    static struct grid_ratio grids[4096];
    int bad = 0;
    for (int max = 1; max <= NV_MAX_TILES_LIMIT; max++) {
        int n = 0;
        for (int count = 1; count <= max; count++)
            for (int cols = 1; cols <= count; cols++)
                if (count % cols == 0 && n < 4096)
                    grids[n++] = (struct grid_ratio){cols, count / cols};
        qsort(grids, (size_t)n, sizeof grids[0], compare_ratio);
        /* Groups of equal ratio; compare each group with the next. */
        int start = 0;
        while (start < n) {
            int end = start;
            while (end < n && compare_ratio(&grids[start], &grids[end]) == 0)
                end++;
            int next_end = end;
            while (next_end < n &&
                   compare_ratio(&grids[end], &grids[next_end]) == 0)
                next_end++;
            for (int i = start; i < end; i++)
                for (int j = end; j < next_end; j++)
                    bad += grids[i].cols * grids[i].rows ==
                           grids[j].cols * grids[j].rows;
            start = end;
        }
    }
    CHECK(bad == 0);
}

int main(void)
{
    CHECK(check_cases() == 82);
    check_same_count_never_tie();
    check_cutting();
    return check_summary("test_tiling");
}
