/* error.h - one way to report failures across nvlm.
 *
 * Every fallible function takes an `nv_error *err` as its last argument and
 * returns -1 (or NULL) on failure after writing a human-readable message into
 * it with nv_fail(). The message names the file and the problem, e.g.
 *   "model/model.safetensors: tensor 'lm_head.weight': data_offsets [0, 64)
 *    overlap tensor 'embed.weight'"
 * `err` may be NULL when the caller does not want the message.
 */
#ifndef NV_ERROR_H
#define NV_ERROR_H

#include <stddef.h>

typedef struct nv_error {
    char msg[1024];
} nv_error;

/* Formats the message into err (if not NULL) and returns -1, so that a caller
 * can write `return nv_fail(err, "...", ...);`. */
int nv_fail(nv_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message with more context ("loading X: " + old). */
int nv_fail_prefix(nv_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears the message. */
void nv_error_clear(nv_error *err);

#endif
