/* check.h - the few helpers every C test uses. A test is a plain program
 * that returns 0 when every check passed; meson test runs it. Each failed
 * check prints where and why; check_summary() prints the count and gives
 * the exit status. */
#ifndef NV_TESTS_CHECK_H
#define NV_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;

static inline int check_true(int cond, const char *what, const char *file,
                             int line)
{
    check_count++;
    if (!cond) {
        check_failures++;
        fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
    }
    return cond;
}

#define CHECK(cond) check_true((cond) ? 1 : 0, #cond, __FILE__, __LINE__)

/* Largest |a - b| over n values. */
static inline double check_max_abs_diff(const float *a, const float *b,
                                        long n)
{
    double m = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d)
            m = d != d ? INFINITY : d;
    }
    return m;
}

/* Largest |x| over n values: the scale of a relative tolerance. */
static inline double check_max_abs(const float *x, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++)
        if (fabs((double)x[i]) > m)
            m = fabs((double)x[i]);
    return m;
}

static inline int check_summary(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

/* Path of the shared reference data (../shared/golden from the project
 * root), given to tests by meson as NV_GOLDEN_DIR. A test that needs it and
 * does not find it fails. */
static inline const char *check_golden_dir(void)
{
    const char *d = getenv("NV_GOLDEN_DIR");
    if (!d || !*d) {
        fprintf(stderr, "NV_GOLDEN_DIR is not set\n");
        exit(1);
    }
    return d;
}

#endif
