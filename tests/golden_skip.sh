#!/usr/bin/env bash
# golden_skip.sh - tests that need the reference data (../shared/golden,
# NV_GOLDEN_DIR) are skipped with a reason when it is absent, in C
# (check_golden_dir in check.h) and in shell (golden.sh), and a check that
# failed before is still a failure.
#   golden_skip.sh PROBE   (PROBE: the golden_probe program)
set -u
probe=${1:?golden_probe program}
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

# expect STATUS PATTERN COMMAND...: exit status and a line on stdout.
expect() {
    local want=$1 pattern=$2; shift 2
    checks=$((checks + 1))
    "$@" >"$tmp/out" 2>&1; local status=$?
    [ "$status" = "$want" ] || fail "$*: exit $status, want $want: $(cat "$tmp/out")"
    [ -z "$pattern" ] || grep -q -- "$pattern" "$tmp/out" || fail "$*: output '$(cat "$tmp/out")' lacks '$pattern'"
}

missing="$tmp/no-golden"
expect 77 "SKIP: reference data not found at $missing" env NV_GOLDEN_DIR="$missing" "$probe"
expect 77 "NV_GOLDEN_DIR not set" env -u NV_GOLDEN_DIR "$probe"
expect 1 "1 checks failed" env NV_GOLDEN_DIR="$missing" "$probe" fail-first
mkdir "$tmp/golden"
expect 0 "0 failed" env NV_GOLDEN_DIR="$tmp/golden" "$probe"

# Shell: skip_without_golden, and golden_exit after the other checks.
cat >"$tmp/whole.sh" <<SH
. "$here/golden.sh"
skip_without_golden
echo ran
SH
cat >"$tmp/part.sh" <<SH
. "$here/golden.sh"
golden_exit part "\$1"
SH
expect 77 "SKIP: reference data not found" env NV_GOLDEN_DIR="$missing" bash "$tmp/whole.sh"
expect 0 "ran" env NV_GOLDEN_DIR="$tmp/golden" bash "$tmp/whole.sh"
expect 77 "the checks without reference data passed" env NV_GOLDEN_DIR="$missing" bash "$tmp/part.sh" 0
expect 1 "" env NV_GOLDEN_DIR="$missing" bash "$tmp/part.sh" 2

echo "golden_skip: $checks checks, $failures failed"
[ "$failures" = 0 ]
