/* fuzz_tokenizer_json.c - libFuzzer target: the input is tokenizer.json;
 * loaded, then used to encode and decode (fuzz_tok_common.h). */
#include "fuzz_util.h"
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char path[512];
    fuzz_write("tokenizer.json", data, len, path, sizeof path);
    nv_error err = {{0}};
    nv_tokenizer *tok = nv_tokenizer_load(path, &err);
    if (!tok)
        return 0;
    fuzz_exercise(tok, data, len);
    nv_tokenizer_free(tok);
    return 0;
}
