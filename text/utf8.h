/* utf8.h - the UTF-8 handling the tokenizer needs: decoding one character
 * with full validation, encoding one, and repairing untrusted text. */
#ifndef NV_UTF8_H
#define NV_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Decodes the character at s[0..len). Returns its length (1-4) and sets *cp,
 * or returns 0 when the bytes there are not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
size_t nv_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Writes cp (<= U+10FFFF) as UTF-8 into out[0..4); returns the length. */
size_t nv_utf8_encode(uint32_t cp, char *out);

/* Length of the invalid sequence at s[0..len): the longest prefix that could
 * still begin a valid character, at least 1. Each such "maximal subpart" is
 * replaced by one U+FFFD, as Python's and WHATWG's decoders do. */
size_t nv_utf8_invalid_len(const char *s, size_t len);

/* Returns a malloc'd, NUL-terminated copy of text[0..len) in which every
 * invalid sequence is replaced by U+FFFD; *out_len gets its length. */
char *nv_utf8_repair(const char *text, size_t len, size_t *out_len,
                     nv_error *err);

/* 1 when text[0..len) is entirely valid UTF-8. */
int nv_utf8_valid(const char *text, size_t len);

#endif
