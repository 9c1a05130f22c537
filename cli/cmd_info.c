/* cmd_info.c - `nvlm info`: what the preprocessing makes of an image.
 *
 *   nvlm info --image IMG [--tile-size N] [--max-tiles N] [--max-pixels N]
 *             [--json]
 *
 * Decodes the image (so a bad file is reported here too), chooses the
 * InternVL / NVLM-D tile grid and prints the image size, the grid and the
 * number of tiles including the thumbnail. The tiling is the bundled
 * model's (tile size, tile cap, thumbnail), as every command's is without
 * -m; --tile-size and --max-tiles override it, and with both no model is
 * read.
 *
 *   nvlm info [-m DIR] [--image IMG] [-p TEXT] [--fusion d|x|h]
 *             [--max-tiles N] [--json]
 *
 * With a model (-m, or the bundled one when no --image is given): its
 * architecture, parameter counts per part and fusion heads, and for an
 * image the grid and, per fusion head, the image tokens in the decoder
 * stream, the cross-attention tokens and the decoder prompt length
 * (nvlm_describe_json).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_path.h"
#include "fusion/model.h"
#include "nvlm.h"
#include "vision/image.h"
#include "vision/tiling.h"

struct info_args {
    const char *model;
    const char *prompt;
    const char *image;
    char fusion[2];    /* --fusion, parsed; "" = the model's default */
    int64_t tile_size; /* 0 = the model's */
    int64_t max_tiles; /* 0 = the model's own limit */
    int64_t max_pixels;
    int json;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nvlm info --image IMG [--tile-size N] [--max-tiles N]\n"
            "                 [--max-pixels N] [--json]\n"
            "       nvlm info [-m DIR] [--image IMG] [-p TEXT] [--fusion d|x|h]\n"
            "                 [--max-tiles N] [--json]\n"
            "\n"
            "Decodes IMG (PNG, JPEG, BMP, GIF, TGA, PNM) and prints its size,\n"
            "the tile grid the InternVL/NVLM-D dynamic tiling picks for it\n"
            "and the number of tiles, thumbnail included, with the bundled\n"
            "model's tiling unless --tile-size and --max-tiles say otherwise.\n"
            "Without --image, or with -m, describes the model instead.\n"
            "\n"
            "  -m, --model DIR   describe this model (default: the bundled\n"
            "                    one): architecture, parameters per part,\n"
            "                    fusion heads; with --image, what the image\n"
            "                    costs under each head\n"
            "  -p, --prompt TEXT the question used for prompt lengths (-m)\n"
            "  --fusion d|x|h    the head to load (-m; default: the model's)\n"
            "  --image IMG       the image file\n"
            "  --tile-size N     tile side in pixels, without -m (default:\n"
            "                    the bundled model's)\n"
            "  --max-tiles N     most tiles in the grid, thumbnail not counted\n"
            "                    (default: the model's)\n"
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
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--model", "-m",
                                     &value))) {
            if (m < 0 || nv_arg_once("info", "-m", value, &args->model))
                return 2;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--prompt", "-p",
                                     &value))) {
            if (m < 0 || nv_arg_once("info", "-p", value, &args->prompt))
                return 2;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--fusion", NULL,
                                     &value))) {
            if (m < 0 || nv_arg_fusions("info", value, args->fusion,
                                        sizeof args->fusion))
                return 2;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--image", NULL,
                                     &value))) {
            if (m < 0 || nv_arg_once("info", "--image", value, &args->image))
                return 2;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--tile-size",
                                     NULL, &value))) {
            if (m < 0 || nv_arg_int("info", "--tile-size", value, 1,
                                     NV_TILE_SIZE_MAX, &args->tile_size))
                return 2;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--max-tiles",
                                     NULL, &value))) {
            if (m < 0 || nv_arg_int("info", "--max-tiles", value, 1,
                                     NV_MAX_TILES_LIMIT, &args->max_tiles))
                return 2;
        } else if ((m = nv_arg_value("info", argc, argv, &i, "--max-pixels",
                                     NULL, &value))) {
            if (m < 0 || nv_arg_int("info", "--max-pixels", value, 1,
                                     (int64_t)1 << 48, &args->max_pixels))
                return 2;
        } else {
            fprintf(stderr, "nvlm info: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    /* The two forms take different options; one that the chosen form would
     * ignore is refused rather than dropped. */
    int describe = args->model || !args->image;
    if (describe && args->tile_size) {
        fprintf(stderr, "nvlm info: --tile-size is for the tiling of an image "
                "without -m; a model fixes its own tile size\n");
        return 2;
    }
    if (!describe && (args->prompt || args->fusion[0])) {
        fprintf(stderr, "nvlm info: %s describes a model's prompt: give -m DIR "
                "with --image\n", args->prompt ? "-p" : "--fusion");
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

/* Text form of nvlm_describe_json's object. */
static void print_model_text(const cJSON *d)
{
    const cJSON *it;
    printf("model:        %s\n",
           cJSON_GetObjectItem(d, "model")->valuestring);
    printf("architecture: %s (%s)\n",
           cJSON_GetObjectItem(d, "architecture")->valuestring,
           cJSON_GetObjectItem(d, "family")->valuestring);
    const cJSON *card = cJSON_GetObjectItem(d, "warning");
    if (cJSON_IsString(card))
        printf("warning:      %s\n", card->valuestring);
    printf("paradigm:     %s\n",
           cJSON_GetObjectItem(d, "paradigm")->valuestring);
    const cJSON *w = cJSON_GetObjectItem(d, "weights");
    printf("weights:     ");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(w, "file_mib"))
        printf(" %s %.1f MiB,", it->string, it->valuedouble);
    const char *isa = cJSON_GetObjectItem(w, "lowp_kernels")->valuestring;
    printf(" matrices loaded as %s; f16/bf16 kernels: %s%s; f32: OpenBLAS "
           "%s\n", cJSON_GetObjectItem(w, "loaded_as")->valuestring, isa,
           strncmp(isa, "avx512", 6) ? " (fallback: AVX-512F absent or capped)"
                                     : "",
           cJSON_GetObjectItem(w, "blas_kernels")->valuestring);
    printf("fusion heads:");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(d, "fusion_heads"))
        printf(" %s", it->valuestring);
    printf(" (loaded: %s)\n",
           cJSON_GetObjectItem(d, "loaded_head")->valuestring);
    const cJSON *v = cJSON_GetObjectItem(d, "vision");
    if (v)
        printf("vision:       %s, %d layers run, width %d, %d heads, patch "
               "%d, tile %d px, %d tokens per tile, at most %d tiles\n",
               cJSON_GetObjectItem(v, "encoder")->valuestring,
               cJSON_GetObjectItem(v, "layers_run")->valueint,
               cJSON_GetObjectItem(v, "hidden")->valueint,
               cJSON_GetObjectItem(v, "heads")->valueint,
               cJSON_GetObjectItem(v, "patch")->valueint,
               cJSON_GetObjectItem(v, "tile_size")->valueint,
               cJSON_GetObjectItem(v, "tokens_per_tile")->valueint,
               cJSON_GetObjectItem(v, "max_tiles")->valueint);
    const cJSON *chars = v ? cJSON_GetObjectItem(v, "char_probs_per_patch")
                           : NULL;
    if (cJSON_IsNumber(chars))
        printf("              + %d character probabilities per patch into "
               "the projector\n", chars->valueint);
    const cJSON *l = cJSON_GetObjectItem(d, "llm");
    printf("language:     %d layers, width %d, %d heads (%d kv), vocabulary "
           "%d\n", cJSON_GetObjectItem(l, "layers")->valueint,
           cJSON_GetObjectItem(l, "hidden")->valueint,
           cJSON_GetObjectItem(l, "heads")->valueint,
           cJSON_GetObjectItem(l, "kv_heads")->valueint,
           cJSON_GetObjectItem(l, "vocab")->valueint);
    printf("parameters:\n");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(d, "parameters"))
        printf("  %-22s %12.0f\n", it->string, it->valuedouble);
    const cJSON *img = cJSON_GetObjectItem(d, "image");
    if (!img)
        return;
    printf("image:        %s, %d x %d\n",
           cJSON_GetObjectItem(img, "path")->valuestring,
           cJSON_GetObjectItem(img, "width")->valueint,
           cJSON_GetObjectItem(img, "height")->valueint);
    const cJSON *cols = cJSON_GetObjectItem(img, "cols");
    if (cols)
        printf("grid:         %d cols x %d rows, %d tiles\n", cols->valueint,
               cJSON_GetObjectItem(img, "rows")->valueint,
               cJSON_GetObjectItem(img, "num_tiles")->valueint);
    printf("%-8s %22s %14s %14s\n", "fusion", "image tokens in stream",
           "xattn tokens", "prompt tokens");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(img, "per_fusion"))
        printf("%-8s %22d %14d %14d\n", it->string,
               cJSON_GetObjectItem(it, "image_tokens_in_stream")->valueint,
               cJSON_GetObjectItem(it, "xattn_tokens")->valueint,
               cJSON_GetObjectItem(it, "prompt_tokens")->valueint);
}

static int info_model(const struct info_args *args)
{
    char dir[4096];
    if (nv_cli_model_dir("info", args->model, dir, sizeof dir))
        return 1;
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.max_tiles = (int)args->max_tiles;
    opt.max_pixels = args->max_pixels;
    opt.fusion = args->fusion[0] ? args->fusion : NULL;
    opt.threads = 1;
    char err[1024];
    nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
    if (!m) {
        fprintf(stderr, "nvlm info: %s\n", err);
        return 1;
    }
    char *text = nvlm_describe_json(m, args->image, args->prompt, err,
                                    sizeof err);
    nvlm_free(m);
    if (!text) {
        fprintf(stderr, "nvlm info: %s\n", err);
        return 1;
    }
    int status = 0;
    if (args->json) {
        printf("%s\n", text);
    } else {
        cJSON *d = cJSON_Parse(text);
        if (d) {
            print_model_text(d);
        } else {
            fprintf(stderr, "nvlm info: out of memory\n");
            status = 1;
        }
        cJSON_Delete(d);
    }
    free(text);
    return status;
}

/* The tiling of `info --image` without -m: the bundled model's, with
 * --tile-size / --max-tiles over it; both given: no model is read. */
static int image_tiling(const struct info_args *args, nv_tiling_opts *opts)
{
    *opts = nv_tiling_opts_default();
    if (!args->tile_size || !args->max_tiles) {
        char dir[4096], err[1024];
        if (nv_cli_model_dir("info", NULL, dir, sizeof dir))
            return -1;
        nvlm_options opt;
        nvlm_options_init(&opt);
        opt.threads = 1;
        nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
        if (!m) {
            fprintf(stderr, "nvlm info: %s\n", err);
            return -1;
        }
        *opts = m->prep.tiling;
        nvlm_free(m);
    }
    if (args->tile_size)
        opts->tile_size = (int)args->tile_size;
    if (args->max_tiles)
        opts->max_tiles = (int)args->max_tiles;
    return 0;
}

int nv_cmd_info(int argc, char **argv)
{
    struct info_args args = {0};
    int done;
    int status = parse_args(argc, argv, &args, &done);
    if (status != 0 || done)
        return status;
    if (args.model || !args.image)
        return info_model(&args);

    nv_error err = {{0}};
    nv_image img;
    if (nv_image_load(args.image, args.max_pixels, &img, &err) != 0) {
        fprintf(stderr, "nvlm info: %s\n", err.msg);
        return 1;
    }
    nv_tiling_opts opts;
    if (image_tiling(&args, &opts)) {
        nv_image_free(&img);
        return 1;
    }
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
