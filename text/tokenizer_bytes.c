/* tokenizer_bytes.c - the byte-level vocabulary of model directories that
 * ship no tokenizer (the golden text-only checkpoints): ids 0..255 are the
 * bytes themselves, ids above have no text. Encoding maps every byte of the
 * text to its id as it is (no UTF-8 repair, no splitting), so any id below
 * 256 can be written in a prompt. */
#include <stdint.h>
#include <stdio.h>

#include "text/bytelevel.h"
#include "text/tok_internal.h"

nv_tokenizer *nv_tokenizer_bytes(int32_t vocab_size, nv_error *err)
{
    if (vocab_size < 256) {
        nv_fail(err, "byte-level vocabulary: the model has %d ids, fewer "
                "than the 256 bytes", vocab_size);
        return NULL;
    }
    nv_tokenizer *tok = nv_tok_new("byte-level vocabulary", err);
    if (!tok)
        return NULL;
    if (nv_tok_alloc_ids(tok, vocab_size, 512, 1, err))
        goto fail;
    for (int b = 0; b < 256; b++) {
        /* The piece is GPT-2's spelling of the byte (1 or 2 UTF-8 bytes),
         * which nv_tok_set_piece turns back into the byte. */
        uint32_t cp = nv_bytelevel_char((unsigned char)b);
        char piece[2];
        size_t len = 1;
        if (cp < 0x80) {
            piece[0] = (char)cp;
        } else {
            piece[0] = (char)(0xC0 | (cp >> 6));
            piece[1] = (char)(0x80 | (cp & 0x3F));
            len = 2;
        }
        if (nv_tok_set_piece(tok, b, piece, len, 1, err))
            goto fail;
    }
    if (nv_tok_finish(tok, err))
        goto fail;
    tok->raw_bytes = 1;
    return tok;
fail:
    nv_tokenizer_free(tok);
    return NULL;
}
