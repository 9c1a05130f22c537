/* test_model_fixtures.c - the whole C model (fusion/model*.c through the
 * session calls) against two independent references:
 *  - the PyTorch reference's goldens in tests/fixtures/tiny_nvlm
 *    (docs/model-format.md section 11): heads d, x and h for 1 tile,
 *    2x1 + thumbnail and 3x2 + thumbnail; and tests/fixtures/tiny_nvlm_chars
 *    (per-patch character probabilities widen the projector input,
 *    section 5.1), the three heads on 2x1 + thumbnail;
 *  - NVIDIA's NVLM-D remote code and OpenGVLab's InternVL code, through
 *    the shared goldens hf/internvl_tiles, internvl_tiles_wide (NVLM-D,
 *    chatml with tile tags) and internvl_single (InternVL, internvl2_5).
 * Each case: the prompt ids built from the question exactly, the projector
 * output and the logits of every prompt position within
 * 1e-4 * max|golden|, and the 8 greedy ids exactly (KV cache on, as the
 * session generates). */
#include "hub_check.h"

/* dir: model directory; path: golden file; head: NULL = the model's
 * default; proj_name: the golden projector array. */
static void run_case(const char *dir, const char *path, const char *head,
                     const char *question, const char *proj_name,
                     const char *label)
{
    char err[1024];
    nv_error e = {{0}};
    nv_safetensors *g = nv_st_open(path, &e);
    if (!CHECK(g != NULL)) {
        fprintf(stderr, "%s\n", e.msg);
        return;
    }
    nvlm_model *m = hub_load_model(dir, head, 2, label);
    if (!m) {
        nv_st_close(g);
        return;
    }
    nvlm_session *s = nvlm_session_new(m, err, sizeof err);
    nv_tensor pix = {0}, proj = {0};
    CHECK(s != NULL);
    CHECK(nv_st_get_f32(g, "in_pixel_values", -1, NULL, &pix, &e) == 0);
    CHECK(nv_st_get_f32(g, proj_name, -1, NULL, &proj, &e) == 0);
    if (!s || !pix.data || !proj.data)
        goto done;
    CHECK(nv_session_set_pixels(s, pix.data, (int)pix.shape[0], &e) == 0);
    CHECK(nvlm_add_text(s, question, err, sizeof err) == 0);
    hub_check_generation(s, g, label);
    /* projector output */
    long nproj = (long)nv_tensor_numel(&proj);
    if (CHECK(s->features != NULL)) {
        double perr = check_max_abs_diff(s->features, proj.data, nproj);
        double ptol = 1e-4 * fmax(1.0, check_max_abs(proj.data, nproj));
        printf("%s: projector err %.2g (tol %.2g)\n", label, perr, ptol);
        CHECK(perr <= ptol);
    }
done:
    nv_tensor_free(&pix);
    nv_tensor_free(&proj);
    nvlm_session_free(s);
    nvlm_free(m);
    nv_st_close(g);
}

int main(void)
{
    const char *fx = getenv("NV_FIXTURE_DIR");
    if (!fx) {
        fprintf(stderr, "NV_FIXTURE_DIR is not set\n");
        return 1;
    }
    char dir[1024], path[2048], label[64];
    snprintf(dir, sizeof dir, "%s/tiny_nvlm", fx);
    const char *heads[] = {"d", "x", "h"};
    const int tiles[] = {1, 3, 7};
    for (int h = 0; h < 3; h++)
        for (int t = 0; t < 3; t++) {
            snprintf(path, sizeof path, "%s/golden_%s_%d.safetensors", dir,
                     heads[h], tiles[t]);
            snprintf(label, sizeof label, "tiny_nvlm %s/%d", heads[h],
                     tiles[t]);
            run_case(dir, path, heads[h], "Describe the tiles.",
                     "projector_output", label);
        }
    snprintf(dir, sizeof dir, "%s/tiny_nvlm_chars", fx);
    for (int h = 0; h < 3; h++) {
        snprintf(path, sizeof path, "%s/golden_%s_3.safetensors", dir,
                 heads[h]);
        snprintf(label, sizeof label, "tiny_nvlm_chars %s/3", heads[h]);
        run_case(dir, path, heads[h], "Describe the tiles.",
                 "projector_output", label);
    }
    const char *golden = check_golden_dir();
    const char *upstream[] = {"internvl_tiles", "internvl_tiles_wide",
                              "internvl_single"};
    for (int i = 0; i < 3; i++) {
        snprintf(dir, sizeof dir, "%s/hf/%s/model", golden, upstream[i]);
        snprintf(path, sizeof path, "%s/hf/%s/golden.safetensors", golden,
                 upstream[i]);
        run_case(dir, path, NULL, "Please describe the image shortly.",
                 "mlp1_output", upstream[i]);
    }
    return check_summary("model_fixtures");
}
