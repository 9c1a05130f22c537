/* rope.c - rotary position embedding; see rope.h. */
#include "text/rope.h"

#include <math.h>

/* transformers: 1 / base ** (arange(0, d, 2).float() / d), a float32 power
 * of the (float32-rounded) base. */
static void default_inv_freq(double base, int head_dim, float *inv_freq)
{
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float expo = (float)(2 * i) / (float)head_dim;
        inv_freq[i] = 1.0f / powf((float)base, expo);
    }
}

/* transformers _compute_llama3_parameters: long wavelengths are divided by
 * factor, short ones kept, the band in between blended smoothly. */
static void llama3_adjust(const nv_rope_config *rope, int half,
                          float *inv_freq)
{
    double factor = rope->factor;
    double low = rope->low_freq_factor, high = rope->high_freq_factor;
    double old_len = (double)rope->original_max_pos;
    double low_freq_wavelen = old_len / low;
    double high_freq_wavelen = old_len / high;
    for (int i = 0; i < half; i++) {
        float f = inv_freq[i];
        float wavelen = (float)(2.0 * M_PI) / f;
        float scaled = wavelen > low_freq_wavelen ? f / (float)factor : f;
        if (!(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen)) {
            float smooth = (float)((old_len / wavelen - low) / (high - low));
            scaled = (1.0f - smooth) * scaled / (float)factor +
                     smooth * scaled;
        }
        inv_freq[i] = scaled;
    }
}

void nv_rope_inv_freq(const nv_rope_config *rope, int head_dim,
                      int64_t seq_len, float *inv_freq)
{
    int half = head_dim / 2;
    double base = rope->theta;
    if (rope->type == NV_ROPE_DYNAMIC) {
        /* transformers _compute_dynamic_ntk_parameters: seq_len below the
         * trained length leaves the base unchanged. */
        double max_pos = (double)rope->max_position;
        double len = seq_len > rope->max_position ? (double)seq_len : max_pos;
        double d = (double)head_dim;
        base *= pow(rope->factor * len / max_pos - (rope->factor - 1.0),
                    d / (d - 2.0));
    }
    default_inv_freq(base, head_dim, inv_freq);
    if (rope->type == NV_ROPE_LINEAR) {
        for (int i = 0; i < half; i++)
            inv_freq[i] /= (float)rope->factor;
    } else if (rope->type == NV_ROPE_LLAMA3) {
        llama3_adjust(rope, half, inv_freq);
    }
}

void nv_rope_tables(const float *inv_freq, int head_dim, int64_t pos0, int T,
                    float *cos_out, float *sin_out)
{
    int half = head_dim / 2;
    for (int t = 0; t < T; t++) {
        /* PyTorch forms the angle as a float32 product. */
        float pos = (float)(pos0 + t);
        for (int i = 0; i < half; i++) {
            float angle = pos * inv_freq[i];
            cos_out[(long)t * half + i] = cosf(angle);
            sin_out[(long)t * half + i] = sinf(angle);
        }
    }
}

void nv_rope_apply(float *x, int T, int n_heads, int head_dim, int row_stride,
                   const float *cos_tab, const float *sin_tab)
{
    int half = head_dim / 2;
    for (int t = 0; t < T; t++) {
        const float *c = cos_tab + (long)t * half;
        const float *s = sin_tab + (long)t * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (long)t * row_stride + (long)h * head_dim;
            for (int i = 0; i < half; i++) {
                float x1 = v[i], x2 = v[i + half];
                v[i] = x1 * c[i] - x2 * s[i];
                v[i + half] = x2 * c[i] + x1 * s[i];
            }
        }
    }
}
