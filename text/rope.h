/* rope.h - rotary position embedding as Hugging Face computes it.
 *
 * Frequencies follow transformers' rope init functions (default, linear,
 * dynamic NTK, llama3), evaluated in float32 like PyTorch does so that the
 * angles match the reference bit for bit where possible. Rotation uses the
 * rotate_half convention: a head vector x of width d is split into halves
 * (x1, x2) and becomes (x1 cos - x2 sin, x2 cos + x1 sin), with the same
 * angle pos * inv_freq[i] for element i and i + d/2.
 */
#ifndef NV_ROPE_H
#define NV_ROPE_H

#include <stdint.h>

#include "text/llm_config.h"

/* inv_freq[0 .. head_dim/2) for a sequence of seq_len positions. Only the
 * dynamic type depends on seq_len: it changes the base once seq_len exceeds
 * max_position (base * (factor * seq_len / max_pos - (factor - 1)) ^
 * (d / (d - 2))); below that it equals the default frequencies. */
void nv_rope_inv_freq(const nv_rope_config *rope, int head_dim,
                      int64_t seq_len, float *inv_freq);

/* cos/sin tables [T][head_dim/2] for positions pos0 .. pos0 + T - 1. */
void nv_rope_tables(const float *inv_freq, int head_dim, int64_t pos0, int T,
                    float *cos_out, float *sin_out);

/* Rotates x [T][n_heads][head_dim] in place; row t starts at x + t *
 * row_stride and uses table row t. */
void nv_rope_apply(float *x, int T, int n_heads, int head_dim, int row_stride,
                   const float *cos_tab, const float *sin_tab);

#endif
