#!/usr/bin/env bash
# cli_args.sh - the command line as a new user meets it (issue 19), on the
# tiny_nvlm fixture and the bundled model, no reference data needed:
# one --fusion parser for ask, eval, bench and info (any case, lists where
# a command takes several, unknown or empty names refused with exit 2 and
# the known heads named); why generation stopped (stop_reason) in ask
# --json and on stderr; bench --labels scoring whole answers as eval does;
# the bundled model as the default of tokenize and info; eval skipping
# images without a truth; usage errors exit 2, runtime errors exit 1, each
# with a message naming the problem, and refused before a model runs.
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
for cmd in "eval --whole -m $tiny --data $one -n 2" "bench -m $tiny --sizes 28x28 --repeat 1 --warmup 0 -n 1" \
           "ask -m $tiny -p q -n 1" "info -m $tiny"; do
    # shellcheck disable=SC2086
    expect 2 "unknown fusion 'q'; the heads are d, x and h" $cmd --fusion q
    # shellcheck disable=SC2086
    expect 2 "an empty name" $cmd --fusion ""
done
for cmd in "eval --whole -m $tiny --data $one -n 2" "bench -m $tiny --sizes 28x28 --repeat 1 --warmup 0 -n 1"; do
    # shellcheck disable=SC2086
    expect 2 "unknown fusion 'q'" $cmd --fusion d,q
    # shellcheck disable=SC2086
    expect 2 "an empty name" $cmd --fusion d,
    # shellcheck disable=SC2086
    expect 2 "names 'd' twice" $cmd --fusion d,D
done
expect 2 "unknown fusion 'Q'" bench --tables -m "$tiny" --fusion d,Q
expect 2 "one head only" ask -m "$tiny" -p q --fusion d,x
expect 2 "unknown fusion 'dx'" ask -m "$tiny" -p q --fusion dx
# Upper case is the same head; eval and bench run the heads in the order given.
expect 0 "" eval --whole -m "$tiny" --data "$one" -n 2 --fusion H,d
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

# ---- stop_reason: eos, limit, context ----
# The bundled model reads cells (a whole page is no task it was trained
# for): one cell tile of the sample, cut as `nvlm table` cuts it, asked with
# the cell reader's prompt, answers a few bytes and stops.
mkdir -p "$tmp/cells"
"$NVLM_BIN" table --dump-cells "$tmp/cells" "$img" >/dev/null 2>&1 ||
    fail "table --dump-cells"
cell="$tmp/cells/$(basename "${img%.*}")_r00_c01.ppm"
q="Read the cell."
# stop_reason_is FILE WANT: the --json of ask says why it stopped.
stop_reason_is() {
    checks=$((checks + 1))
    $py -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["stop_reason"] == sys.argv[2], d["stop_reason"]' \
        "$1" "$2" || fail "ask --json: stop_reason is not $2 ($*)"
}
expect 0 "" ask --image "$cell" --max-tiles 1 -p "$q" --json
stop_reason_is "$tmp/out" eos
cp "$tmp/out" "$tmp/full.json"
# A context 2 tokens past the prompt: the answer (longer than 2 tokens) must hit it.
ctx=$($py -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["generated_ids"]) > 3, d; print(len(d["prompt_ids"]) + 2)' "$tmp/full.json")
head5=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"][:5])' "$tmp/full.json")
checks=$((checks + 1))
grep -q "cut off" "$tmp/err" && fail "ask: a complete answer flagged as cut off"
expect 0 "stopped at the limit of 5 new tokens" ask --image "$cell" --max-tiles 1 -p "$q" -n 5 --json
stop_reason_is "$tmp/out" limit
checks=$((checks + 1))
[ "$($py -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["generated_ids"]))' "$tmp/out")" = 5 ] \
    || fail "ask -n 5: not 5 ids"
expect 0 "the context of $ctx tokens is full" ask --image "$cell" --max-tiles 1 -p "$q" -c "$ctx" --json
stop_reason_is "$tmp/out" context
expect 0 "may be cut off (-n N" ask --image "$cell" --max-tiles 1 -p "$q" -n 5
checks=$((checks + 1))
[ "$(head -c 5 "$tmp/out")" = "$head5" ] || fail "ask -n 5: the answer itself changed: $(cat "$tmp/out"), not $head5..."

# ---- ask: what is missing is said ----
expect 2 "nothing to ask: -p TEXT is required" ask
expect 2 "the question about $img" ask --image "$img"
expect 0 "no --image given" ask -p "What is in the table?" -n 2
expect 2 "--image given twice ('$img', then 'b.png')" ask --image "$img" --image b.png -p q
expect 2 "-p given twice" ask -p a -p b
# without an image the answer is not an empty line: text on stdout
expect 0 "no --image given" ask -m "$tiny" -p "What is in the table?" -n 3 \
    --ignore-eos
checks=$((checks + 1))
[ "$(tr -d '\n' <"$tmp/out" | wc -c)" -gt 0 ] \
    || fail "ask without --image printed an empty answer"
# --image - reads the image from standard input: the same answer as the file
checks=$((checks + 1))
"$NVLM_BIN" ask -m "$tiny" --image "$img" -p q -n 3 --ignore-eos --json \
    >"$tmp/file.json" 2>/dev/null
"$NVLM_BIN" ask -m "$tiny" --image - -p q -n 3 --ignore-eos --json \
    <"$img" >"$tmp/stdin.json" 2>/dev/null
$py - "$tmp/file.json" "$tmp/stdin.json" <<'PY' || fail "ask --image - differs from the file"
import json, sys
a, b = (json.load(open(p, "rb")) for p in sys.argv[1:3])
assert a["prompt_ids"] == b["prompt_ids"] and a["generated_ids"] == b["generated_ids"], (a, b)
PY
expect 1 "standard input: empty" ask -m "$tiny" --image - -p q </dev/null

# ---- -t: a thread count above 256 is a typo ----
expect 2 "in 1..256, not '1000'" ask -p q -t 1000
expect 2 "in 1..256, not '1000'" eval --data "$one" -t 1000
expect 2 "in 1..256, not '1000'" bench -t 1000

# ---- -m: what a model directory is ----
printf 'GGUF\003\000\000\000' >"$tmp/model.gguf"
expect 1 "model.gguf: a GGUF file, not a model directory: nvlm does not read GGUF (a model directory holds config.json" \
    ask -m "$tmp/model.gguf" -p q
expect 1 "table1.png: a file, not a model directory" info -m "$img"
expect 1 "nowhere: not a model directory: No such file or directory" eval -m "$tmp/nowhere" --data "$one"

# ---- outputs that cannot be written: refused before the model runs ----
expect 1 "--json $tmp/no/such/dir/s.json: cannot write there: No such file or directory" \
    eval --data "$one" --json "$tmp/no/such/dir/s.json"
checks=$((checks + 1))
grep -q "^\[d " "$tmp/err" && fail "eval --json into a missing folder ran the model first"
expect 1 "--chart $tmp/no/c.svg: cannot write there" bench --chart "$tmp/no/c.svg"
checks=$((checks + 1))
grep -q "TTFT" "$tmp/err" && fail "bench --chart into a missing folder ran the model first"
expect 1 "it is a directory" bench --json "$tmp"

# ---- bench: refusals before anything is announced or written ----
expect 2 "--random: unknown shape 'foo' (known: tiny, nvlm-1b, llama-134m, llama-11b)" bench --random foo
checks=$((checks + 1))
grep -q "writing" "$tmp/err" && fail "bench --random foo announced writing before refusing"
expect 2 "--max-tiles: '0'" bench --max-tiles 0
expect 2 "--sizes: 'abc'" bench --sizes abc

# ---- bench --labels scores whole answers, as eval --whole does ----
expect 0 "each answer is generated to its end" \
    bench --images "$one" --labels "$one" --fusion d --repeat 1 --warmup 0 --json "$tmp/bl.json"
expect 0 "" eval --whole --data "$one" --fusion d --json "$tmp/ev.json"
checks=$((checks + 1))
$py - "$tmp/bl.json" "$tmp/ev.json" <<'PY' || fail "bench --labels and eval disagree"
import json, sys
b = json.load(open(sys.argv[1]))
e = json.load(open(sys.argv[2]))["fusions"]["d"]["per_image"][0]
assert b["to_end"] is True, b["to_end"]
row = b["rows"][0]
assert row["stop_reason"] == "eos" and row["generated_tokens"] > 8, row
assert abs(row["scores"]["teds"] - e["teds"]) < 1e-12, (row["scores"], e)
PY
expect 0 "" bench --images "$one" --labels "$one" --fusion d --repeat 1 --warmup 0 -n 3 --json "$tmp/bn.json"
checks=$((checks + 1))
$py -c 'import json,sys; b=json.load(open(sys.argv[1])); assert not b["to_end"] and b["rows"][0]["generated_tokens"] == 3, b' \
    "$tmp/bn.json" || fail "bench --labels -n 3: not 3 tokens"

# ---- eval: images without a truth are skipped and said so ----
mkdir -p "$tmp/mixed" && cp "$samples/table1.png" "$samples/table1.md" "$samples/table2.png" "$tmp/mixed/"
expect 0 "skipping $tmp/mixed/table2.png: no $tmp/mixed/table2.md" \
    eval --whole -m "$tiny" --data "$tmp/mixed" -n 2 --fusion d --json "$tmp/mixed.json"
checks=$((checks + 1))
$py -c 'import json,sys; assert json.load(open(sys.argv[1]))["images"] == 1' "$tmp/mixed.json" \
    || fail "eval with one unlabelled image: not 1 image scored"

# ---- exit statuses: 2 for usage, the same in every command ----
for cmd in ask eval bench info tokenize table; do
    expect 2 "" $cmd --no-such-option
    expect 2 "needs a value\|incomplete option\|requires an argument\|needs" $cmd -m
done

# ---- bench --chart: whole-number tile ticks, no vertical segments where
# images share a tile count (the cap), no absolute path in the title ----
expect 0 "" bench -m "$tiny" --cost-only --sizes 28x28,56x28,84x56,112x84 --max-tiles 2 \
    --chart "$tmp/c.svg" --json "$tmp/c.json"
checks=$((checks + 1))
$py - "$tmp/c.svg" "$tmp/c.json" "$NV_FIXTURE_DIR" <<'PY' || fail "bench --chart"
import json, sys
import xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
rows = json.load(open(sys.argv[2]))["rows"]
assert sorted({r["tiles"] for r in rows}) == [1, 3], rows   # three images at the cap
texts = [t for t in root.iter(ns + "text")]
title = texts[0].text
assert title.startswith("nvlm bench: tiny_nvlm"), title
assert sys.argv[3] not in title and "/" not in title, title
# x ticks: the labels under each panel (font-size 11, text-anchor middle).
xt = [float(t.text) for t in texts if t.get("font-size") == "11" and t.get("text-anchor") == "middle"]
assert xt and all(v == int(v) for v in xt), xt
lines = list(root.iter(ns + "polyline"))
assert len(lines) == 6, len(lines)
for pl in lines:
    xs = [float(p.split(",")[0]) for p in pl.get("points").split()]
    assert xs == sorted(set(xs)), ("a vertical segment", pl.get("points"))
PY

echo "cli_args: $checks checks, $failures failed"
[ "$failures" = 0 ]
