/* test_decoder_sampling.c - greedy, temperature, top-k and top-p sampling.
 *
 * The reference is the distribution each setting defines: for logits
 * log(p) the sampler must draw token i with probability p_i ^ (1/temp),
 * renormalised over the top-k tokens or over the smallest most-likely set
 * whose mass reaches top_p. Each case draws N = 200000 tokens and checks
 * every frequency within 5 standard deviations (sqrt(p (1 - p) / N)) of
 * its probability, and that excluded tokens are never drawn. Tokens are
 * placed in a shuffled order so ids and ranks differ. A seed reproduces a
 * run; different seeds give different runs.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "text/sampling.h"

#define V 6
#define N_DRAWS 200000

/* Token ids of the probabilities below, in a shuffled order. */
static const int ids[V] = {3, 0, 5, 1, 4, 2};
static const double probs[V] = {0.4, 0.25, 0.15, 0.1, 0.07, 0.03};

static void make_logits(float *logits)
{
    for (int r = 0; r < V; r++)
        logits[ids[r]] = (float)log(probs[r]) + 1.5f;
}

/* Draws N_DRAWS tokens and compares with want[rank] (0 = never drawn). */
static void check_distribution(const char *what, float temperature,
                               int top_k, float top_p, const double *want)
{
    float logits[V];
    make_logits(logits);
    nv_sampler s;
    nv_error err = {{0}};
    if (!CHECK(nv_sampler_init(&s, V, temperature, top_k, top_p, 1234,
                               &err) == 0))
        return;
    long count[V] = {0};
    int ok = 1;
    for (int i = 0; i < N_DRAWS; i++) {
        int id = nv_sampler_pick(&s, logits);
        if (id >= 0 && id < V)
            count[id]++;
        else
            ok = 0;
    }
    double worst_sigma = 0;
    for (int r = 0; r < V; r++) {
        double f = (double)count[ids[r]] / N_DRAWS;
        if (want[r] == 0) {
            ok &= count[ids[r]] == 0;
            continue;
        }
        double sigma = sqrt(want[r] * (1 - want[r]) / N_DRAWS);
        double z = fabs(f - want[r]) / sigma;
        worst_sigma = z > worst_sigma ? z : worst_sigma;
    }
    printf("  %-28s worst deviation %.2f sigma (tol 5)%s\n", what,
           worst_sigma, ok ? "" : ", EXCLUDED TOKEN DRAWN");
    check_true(ok && worst_sigma <= 5.0, what, __FILE__, __LINE__);
    nv_sampler_free(&s);
}

/* p^(1/temp) over the first `keep` ranks, renormalised. */
static void expected(double temperature, int keep, double *want)
{
    double total = 0;
    for (int r = 0; r < V; r++) {
        want[r] = r < keep ? pow(probs[r], 1.0 / temperature) : 0;
        total += want[r];
    }
    for (int r = 0; r < V; r++)
        want[r] /= total;
}

static void test_distributions(void)
{
    double want[V];
    expected(1.0, V, want);
    check_distribution("temperature 1", 1.0f, 0, 1.0f, want);
    expected(0.5, V, want);
    check_distribution("temperature 0.5", 0.5f, 0, 1.0f, want);
    expected(2.0, V, want);
    check_distribution("temperature 2", 2.0f, 0, 1.0f, want);
    expected(1.0, 3, want);
    check_distribution("top-k 3", 1.0f, 3, 1.0f, want);
    /* 0.4 + 0.25 = 0.65 < 0.7 <= 0.8: three tokens stay. */
    expected(1.0, 3, want);
    check_distribution("top-p 0.7", 1.0f, 0, 0.7f, want);
    expected(1.0, 1, want);
    check_distribution("top-p 0.3", 1.0f, 0, 0.3f, want);
    /* top-k first (4 tokens: 0.4 .25 .15 .1, renormalised by 0.9), then
     * top-p 0.75 of that: 0.444 + 0.278 = 0.722 < 0.75, so three. */
    expected(1.0, 3, want);
    check_distribution("top-k 4 then top-p 0.75", 1.0f, 4, 0.75f, want);
    /* Temperature applies before top-p: at temp 0.5 the probabilities are
     * 0.16 .0625 ... / 0.2608 -> 0.613, 0.240: top-p 0.85 keeps two. */
    expected(0.5, 2, want);
    check_distribution("temperature 0.5, top-p 0.85", 0.5f, 0, 0.85f, want);
}

static void test_greedy_and_seeds(void)
{
    float x[7] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, NAN, 2.0f};
    CHECK(nv_argmax(x, 7) == 1);
    float nan_first[3] = {NAN, -5.0f, -7.0f};
    CHECK(nv_argmax(nan_first, 3) == 1);

    nv_error err = {{0}};
    nv_sampler greedy, topk1, a, b, c;
    CHECK(nv_sampler_init(&greedy, 7, 0.0f, 0, 1.0f, 1, &err) == 0);
    CHECK(nv_sampler_init(&topk1, 7, 1.0f, 1, 1.0f, 1, &err) == 0);
    CHECK(nv_sampler_pick(&greedy, x) == 1 && nv_sampler_pick(&topk1, x) == 1);

    float logits[V];
    make_logits(logits);
    CHECK(nv_sampler_init(&a, V, 1.0f, 0, 1.0f, 42, &err) == 0);
    CHECK(nv_sampler_init(&b, V, 1.0f, 0, 1.0f, 42, &err) == 0);
    CHECK(nv_sampler_init(&c, V, 1.0f, 0, 1.0f, 43, &err) == 0);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 200; i++) {
        int ta = nv_sampler_pick(&a, logits), tb = nv_sampler_pick(&b, logits);
        int tc = nv_sampler_pick(&c, logits);
        same_ab &= ta == tb;
        same_ac &= ta == tc;
    }
    CHECK(same_ab && !same_ac);

    nv_rng rng;
    nv_rng_seed(&rng, 7);
    int in_range = 1;
    double mean = 0;
    for (int i = 0; i < 100000; i++) {
        float u = nv_rng_uniform(&rng);
        in_range &= u >= 0.0f && u < 1.0f;
        mean += u;
    }
    mean /= 100000;
    CHECK(in_range && fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / 100000));

    /* All logits -inf but one; -inf everywhere still returns an id. */
    float spike[4] = {-INFINITY, -INFINITY, 3.0f, -INFINITY};
    nv_sampler s4;
    CHECK(nv_sampler_init(&s4, 4, 1.0f, 0, 0.9f, 5, &err) == 0);
    CHECK(nv_sampler_pick(&s4, spike) == 2);
    float none[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int id = nv_sampler_pick(&s4, none);
    CHECK(id >= 0 && id < 4);

    nv_sampler_free(&s4);

    CHECK(nv_sampler_init(&s4, 4, 1.0f, 0, 0.0f, 5, &err) == -1);
    CHECK(nv_sampler_init(&s4, 0, 1.0f, 0, 1.0f, 5, &err) == -1);

    nv_sampler_free(&greedy);
    nv_sampler_free(&topk1);
    nv_sampler_free(&a);
    nv_sampler_free(&b);
    nv_sampler_free(&c);
}

/* nv_log_softmax_at against the definition in long double, and on
 * logits whose exp() overflows a double (the max is subtracted first). */
static void test_log_softmax(void)
{
    float logits[V];
    make_logits(logits);
    long double sum = 0;
    for (int i = 0; i < V; i++)
        sum += expl((long double)logits[i]);
    for (int i = 0; i < V; i++) {
        double want = (double)((long double)logits[i] - logl(sum));
        CHECK(fabs(nv_log_softmax_at(logits, V, i) - want) < 1e-12);
    }
    float big[3] = {1000.0f, 999.0f, -1000.0f};
    double lse = 1000.0 + log(1.0 + exp(-1.0) + exp(-2000.0));
    CHECK(fabs(nv_log_softmax_at(big, 3, 0) - (1000.0 - lse)) < 1e-12);
    CHECK(fabs(nv_log_softmax_at(big, 3, 1) - (999.0 - lse)) < 1e-12);
    CHECK(isfinite(nv_log_softmax_at(big, 3, 2)));
}

int main(void)
{
    test_log_softmax();
    test_distributions();
    test_greedy_and_seeds();
    return check_summary("test_decoder_sampling");
}
