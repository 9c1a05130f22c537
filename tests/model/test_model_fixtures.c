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
 * session generates). And a session started from another's chat template
 * (nvlm_session_reuse_prefix) against the same goldens. */
#include "hub_check.h"

/* Position of the first image-context token of the golden prompt (the
 * prompt's length when it has none). */
static int first_image_token(const nvlm_session *s, const nv_tensor *ids)
{
    int n = (int)ids->shape[1];
    const int64_t *v = ids->data;
    for (int i = 0; i < n; i++)
        if (v[i] == s->m->image_token_id)
            return i;
    return n;
}

/* A second session with the same image and question, started from the
 * first one's chat template (nvlm_session_reuse_prefix): it must generate
 * the golden greedy ids, with its first token's log-probability as the
 * golden logits give it, while computing only the positions after the
 * template. D keeps the text before the first image-context token; X and
 * H (whose cross-attention keys every position from the image on sees) no
 * more than that.
 * Then a text-only session shares the template up to where the image
 * began and must generate what a session of its own generates. */
static void check_reuse(const nvlm_session *donor, const nv_tensor *pix,
                        const char *question, const nv_safetensors *g,
                        const char *label)
{
    char err[1024];
    nv_error e = {{0}};
    nv_tensor ids = {0}, logits = {0}, gen = {0};
    nvlm_session *s = nvlm_session_new(donor->m, err, sizeof err);
    nvlm_session *t = nvlm_session_new(donor->m, err, sizeof err);
    nvlm_session *own = nvlm_session_new(donor->m, err, sizeof err);
    if (!CHECK(s && t && own) ||
        !CHECK(nv_st_get_i64(g, "in_input_ids", &ids, &e) == 0 &&
               nv_st_get_f32(g, "logits", -1, NULL, &logits, &e) == 0 &&
               nv_st_get_i64(g, "generated_ids", &gen, &e) == 0) ||
        !CHECK(nv_session_set_pixels(s, pix->data, (int)pix->shape[0],
                                     &e) == 0) ||
        !CHECK(nvlm_add_text(s, question, err, sizeof err) == 0) ||
        !CHECK(nvlm_session_reuse_prefix(s, donor, err, sizeof err) == 0))
        goto done;
    nvlm_gen_params p;
    nvlm_gen_params_init(&p);
    p.max_new_tokens = 8;
    p.ignore_eos = 1;
    if (!CHECK(nvlm_generate(s, &p, NULL, NULL, err, sizeof err) == 0))
        goto done;
    int n_ids = (int)ids.shape[1];
    int reused = nvlm_last_stats(s)->prompt_tokens_reused;
    int image_at = first_image_token(s, &ids);
    printf("%s: %d of %d prompt tokens reused (image at %d)\n", label,
           reused, n_ids, image_at);
    CHECK(reused > 0);
    CHECK(s->m->fusion == NV_FUSION_D ? reused == image_at
                                      : reused <= image_at);
    int ng = 0;
    const int32_t *gids = nvlm_generated_ids(s, &ng);
    int same = ng == (int)gen.shape[1] - n_ids;
    for (int i = 0; same && i < ng; i++)
        same = gids[i] == ((const int64_t *)gen.data)[n_ids + i];
    if (!CHECK(same))
        fprintf(stderr, "%s: greedy ids differ after reuse\n", label);
    hub_check_logprob(s, logits.data, n_ids, gen.data, label);
    CHECK(nvlm_last_stats(s)->prompt_tokens_reused == reused);

    /* Text only: the template agrees up to where the image was. */
    nvlm_gen_params_init(&p);
    p.max_new_tokens = 8;
    p.ignore_eos = 1;
    if (!CHECK(nvlm_add_text(t, question, err, sizeof err) == 0 &&
               nvlm_add_text(own, question, err, sizeof err) == 0) ||
        !CHECK(nvlm_session_reuse_prefix(t, donor, err, sizeof err) == 0) ||
        !CHECK(nvlm_generate(t, &p, NULL, NULL, err, sizeof err) == 0 &&
               nvlm_generate(own, &p, NULL, NULL, err, sizeof err) == 0))
        goto done;
    int nt = 0, no = 0;
    const int32_t *tids = nvlm_generated_ids(t, &nt);
    const int32_t *oids = nvlm_generated_ids(own, &no);
    int treused = nvlm_last_stats(t)->prompt_tokens_reused;
    printf("%s: text only, %d prompt tokens reused\n", label, treused);
    CHECK(treused > 0 && treused <= image_at);
    CHECK(nvlm_last_stats(own)->prompt_tokens_reused == 0);
    CHECK(nt == no && memcmp(tids, oids, sizeof(int32_t) * (size_t)nt) == 0);
done:
    if (e.msg[0])
        fprintf(stderr, "%s: %s\n", label, e.msg);
    nv_tensor_free(&ids);
    nv_tensor_free(&logits);
    nv_tensor_free(&gen);
    nvlm_session_free(s);
    nvlm_session_free(t);
    nvlm_session_free(own);
}

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
    check_reuse(s, &pix, question, g, label);
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
