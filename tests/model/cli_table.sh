#!/usr/bin/env bash
# cli_table.sh - `nvlm table --whole` and `nvlm eval --whole` end to end on
# the reference fixture model (random weights: the point is the plumbing,
# not accuracy): table output is a well-formed Markdown table or a clear
# "no table" error; --json and -o work; eval scores every image of a folder
# with a truth, writes well-formed JSON with scores in [0, 1], and refuses
# bad input. The grid + cell-reader path is tests/model/cli_table_cells.sh.
set -u
: "${NVLM_BIN:?}" "${NV_FIXTURE_DIR:?}" "${NV_SOURCE_ROOT:?}"
. "$(dirname "$0")/../golden.sh"
py=/usr/bin/python3
tiny="$NV_FIXTURE_DIR/tiny_nvlm"
samples="$NV_SOURCE_ROOT/assets/samples"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

# Every line of a table printed by `nvlm table` is a row with the same
# number of cells, and the second line is the separator.
well_formed() {
    $py - "$1" <<'PY'
import re, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().rstrip("\n").split("\n")
assert len(lines) >= 2, lines
def cells(l):
    assert l.startswith("| ") and l.endswith(" |"), l
    return re.split(r"(?<!\\) \| ", l[2:-2])
n = len(cells(lines[0]))
assert all(c == "---" for c in cells(lines[1])), lines[1]
assert all(len(cells(l)) == n for l in lines), lines
assert not any(ord(ch) < 32 for l in lines for ch in l), "control characters"
PY
}

for head in d x h; do
    checks=$((checks + 1))
    "$NVLM_BIN" table --whole -m "$tiny" --fusion $head -n 60 "$samples/table1.png" >"$tmp/t.md" 2>"$tmp/err"
    status=$?
    if [ $status = 0 ]; then
        well_formed "$tmp/t.md" || fail "table --fusion $head: not well-formed: $(cat "$tmp/t.md")"
    elif [ $status = 1 ] && grep -q "before the table ended: it is cut off" "$tmp/err"; then
        # cut at -n: flagged, and what was read is still a well-formed table
        well_formed "$tmp/t.md" || fail "table --fusion $head: cut table not well-formed"
    elif [ $status = 1 ]; then
        grep -q "wrote no Markdown table" "$tmp/err" || fail "table --fusion $head: $(cat "$tmp/err")"
    else
        fail "table --fusion $head: exit $status"
    fi
done

checks=$((checks + 1))
if "$NVLM_BIN" table --whole -m "$tiny" -n 60 -o "$tmp/out.md" "$samples/table1.png" 2>/dev/null; then
    well_formed "$tmp/out.md" || fail "table -o: not well-formed"
fi

checks=$((checks + 1))
cp "$samples"/table1.png "$samples"/table1.md "$samples"/table2.png "$samples"/table2.md "$tmp/"
if "$NVLM_BIN" eval --whole -m "$tiny" --data "$tmp" -n 40 --json "$tmp/scores.json" >"$tmp/eval.md" 2>"$tmp/err"; then
    $py - "$tmp/scores.json" <<'PY' || fail "eval --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["images"] == 2
assert set(d["fusions"]) == {"d", "x", "h"}
for f in d["fusions"].values():
    assert len(f["per_image"]) == 2
    for k in ("exact_match", "cell_accuracy", "teds"):
        assert 0 <= f[k] <= 1, (k, f[k])
PY
    grep -q "^| d | 2 |" "$tmp/eval.md" || fail "eval summary: $(cat "$tmp/eval.md")"
else
    fail "eval: $(cat "$tmp/err")"
fi

expect_error() {
    local want_status=$1 pattern=$2; shift 2
    checks=$((checks + 1))
    "$NVLM_BIN" "$@" >/dev/null 2>"$tmp/err"; local status=$?
    [ "$status" = "$want_status" ] || fail "nvlm $*: exit $status, want $want_status"
    grep -q -- "$pattern" "$tmp/err" || fail "nvlm $*: stderr '$(cat "$tmp/err")' lacks '$pattern'"
}
expect_error 2 "IMAGE is required" table -m "$tiny"
expect_error 1 "cannot open" table --whole -m "$tiny" "$tmp/missing.png"
expect_error 1 "no cell reader" table -m "$tiny" "$samples/table1.png"
expect_error 2 "--data DIR is required" eval -m "$tiny"
mkdir -p "$tmp/nolabel" && cp "$samples/table1.png" "$tmp/nolabel/"
expect_error 1 "table1.md" eval -m "$tiny" --data "$tmp/nolabel"
have_golden && expect_error 1 "no 'x' head" eval -m "$NV_GOLDEN_DIR/hf/internvl_tiles/model" --data "$tmp" --fusion x

echo "cli_table: $checks checks, $failures failed"
golden_exit cli_table "$failures"
