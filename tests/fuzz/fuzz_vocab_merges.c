/* fuzz_vocab_merges.c - libFuzzer target: the slow layout. The input is
 * vocab.json, a NUL byte, then merges.txt (no NUL: all of it is
 * vocab.json and merges.txt is empty); the directory is loaded, then used
 * to encode and decode (fuzz_tok_common.h). */
#include "fuzz_util.h"
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const uint8_t *nul = memchr(data, 0, len);
    size_t vlen = nul ? (size_t)(nul - data) : len;
    char path[512];
    fuzz_write("vocab.json", data, vlen, path, sizeof path);
    fuzz_write("merges.txt", nul ? nul + 1 : data + len,
               nul ? len - vlen - 1 : 0, path, sizeof path);
    nv_error err = {{0}};
    nv_tokenizer *tok = nv_tokenizer_load_dir(fuzz_scratch(), &err);
    if (!tok)
        return 0;
    fuzz_exercise(tok, data, len);
    nv_tokenizer_free(tok);
    return 0;
}
