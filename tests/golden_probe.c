/* golden_probe.c - the smallest test that needs the reference data: it
 * runs one check, then asks check_golden_dir() for NV_GOLDEN_DIR. Run by
 * golden_skip.sh with the data absent to see that such a test is skipped
 * (exit 77, with a reason), and with a failed check first to see that the
 * failure is not hidden by the skip. */
#include <string.h>

#include "check.h"

int main(int argc, char **argv)
{
    /* "fail-first": a check fails before the data is needed. */
    CHECK(!(argc > 1 && !strcmp(argv[1], "fail-first")));
    const char *dir = check_golden_dir();
    CHECK(dir != NULL);
    return check_summary("golden_probe");
}
