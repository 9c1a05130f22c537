/* sampling.h - picking the next token from a row of logits.
 *
 * Greedy takes the first maximum (as torch.argmax does). Sampling applies,
 * in Hugging Face's order, temperature, then top-k, then top-p (the smallest
 * set of most likely tokens whose probability reaches top_p, always at least
 * one), and draws from what is left with a seeded PRNG (xoshiro256**) held in
 * the sampler, so a seed reproduces a run. Stop tokens are the caller's job.
 *
 * Ownership: the sampler owns a [vocab] scratch of candidates allocated at
 * init, so sampling a token allocates nothing.
 */
#ifndef NV_SAMPLING_H
#define NV_SAMPLING_H

#include <stdint.h>

#include "core/error.h"

typedef struct nv_rng {
    uint64_t s[4];
} nv_rng;

void nv_rng_seed(nv_rng *rng, uint64_t seed);
uint64_t nv_rng_next(nv_rng *rng);
/* Uniform in [0, 1) with 24 random bits. */
float nv_rng_uniform(nv_rng *rng);

typedef struct nv_sampler_candidate {
    float logit;
    int id;
} nv_sampler_candidate;

typedef struct nv_sampler {
    int vocab_size;
    float temperature; /* <= 0: greedy */
    int top_k;         /* <= 0 or >= vocab: off */
    float top_p;       /* >= 1: off */
    nv_rng rng;
    nv_sampler_candidate *cand; /* owned, [vocab_size] */
} nv_sampler;

/* First index of the largest value (NaN never wins). */
int nv_argmax(const float *x, int n);

/* log softmax(logits)[id] over n logits, computed stably. */
double nv_log_softmax_at(const float *logits, int n, int id);

int nv_sampler_init(nv_sampler *s, int vocab_size, float temperature,
                    int top_k, float top_p, uint64_t seed, nv_error *err);
void nv_sampler_free(nv_sampler *s);

/* Next token id for logits[vocab_size]. */
int nv_sampler_pick(nv_sampler *s, const float *logits);

#endif
