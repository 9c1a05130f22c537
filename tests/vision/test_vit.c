/* test_vit.c - InternViT, pixel shuffle and mlp1 against the goldens that
 * the upstream InternVL / NVLM-D PyTorch code produced (hf/internvl_single,
 * hf/internvl_tiles, hf/internvl_tiles_wide), fed the golden
 * in_pixel_values.
 *
 * Every array is compared as max|ours - ref| <= TOL * max|ref| over the whole
 * array. Stages are checked both chained (our encoder output into our
 * shuffle and projector) and isolated (the golden input of each stage), so a
 * failure points at one stage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/safetensors.h"
#include "core/threads.h"
#include "fusion/projector.h"
#include "tests/check.h"
#include "vision/pixel_shuffle.h"
#include "vision/vit.h"

/* The reference is float32 PyTorch; our sums differ in order (and are partly
 * in double), measured errors are ~1e-6 relative (see the printed lines). */
#define TOL_VIT 5e-6
#define TOL_UPDATE 5e-6
/* Pure copies: must be exact. */
#define TOL_SHUFFLE 0.0
#define TOL_PROJ 5e-6

/* Compares and prints; returns the relative error. */
static double compare(const char *what, const float *ours, const float *ref,
                      long n, double tol)
{
    double scale = check_max_abs(ref, n);
    double diff = check_max_abs_diff(ours, ref, n);
    double rel = scale > 0 ? diff / scale : diff;
    printf("  %-34s max|ref| %-9.4g max|diff| %-9.3g rel %-9.3g (tol %g)\n",
           what, scale, diff, rel, tol);
    CHECK(scale > 0); /* an all-zero reference would prove nothing */
    CHECK(diff <= tol * scale);
    return rel;
}

typedef struct layer_check {
    const float *states; /* golden vision_hidden_states [L+1, n, T, C] */
    long per_layer;      /* n*T*C */
    float *previous;     /* our state before this layer, [n, T, C] */
    float *update;       /* ours and the golden state minus the previous */
    float *ref_update;
    int seen;
} layer_check;

static void check_layer(void *ctx, int index, const float *states, int n,
                        int tokens, int dim)
{
    layer_check *lc = ctx;
    char what[64];
    snprintf(what, sizeof what, "vision_hidden_states[%d]", index);
    CHECK((long)n * tokens * dim == lc->per_layer);
    const float *ref = lc->states + index * lc->per_layer;
    compare(what, states, ref, lc->per_layer, TOL_VIT);
    /* The residual update of a layer is ~10x smaller than the stream (the
     * layer scales are ~0.1), so check it on its own scale too: a wrong
     * attention or MLP detail must not hide under the embeddings. */
    if (index > 0) {
        for (long i = 0; i < lc->per_layer; i++) {
            lc->update[i] = states[i] - lc->previous[i];
            lc->ref_update[i] = ref[i] - ref[i - lc->per_layer];
        }
        snprintf(what, sizeof what, "  update of layer %d", index);
        compare(what, lc->update, lc->ref_update, lc->per_layer, TOL_UPDATE);
    }
    memcpy(lc->previous, states, lc->per_layer * sizeof(float));
    lc->seen++;
}

static int get(const nv_safetensors *st, const char *name, nv_tensor *t)
{
    nv_error err = {{0}};
    if (nv_st_get_f32(st, name, -1, NULL, t, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(!"golden tensor loads");
        return -1;
    }
    return 0;
}

static void run_case(const char *golden, const char *name, nv_pool *pool)
{
    char cfg_path[4096], model_path[4096], gold_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/hf/%s/model/config.json", golden,
             name);
    snprintf(model_path, sizeof model_path,
             "%s/hf/%s/model/model.safetensors", golden, name);
    snprintf(gold_path, sizeof gold_path, "%s/hf/%s/golden.safetensors",
             golden, name);
    printf("%s\n", name);

    nv_error err = {{0}};
    cJSON *cfg = nv_json_load(cfg_path, 0, &err);
    nv_safetensors *model = cfg ? nv_st_open(model_path, &err) : NULL;
    nv_safetensors *gold = model ? nv_st_open(gold_path, &err) : NULL;
    nv_vit *vit = NULL;
    nv_projector *proj = NULL;
    if (gold && nv_vit_load(model, cfg, cfg_path, &vit, &err) == 0)
        nv_projector_load(model, "mlp1.", nv_vit_out_dim(vit), 0, NULL,
                          &proj, &err);
    if (!CHECK(vit && proj)) {
        fprintf(stderr, "%s\n", err.msg);
        goto done;
    }
    const nv_vit_config *c = nv_vit_config_of(vit);

    nv_tensor pixels = {0}, states = {0}, last = {0}, shuffled = {0},
              mlp1 = {0}, selected = {0};
    if (get(gold, "in_pixel_values", &pixels) < 0 ||
        get(gold, "vision_hidden_states", &states) < 0 ||
        get(gold, "vision_last_hidden_state", &last) < 0 ||
        get(gold, "pixel_shuffle_output", &shuffled) < 0 ||
        get(gold, "mlp1_output", &mlp1) < 0)
        goto free_tensors;
    int failures_before = check_failures;
    int n = (int)pixels.shape[0];
    int T = nv_vit_seq_len(vit), C = c->hidden;
    long per_layer = (long)n * T * C;
    CHECK(pixels.ndim == 4 && pixels.shape[2] == c->image_size);
    CHECK(states.ndim == 4 && states.shape[0] == c->layers + 1 &&
          nv_tensor_numel(&states) == (c->layers + 1) * per_layer);
    CHECK(nv_tensor_numel(&last) == per_layer);
    int tokens = nv_vit_out_tokens(vit), width = nv_vit_out_dim(vit);
    long shuffled_len = (long)n * tokens * width;
    CHECK(nv_tensor_numel(&shuffled) == shuffled_len);
    long out_len = (long)n * tokens * nv_projector_out_dim(proj);
    CHECK(nv_tensor_numel(&mlp1) == out_len);
    if (check_failures > failures_before)
        goto free_tensors;

    float *hidden = malloc(per_layer * sizeof(float));
    float *ours_shuffled = malloc(shuffled_len * sizeof(float));
    float *ours_out = malloc(out_len * sizeof(float));
    float *patches = malloc((long)n * (T - 1) * C * sizeof(float));
    float *work = malloc(3 * per_layer * sizeof(float));
    if (!CHECK(hidden && ours_shuffled && ours_out && patches && work))
        goto free_buffers;

    /* Every layer, with the whole stack run (whatever select_layer says). */
    layer_check lc = {nv_tensor_f32(&states), per_layer, work,
                      work + per_layer, work + 2 * per_layer, 0};
    CHECK(nv_vit_forward(vit, pool, nv_tensor_f32(&pixels), n, c->layers,
                         check_layer, &lc, hidden, &err) == 0);
    CHECK(lc.seen == c->layers + 1);
    compare("vision_last_hidden_state", hidden, nv_tensor_f32(&last),
            per_layer, TOL_VIT);

    /* The default run stops at select_layer. */
    CHECK(nv_vit_forward(vit, pool, nv_tensor_f32(&pixels), n, -1, NULL, NULL,
                         hidden, &err) == 0);
    compare("state at select_layer", hidden,
            nv_tensor_f32(&states) + (long)c->run_layers * per_layer,
            per_layer, TOL_VIT);
    if (nv_st_find(gold, "vision_selected_layer") &&
        get(gold, "vision_selected_layer", &selected) == 0)
        compare("vision_selected_layer", hidden, nv_tensor_f32(&selected),
                per_layer, TOL_VIT);

    /* Pixel shuffle alone, on the golden selected state minus CLS. */
    const float *sel = nv_tensor_f32(&states) + (long)c->run_layers * per_layer;
    for (int t = 0; t < n; t++)
        memcpy(patches + (long)t * (T - 1) * C, sel + ((long)t * T + 1) * C,
               (size_t)(T - 1) * C * sizeof(float));
    CHECK(nv_pixel_shuffle(patches, n, c->grid, C, c->shuffle, c->ps_version,
                           ours_shuffled, &err) == 0);
    compare("pixel_shuffle_output (isolated)", ours_shuffled,
            nv_tensor_f32(&shuffled), shuffled_len, TOL_SHUFFLE);

    /* mlp1 alone, on the golden pixel_shuffle_output. */
    CHECK(nv_projector_forward(proj, pool, nv_tensor_f32(&shuffled), n * tokens,
                               ours_out, &err) == 0);
    compare("mlp1_output (isolated)", ours_out, nv_tensor_f32(&mlp1), out_len,
            TOL_PROJ);

    /* The chain: pixels -> encode -> mlp1. */
    CHECK(nv_vit_encode(vit, pool, nv_tensor_f32(&pixels), n, ours_shuffled,
                        &err) == 0);
    compare("pixel_shuffle_output (chained)", ours_shuffled,
            nv_tensor_f32(&shuffled), shuffled_len, TOL_VIT);
    CHECK(nv_projector_forward(proj, pool, ours_shuffled, n * tokens, ours_out,
                               &err) == 0);
    compare("mlp1_output (chained)", ours_out, nv_tensor_f32(&mlp1), out_len,
            TOL_PROJ);

free_buffers:
    free(hidden);
    free(ours_shuffled);
    free(ours_out);
    free(patches);
    free(work);
free_tensors:
    nv_tensor_free(&pixels);
    nv_tensor_free(&states);
    nv_tensor_free(&last);
    nv_tensor_free(&shuffled);
    nv_tensor_free(&mlp1);
    nv_tensor_free(&selected);
done:
    if (err.msg[0])
        fprintf(stderr, "%s\n", err.msg);
    nv_projector_free(proj);
    nv_vit_free(vit);
    nv_st_close(gold);
    nv_st_close(model);
    cJSON_Delete(cfg);
}

int main(void)
{
    const char *golden = check_golden_dir();
    nv_error err = {{0}};
    /* Fixed pool sizes so the pooled paths run whatever the host; 3 threads
     * split rows and (tile, head) pairs unevenly. */
    nv_pool *pool2 = nv_pool_create(2, &err);
    nv_pool *pool3 = pool2 ? nv_pool_create(3, &err) : NULL;
    if (CHECK(pool2 && pool3)) {
        run_case(golden, "internvl_single", pool2);
        run_case(golden, "internvl_tiles", pool2);
        run_case(golden, "internvl_tiles_wide", pool3);
        /* Without a pool: everything on the calling thread. */
        run_case(golden, "internvl_tiles", NULL);
    }
    nv_pool_free(pool3);
    nv_pool_free(pool2);
    return check_summary("test_vit");
}
