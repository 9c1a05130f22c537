/* cmd_info.c - `nvlm info`: what the preprocessing makes of an image.
 *
 *   nvlm info --image IMG [--tile-size N] [--max-tiles N] [--max-pixels N]
 *             [--json]
 *
 * Decodes the image (so a bad file is reported here too), chooses the
 * InternVL / NVLM-D tile grid and prints the image size, the grid and the
 * number of tiles including the thumbnail. No model is needed: the tile
 * size and tile cap default to 448 and 6. Options are matched one by one
 * in parse_args, so a new one (say `-m DIR`) is one more branch there.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "vision/image.h"
#include "vision/tiling.h"

struct info_args {
    const char *image;
    int64_t tile_size;
    int64_t max_tiles;
    int64_t max_pixels;
    int json;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nvlm info --image IMG [--tile-size N] [--max-tiles N]\n"
            "                 [--max-pixels N] [--json]\n"
            "\n"
            "Decodes IMG (PNG, JPEG, BMP, GIF, TGA, PNM) and prints its size,\n"
            "the tile grid the InternVL/NVLM-D dynamic tiling picks for it\n"
            "and the number of tiles, thumbnail included.\n"
            "\n"
            "  --image IMG       the image file\n"
            "  --tile-size N     tile side in pixels (default 448)\n"
            "  --max-tiles N     most tiles in the grid, thumbnail not counted\n"
            "                    (default 6)\n"
            "  --max-pixels N    refuse images with more pixels (default "
            "%" PRId64 ")\n"
            "  --json            print {\"width\", \"height\", \"cols\", "
            "\"rows\",\n"
            "                    \"num_tiles\"} as one JSON object\n"
            "  -h, --help        this text\n",
            (int64_t)NV_IMAGE_DEFAULT_MAX_PIXELS);
}

/* Returns 0 to go on, or the exit status to stop with (help: 0 via *done). */
static int parse_args(int argc, char **argv, struct info_args *args,
                      int *done)
{
    *done = 0;
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        int m;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            *done = 1;
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            args->json = 1;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--image", NULL, &value))) {
            if (m < 0)
                return 2;
            args->image = value;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--tile-size", NULL, &value))) {
            if (m < 0 || nv_arg_int("info", "--tile-size", value, 1,
                                     NV_TILE_SIZE_MAX, &args->tile_size))
                return 2;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--max-tiles", NULL, &value))) {
            if (m < 0 || nv_arg_int("info", "--max-tiles", value, 1,
                                     NV_MAX_TILES_LIMIT, &args->max_tiles))
                return 2;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--max-pixels", NULL, &value))) {
            if (m < 0 || nv_arg_int("info", "--max-pixels", value, 1,
                                     (int64_t)1 << 48, &args->max_pixels))
                return 2;
        } else {
            fprintf(stderr, "nvlm info: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!args->image) {
        fprintf(stderr, "nvlm info: --image IMG is required\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

static int print_json(const nv_image *img, const nv_tile_grid *grid)
{
    cJSON *obj = cJSON_CreateObject();
    if (!obj || !cJSON_AddNumberToObject(obj, "width", img->width) ||
        !cJSON_AddNumberToObject(obj, "height", img->height) ||
        !cJSON_AddNumberToObject(obj, "cols", grid->cols) ||
        !cJSON_AddNumberToObject(obj, "rows", grid->rows) ||
        !cJSON_AddNumberToObject(obj, "num_tiles", grid->num_tiles)) {
        cJSON_Delete(obj);
        fprintf(stderr, "nvlm info: out of memory\n");
        return 1;
    }
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!text) {
        fprintf(stderr, "nvlm info: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int nv_cmd_info(int argc, char **argv)
{
    struct info_args args = {.tile_size = 448, .max_tiles = 6};
    int done;
    int status = parse_args(argc, argv, &args, &done);
    if (status != 0 || done)
        return status;

    nv_error err = {{0}};
    nv_image img;
    if (nv_image_load(args.image, args.max_pixels, &img, &err) != 0) {
        fprintf(stderr, "nvlm info: %s\n", err.msg);
        return 1;
    }
    nv_tiling_opts opts = nv_tiling_opts_default();
    opts.tile_size = (int)args.tile_size;
    opts.max_tiles = (int)args.max_tiles;
    nv_tile_grid grid;
    if (nv_tile_grid_choose(img.width, img.height, &opts, &grid, &err) != 0) {
        fprintf(stderr, "nvlm info: %s\n", err.msg);
        nv_image_free(&img);
        return 1;
    }
    if (args.json) {
        status = print_json(&img, &grid);
    } else {
        printf("image:     %s\n", args.image);
        printf("size:      %d x %d\n", img.width, img.height);
        printf("tile size: %d (at most %d tiles)\n", opts.tile_size,
               opts.max_tiles);
        printf("grid:      %d cols x %d rows\n", grid.cols, grid.rows);
        if (grid.thumbnail)
            printf("tiles:     %d (%d + thumbnail)\n", grid.num_tiles,
                   grid.blocks);
        else
            printf("tiles:     %d\n", grid.num_tiles);
    }
    nv_image_free(&img);
    return status;
}
