/* fuzz_tok_common.h - the work every tokenizer target does with a
 * tokenizer it loaded: encode a fixed text with and without special
 * tokens, decode the ids, and decode ids taken from the input. */
#ifndef NV_FUZZ_TOK_COMMON_H
#define NV_FUZZ_TOK_COMMON_H

#include "text/tokenizer.h"

static inline void fuzz_exercise(const nv_tokenizer *tok,
                                 const uint8_t *data, size_t len)
{
    static const char text[] =
        "Hello <|im_start|>user\n<image> wörld 12345 \xff  tabs\t\r\n"
        "<s>x <tile_1> ab abc --a-b";
    nv_error err = {{0}};
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (nv_tokenizer_encode(tok, text, sizeof text - 1, special, &ids, &n,
                                &err) == 0) {
            free(nv_tokenizer_decode(tok, ids, n, &err));
            free(ids);
        }
    }
    size_t n = len / 4 < 64 ? len / 4 : 64;
    int32_t ids[64];
    memcpy(ids, data, n * 4);
    free(nv_tokenizer_decode(tok, ids, n, &err));
    for (size_t i = 0; i < n; i++) {
        size_t blen;
        (void)nv_tokenizer_token_bytes(tok, ids[i], &blen);
        (void)nv_tokenizer_piece(tok, ids[i]);
    }
}

#endif
