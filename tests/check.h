/* check.h - the few helpers every C test uses. A test is a plain program
 * that returns 0 when every check passed; meson test runs it. Each failed
 * check prints where and why; check_summary() prints the count and gives
 * the exit status. */
#ifndef NV_TESTS_CHECK_H
#define NV_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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

/* Exit status meson reads as "skipped". */
#define CHECK_SKIP 77

/* Path of the shared reference data (../shared/golden from the project
 * root, or meson's -Dgolden_dir), given to tests by meson as NV_GOLDEN_DIR.
 * It is not part of the repository, so a test that needs it and does not
 * find it skips (exit 77) with a one-line reason rather than failing; checks
 * that already failed still fail the test. */
static inline const char *check_golden_dir(void)
{
    const char *d = getenv("NV_GOLDEN_DIR");
    struct stat sb;
    if (d && *d && stat(d, &sb) == 0 && S_ISDIR(sb.st_mode))
        return d;
    if (check_failures) {
        fprintf(stderr, "%d checks failed before the reference data was "
                "needed\n", check_failures);
        exit(1);
    }
    printf("SKIP: reference data not found at %s (NV_GOLDEN_DIR; "
           "../shared/golden beside the checkout, see README.md)\n",
           d && *d ? d : "(NV_GOLDEN_DIR not set)");
    exit(CHECK_SKIP);
}

#endif
