/* fuzz_config_load.c - libFuzzer target: the input is config.json of a
 * model directory whose weights and tokenizer are the shipped tiny_nvlm
 * fixture's; nvlm_load runs the whole load (config, vision tower,
 * projector, decoder, heads, tokenizer) and frees it. */
#include "nvlm.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int ready;
    if (!ready) {
        fuzz_link_fixture("model.safetensors", "tiny_nvlm/model.safetensors");
        fuzz_link_fixture("tokenizer.json", "tiny_nvlm/tokenizer.json");
        ready = 1;
    }
    char path[512], err[1024];
    fuzz_write("config.json", data, len, path, sizeof path);
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.threads = 1;
    /* a first byte picks the head, so each is reached */
    static const char *heads[] = {NULL, "d", "x", "h"};
    opt.fusion = heads[len ? data[len - 1] % 4 : 0];
    nvlm_model *m = nvlm_load(fuzz_scratch(), &opt, err, sizeof err);
    nvlm_free(m);
    return 0;
}
