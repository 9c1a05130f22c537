/* hub_prep_dump.c - helper for check_hub_preprocess.py: runs a hub
 * family's own image processor (nvlm_load, then family->preprocess) on an
 * image file and writes "n rows cols S\n" and the float32 pixels
 * [n, 3, S, S] to a file. Usage: hub_prep_dump MODEL_DIR IMAGE OUT */
#include <stdio.h>
#include <stdlib.h>

#include "fusion/model.h"
#include "vision/image.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: hub_prep_dump MODEL_DIR IMAGE OUT\n");
        return 2;
    }
    char err[1024];
    nv_error e = {{0}};
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.threads = 1;
    nvlm_model *m = nvlm_load(argv[1], &opt, err, sizeof err);
    if (!m || !m->family || !m->family->preprocess) {
        fprintf(stderr, "%s\n", m ? "not a hub vision family" : err);
        nvlm_free(m);
        return 1;
    }
    nv_image img = {0};
    nv_family_image fi = {0};
    int rc = 1;
    if (nv_image_load(argv[2], 0, &img, &e) ||
        m->family->preprocess(m->family_ctx, &img, &fi, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        goto done;
    }
    FILE *f = fopen(argv[3], "wb");
    if (!f) {
        perror(argv[3]);
        goto done;
    }
    long count = (long)nv_tensor_numel(&fi.pixels);
    fprintf(f, "%d %d %d %d\n", fi.n_tiles, fi.rows, fi.cols,
            (int)fi.pixels.shape[3]);
    rc = fwrite(fi.pixels.data, sizeof(float), (size_t)count, f) ==
                 (size_t)count
             ? 0
             : 1;
    fclose(f);
done:
    nv_family_image_free(&fi);
    nv_image_free(&img);
    nvlm_free(m);
    return rc;
}
