/* bytelevel.h - GPT-2's byte-level alphabet. Byte-level BPE vocabularies
 * spell every byte as one printable character: bytes that are printable
 * Latin-1 ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves,
 * the other 68 bytes get U+0100, U+0101, ... in byte order (so a space is
 * 'Ġ' U+0120). The tokenizer converts vocab pieces to raw bytes once at
 * load time, so encoding works on raw bytes and never maps characters. */
#ifndef NV_BYTELEVEL_H
#define NV_BYTELEVEL_H

#include <stddef.h>
#include <stdint.h>

/* The character that spells byte b. */
uint32_t nv_bytelevel_char(unsigned char b);

/* The byte spelled by cp, or -1 when cp is not in the alphabet. */
int nv_bytelevel_byte(uint32_t cp);

/* Converts a vocab piece (valid UTF-8) to the bytes it spells, writing at
 * most len bytes to out. Returns the byte count, or -1 when some character
 * is not in the alphabet (such pieces, e.g. added tokens, stand for their
 * own UTF-8 text). */
long nv_bytelevel_to_bytes(const char *piece, size_t len, char *out);

#endif
