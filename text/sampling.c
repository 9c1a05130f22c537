/* sampling.c - greedy, temperature, top-k and top-p; see sampling.h. */
#include "text/sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64 spreads one seed over the four state words. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void nv_rng_seed(nv_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t nv_rng_next(nv_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float nv_rng_uniform(nv_rng *rng)
{
    return (float)(nv_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

double nv_log_softmax_at(const float *logits, int n, int id)
{
    float max = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += exp((double)logits[i] - max);
    return (double)logits[id] - max - log(sum);
}

int nv_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i]))
            best = i;
    return best;
}

int nv_sampler_init(nv_sampler *s, int vocab_size, float temperature,
                    int top_k, float top_p, uint64_t seed, nv_error *err)
{
    memset(s, 0, sizeof *s);
    if (vocab_size < 1)
        return nv_fail(err, "sampler: vocabulary size %d", vocab_size);
    if (!(top_p > 0.0f))
        return nv_fail(err, "sampler: top_p %g must be > 0", (double)top_p);
    if (temperature != temperature)
        return nv_fail(err, "sampler: temperature is NaN");
    s->cand = malloc((size_t)vocab_size * sizeof *s->cand);
    if (!s->cand)
        return nv_fail(err, "sampler: out of memory");
    s->vocab_size = vocab_size;
    s->temperature = temperature;
    s->top_k = top_k;
    s->top_p = top_p;
    nv_rng_seed(&s->rng, seed);
    return 0;
}

void nv_sampler_free(nv_sampler *s)
{
    free(s->cand);
    memset(s, 0, sizeof *s);
}

/* Candidate order: larger logit first, then the lower id. */
static int better(const nv_sampler_candidate *a, const nv_sampler_candidate *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_desc(const void *pa, const void *pb)
{
    const nv_sampler_candidate *a = pa, *b = pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* Min-heap on `better`: the root is the worst of the kept candidates. */
static void sift_down(nv_sampler_candidate *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && better(&h[m], &h[l]))
            m = l;
        if (r < n && better(&h[m], &h[r]))
            m = r;
        if (m == i)
            return;
        nv_sampler_candidate t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Fills cand with the k best logits (k = vocab when top-k is off), sorted
 * best first when `sorted`. Returns the count. */
static int gather(nv_sampler *s, const float *logits, int k, int sorted)
{
    nv_sampler_candidate *c = s->cand;
    int V = s->vocab_size, n = 0;
    for (int i = 0; i < V; i++) {
        nv_sampler_candidate x = {logits[i] == logits[i] ? logits[i]
                                                        : -INFINITY, i};
        if (n < k) {
            c[n++] = x;
            if (n == k)
                for (int j = k / 2 - 1; j >= 0; j--)
                    sift_down(c, k, j);
        } else if (better(&x, &c[0])) {
            c[0] = x;
            sift_down(c, k, 0);
        }
    }
    if (sorted || k < V)
        qsort(c, (size_t)n, sizeof *c, cmp_desc);
    return n;
}

int nv_sampler_pick(nv_sampler *s, const float *logits)
{
    int V = s->vocab_size;
    if (s->temperature <= 0.0f || s->top_k == 1)
        return nv_argmax(logits, V);
    int k = s->top_k > 0 && s->top_k < V ? s->top_k : V;
    int use_top_p = s->top_p < 1.0f;
    int n = gather(s, logits, k, use_top_p);

    /* Softmax of logits / temperature over the candidates; the weights are
     * kept in the logit slots. */
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (s->cand[i].logit > mx)
            mx = s->cand[i].logit;
    if (mx == -INFINITY)
        return s->cand[0].id;
    double total = 0;
    for (int i = 0; i < n; i++) {
        float w = expf((s->cand[i].logit - mx) / s->temperature);
        s->cand[i].logit = w;
        total += w;
    }
    if (use_top_p) {
        /* Keep the best candidates until their mass reaches top_p. */
        double cum = 0;
        int keep = 0;
        while (keep < n) {
            cum += s->cand[keep++].logit;
            if (cum >= (double)s->top_p * total)
                break;
        }
        n = keep;
        total = cum;
    }
    double target = (double)nv_rng_uniform(&s->rng) * total;
    double cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->cand[i].logit;
        if (target < cum)
            return s->cand[i].id;
    }
    /* Rounding can leave target at the very top: take the last with mass. */
    for (int i = n - 1; i > 0; i--)
        if (s->cand[i].logit > 0)
            return s->cand[i].id;
    return s->cand[0].id;
}
