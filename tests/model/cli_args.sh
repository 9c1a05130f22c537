#!/usr/bin/env bash
# cli_args.sh - the command line as a new user meets it (issue 19), on the
# tiny_nvlm fixture and the bundled model, no reference data needed:
# one --fusion parser for ask, eval, bench and info (any case, lists where
# a command takes several, unknown or empty names refused with exit 2 and
# the known heads named); usage errors exit 2, runtime errors exit 1, each
# with a message naming the problem.
set -u
: "${NVLM_BIN:?}" "${NV_FIXTURE_DIR:?}" "${NV_SOURCE_ROOT:?}"
py=/usr/bin/python3
tiny="$NV_FIXTURE_DIR/tiny_nvlm"
samples="$NV_SOURCE_ROOT/assets/samples"
img="$samples/table1.png"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

# expect STATUS PATTERN ARGS...: exit status and a message on stderr.
expect() {
    local want=$1 pattern=$2; shift 2
    checks=$((checks + 1))
    "$NVLM_BIN" "$@" >"$tmp/out" 2>"$tmp/err"; local status=$?
    [ "$status" = "$want" ] || fail "nvlm $*: exit $status, want $want ($(head -c 300 "$tmp/err"))"
    [ -z "$pattern" ] || grep -q -- "$pattern" "$tmp/err" \
        || fail "nvlm $*: stderr '$(head -c 300 "$tmp/err")' lacks '$pattern'"
}

# ---- --fusion: one parser for every command ----
one="$tmp/one"
mkdir -p "$one" && cp "$samples/table1.png" "$samples/table1.md" "$one/"
for cmd in "eval -m $tiny --data $one -n 2" "bench -m $tiny --sizes 28x28 --repeat 1 --warmup 0 -n 1" \
           "ask -m $tiny -p q -n 1" "info -m $tiny"; do
    # shellcheck disable=SC2086
    expect 2 "unknown fusion 'q'; the heads are d, x and h" $cmd --fusion q
    # shellcheck disable=SC2086
    expect 2 "an empty name" $cmd --fusion ""
done
for cmd in "eval -m $tiny --data $one -n 2" "bench -m $tiny --sizes 28x28 --repeat 1 --warmup 0 -n 1"; do
    # shellcheck disable=SC2086
    expect 2 "unknown fusion 'q'" $cmd --fusion d,q
    # shellcheck disable=SC2086
    expect 2 "an empty name" $cmd --fusion d,
    # shellcheck disable=SC2086
    expect 2 "names 'd' twice" $cmd --fusion d,D
done
expect 2 "one head only" ask -m "$tiny" -p q --fusion d,x
expect 2 "unknown fusion 'dx'" ask -m "$tiny" -p q --fusion dx
# Upper case is the same head; eval and bench run the heads in the order given.
expect 0 "" eval -m "$tiny" --data "$one" -n 2 --fusion H,d
checks=$((checks + 1))
[ "$(grep -c '^| [dh] | 1 |' "$tmp/out")" = 2 ] && head -3 "$tmp/out" | grep -q '^| h |' \
    || fail "eval --fusion H,d: $(cat "$tmp/out")"
expect 0 "" bench -m "$tiny" --sizes 28x28 --repeat 1 --warmup 0 -n 1 --fusion X --json "$tmp/b.json"
checks=$((checks + 1))
$py -c 'import json,sys; r=json.load(open(sys.argv[1]))["rows"]; assert [x["fusion"] for x in r] == ["x"], r' \
    "$tmp/b.json" || fail "bench --fusion X: rows"
expect 0 "" ask -m "$tiny" --image "$img" -p q -n 1 --fusion D --json
checks=$((checks + 1))
$py -c 'import json,sys; assert json.load(open(sys.argv[1]))["fusion"] == "d"' "$tmp/out" \
    || fail "ask --fusion D"
expect 0 "" info -m "$tiny" --fusion X
checks=$((checks + 1))
grep -q "(loaded: x)" "$tmp/out" || fail "info --fusion X: $(cat "$tmp/out")"

echo "cli_args: $checks checks, $failures failed"
[ "$failures" = 0 ]
