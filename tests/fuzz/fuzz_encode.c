/* fuzz_encode.c - libFuzzer target: encoding and decoding with a fixed
 * tokenizer (the tiny_nvlm fixture's byte-level BPE with added and special
 * tokens). The first byte picks parse_special; the rest is the text, and
 * the ids that come back are decoded; the input read as ids is decoded
 * too. */
#include "fuzz_util.h"
#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static nv_tokenizer *tok;
    nv_error err = {{0}};
    if (!tok) {
        tok = nv_tokenizer_load(NV_FUZZ_FIXTURES "/tiny_nvlm/tokenizer.json",
                                &err);
        if (!tok) {
            fprintf(stderr, "fuzz_encode: %s\n", err.msg);
            abort();
        }
    }
    if (len == 0)
        return 0;
    int32_t *ids = NULL;
    size_t n = 0;
    if (nv_tokenizer_encode(tok, (const char *)data + 1, len - 1, data[0] & 1,
                            &ids, &n, &err) == 0) {
        char *text = nv_tokenizer_decode(tok, ids, n, &err);
        free(text);
        free(ids);
    }
    size_t k = len / 4 < 256 ? len / 4 : 256;
    int32_t raw[256];
    memcpy(raw, data, k * 4);
    free(nv_tokenizer_decode(tok, raw, k, &err));
    return 0;
}
