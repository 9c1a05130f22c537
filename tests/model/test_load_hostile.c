/* test_load_hostile.c - nvlm_load on model directories made hostile from
 * the shipped tests/fixtures/tiny_nvlm (issue 17): each case is a scratch
 * directory with the fixture's files symlinked and one of them replaced,
 * and must be refused at once with a message naming the file and the
 * problem:
 *  - config.json / model.safetensors / tokenizer.json a FIFO (open() used
 *    to block forever);
 *  - numbers cast to int out of range or truncated: xattn_layers 1e300,
 *    llm_config.eos_token_id 1e300 or 274.7, llm_config.rope_theta 1e999;
 *  - vision_config missing (was "unknown architecture 'NVLM_D_Model'");
 *  - llm_config.hidden_size unlike the weights (named no file);
 *  - llm_config.num_hidden_layers 1048576 with 4 layers in the file: 1.4 GB
 *    and 6 s before "no tensor", now refused before the per-layer array. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "file_util.h"
#include "nvlm.h"

static const char *files[] = {"config.json", "model.safetensors",
                              "tokenizer.json"};
enum { NFILES = sizeof files / sizeof files[0] };

static char fixture[4096];
static char config_text_path[4200];

/* A fresh directory whose files link to the fixture's. */
static int make_dir(char *dir, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, size, "%s/nvlm_load_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    for (int i = 0; i < NFILES; i++) {
        char from[4300], to[4300];
        snprintf(from, sizeof from, "%s/%s", fixture, files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        if (symlink(from, to) != 0)
            return -1;
    }
    return 0;
}

static void remove_dir(const char *dir)
{
    for (int i = 0; i < NFILES; i++) {
        char p[4300];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* Loads dir (fusion head or NULL) expecting failure with the path of
 * `file` inside it and `want` in the message. */
static void expect_refused(const char *dir, const char *fusion,
                           const char *file, const char *want, int line)
{
    char err[1024] = "";
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.threads = 1;
    opt.fusion = fusion;
    nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int ok = !m && strstr(err, path) && strstr(err, want);
    if (!check_true(ok, "hostile model directory refused", __FILE__, line))
        fprintf(stderr, "  want '%s' and '%s', got '%s'\n", path, want,
                m ? "(loaded)" : err);
    nvlm_free(m);
}

/* Each fixture file replaced by a FIFO that nobody writes. */
static void test_fifos(void)
{
    for (int i = 0; i < NFILES; i++) {
        char dir[512], p[600];
        if (!CHECK(make_dir(dir, sizeof dir) == 0))
            return;
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
        CHECK(mkfifo(p, 0600) == 0);
        expect_refused(dir, NULL, files[i], "not a regular file", __LINE__);
        remove_dir(dir);
    }
}

/* The fixture's config.json with `from` (which must occur in it) replaced
 * by `to`, written into a fresh directory. */
static void expect_config_refused(const char *from, const char *to,
                                  const char *fusion, const char *want,
                                  int line)
{
    char *text = test_read_file(config_text_path, NULL);
    char *at = text ? strstr(text, from) : NULL;
    if (!check_true(at != NULL, "fixture config holds the text to replace",
                    __FILE__, line)) {
        fprintf(stderr, "  '%s' not found\n", from);
        free(text);
        return;
    }
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *edited = malloc(n);
    char dir[512], p[600];
    if (!edited || make_dir(dir, sizeof dir) != 0) {
        CHECK(0);
        free(edited);
        free(text);
        return;
    }
    snprintf(edited, n, "%.*s%s%s", (int)(at - text), text, to,
             at + strlen(from));
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    CHECK(test_write_text(p, edited) == 0);
    expect_refused(dir, fusion, "config.json", want, line);
    remove_dir(dir);
    free(edited);
    free(text);
}

static void test_configs(void)
{
    /* Sanity: the fixture itself loads through the symlinks. */
    char dir[512], err[1024] = "";
    if (!CHECK(make_dir(dir, sizeof dir) == 0))
        return;
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.threads = 1;
    nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
    if (!CHECK(m != NULL))
        fprintf(stderr, "  fixture: %s\n", err);
    nvlm_free(m);
    remove_dir(dir);

    expect_config_refused("\"xattn_layers\": [\n        1,",
                          "\"xattn_layers\": [1e300,", "h",
                          "key 'nvlm_heads.h.xattn_layers[0]' = 1e+300 is "
                          "out of range", __LINE__);
    expect_config_refused("\"eos_token_id\": 274", "\"eos_token_id\": 1e300",
                          NULL, "key 'llm_config.eos_token_id' = 1e+300 is "
                          "out of range", __LINE__);
    expect_config_refused("\"eos_token_id\": 274",
                          "\"eos_token_id\": 274.7", NULL,
                          "key 'llm_config.eos_token_id' = 274.7 is not a "
                          "whole number", __LINE__);
    expect_config_refused("\"eos_token_id\": 274",
                          "\"eos_token_id\": 274, \"rope_theta\": 1e999",
                          NULL, "key 'rope_theta' is not a finite number",
                          __LINE__);
    expect_config_refused("\"vision_config\"", "\"no_vision_config\"", NULL,
                          "missing key 'vision_config'", __LINE__);
    expect_config_refused("\"llm_config\"", "\"no_llm_config\"", NULL,
                          "missing key 'llm_config'", __LINE__);
    /* hidden_size against the weights: named no file ("projector 'mlp1.':
     * weights map 128 -> 64, the model needs 128 -> 128") */
    expect_config_refused("\"hidden_size\": 64", "\"hidden_size\": 128",
                          NULL, "model.safetensors: projector 'mlp1.' maps "
                          "128 -> 64, but ", __LINE__);
}

/* More layers in config.json than in the weights: refused by the first
 * missing layer, before anything is sized from num_hidden_layers. */
static void test_layer_count(void)
{
    char *text = test_read_file(config_text_path, NULL);
    const char *from = "\"num_hidden_layers\": 4";
    char *at = text ? strstr(text, from) : NULL;
    char dir[512], p[600], err[1024] = "";
    if (!CHECK(at != NULL) || !CHECK(make_dir(dir, sizeof dir) == 0)) {
        free(text);
        return;
    }
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    FILE *f = fopen(p, "w");
    CHECK(f && fprintf(f, "%.*s\"num_hidden_layers\": 1048576%s",
                       (int)(at - text), text, at + strlen(from)) > 0);
    CHECK(f && fclose(f) == 0);
    free(text);
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.threads = 1;
    clock_t t0 = clock();
    nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    printf("1048576 layers refused in %.2f s CPU, peak RSS %ld KiB: %s\n",
           secs, ru.ru_maxrss, err);
    int ok = !m && strstr(err, dir) &&
             strstr(err, "layers.4.input_layernorm.weight") &&
             strstr(err, "num_hidden_layers is 1048576") &&
             strstr(err, "layers 0-3 at most");
    if (!CHECK(ok))
        fprintf(stderr, "  got '%s'\n", m ? "(loaded)" : err);
    CHECK(secs < 1.0);
    CHECK(ru.ru_maxrss < 200 * 1024); /* was 1.4 GB */
    nvlm_free(m);
    remove_dir(dir);
}

int main(void)
{
    const char *base = getenv("NV_FIXTURE_DIR");
    if (!base) {
        fprintf(stderr, "NV_FIXTURE_DIR is not set\n");
        return 1;
    }
    snprintf(fixture, sizeof fixture, "%s/tiny_nvlm", base);
    snprintf(config_text_path, sizeof config_text_path, "%s/config.json",
             fixture);
    test_fifos();
    test_configs();
    test_layer_count();
    return check_summary("test_load_hostile");
}
