# golden.sh - sourced by the shell tests that read the reference data in
# NV_GOLDEN_DIR (../shared/golden beside the checkout, or meson's
# -Dgolden_dir). That data is not part of the repository: without it the
# checks that need it are left out and the test ends as skipped (exit 77,
# which meson reports as SKIP) with a one-line reason, unless a check that
# could run failed.

# True when the reference data is there.
have_golden() { [ -n "${NV_GOLDEN_DIR:-}" ] && [ -d "$NV_GOLDEN_DIR" ]; }

golden_reason() {
    echo "reference data not found at ${NV_GOLDEN_DIR:-(NV_GOLDEN_DIR not set)}" \
         "(NV_GOLDEN_DIR; ../shared/golden beside the checkout, see README.md)"
}

# For a test that needs the data throughout: skips now without it.
skip_without_golden() {
    have_golden && return 0
    echo "SKIP: $(golden_reason)"
    exit 77
}

# golden_exit NAME FAILURES: the end of a test that ran its other checks
# either way: 1 on failures, else 77 when the golden checks were left out.
golden_exit() {
    if [ "$2" != 0 ]; then
        exit 1
    fi
    if ! have_golden; then
        echo "SKIP: $1: the checks without reference data passed; $(golden_reason)"
        exit 77
    fi
    exit 0
}
