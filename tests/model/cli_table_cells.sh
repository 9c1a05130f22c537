#!/usr/bin/env bash
# cli_table_cells.sh - `nvlm table`'s default path (layout finds the grid,
# the model reads each cell) end to end on the reference fixture model with
# a cell reader added to its config (random weights: the grid is the
# layout's and must match the truth's shape; the cells are noise but must
# stay inside a well-formed table). Also --layout, --debug-png,
# --dump-cells, several images, --json, and the refusals: no table in the
# image (blank, one line, a photo), an unreadable image, -o into a missing
# folder (refused before any model runs), standard input ("-"), --fusion,
# --temp/--seed, re-reading, cells read side by side (-t), and a reading
# cut at -n (flagged, exit 1).
set -u
: "${NVLM_BIN:?}" "${NV_FIXTURE_DIR:?}" "${NV_SOURCE_ROOT:?}"
py=/usr/bin/python3
samples="$NV_SOURCE_ROOT/assets/samples"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }
# The fixture's random weights rarely end a cell within a few tokens: a
# reading cut at -n exits 1 with "cut at -n" on stderr and still prints
# its table. read_ok STATUS ERRFILE: 0 for a whole reading or that.
read_ok() { [ "$1" = 0 ] || { [ "$1" = 1 ] && grep -q "cut at -n" "$2"; }; }

# The tiny fixture with a cell reader (the weights and tokenizer linked).
cells="$tmp/tiny_cells"
mkdir -p "$cells"
ln -s "$NV_FIXTURE_DIR/tiny_nvlm/model.safetensors" "$cells/"
ln -s "$NV_FIXTURE_DIR/tiny_nvlm/tokenizer.json" "$cells/"
$py - "$NV_FIXTURE_DIR/tiny_nvlm/config.json" "$cells/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
# The fixture's tiles are 28 px: four strips of 7, text lines of 5.
c["nvlm_cell_reader"] = {"prompt": "Read the cell.", "line_height": 5, "strip_height": 7}
json.dump(c, open(sys.argv[2], "w"))
PY

# rows x columns of a Markdown table file (header counted as a row).
shape() {
    $py - "$1" <<'PY'
import re, sys
lines = [l for l in open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n")
         if l.startswith("|")]
def cells(l):
    assert l.startswith("| ") and l.endswith(" |"), l
    return re.split(r"(?<!\\) \| ", l[2:-2])
assert all(c == "---" for c in cells(lines[1])), lines[1]
n = len(cells(lines[0]))
assert all(len(cells(l)) == n for l in lines), lines
assert not any(ord(ch) < 32 for l in lines for ch in l), "control characters"
print("%dx%d" % (len(lines) - 1, n))
PY
}

# The layout alone finds each sample's grid exactly.
for md in "$samples"/*.md; do
    checks=$((checks + 1))
    img="${md%.md}.png"
    want=$(shape "$md")
    got=$("$NVLM_BIN" table --layout "$img" | $py -c \
        'import json,sys; d=json.load(sys.stdin); print("%sx%s" % (d["rows"], d["cols"]))')
    [ "$got" = "$want" ] || fail "--layout $(basename "$img"): $got, truth $want"
done

# Each head reads into a well-formed table of the layout's shape.
for head in d x h; do
    checks=$((checks + 1))
    "$NVLM_BIN" table -m "$cells" --fusion $head -n 8 "$samples/table1.png" \
        >"$tmp/t.md" 2>"$tmp/err"
    if read_ok $? "$tmp/err"; then
        got=$(shape "$tmp/t.md") || fail "table --fusion $head: not well-formed: $(cat "$tmp/t.md")"
        [ "$got" = "$(shape "$samples/table1.md")" ] || fail "table --fusion $head: shape $got"
    else
        fail "table --fusion $head: $(cat "$tmp/err")"
    fi
done

# Several images: each table after a comment naming its image; --json: one
# object per image with the counts.
checks=$((checks + 1))
"$NVLM_BIN" table -m "$cells" -n 4 "$samples/table1.png" "$samples/table3.png" \
    >"$tmp/two.md" 2>"$tmp/err"
read_ok $? "$tmp/err" || fail "two images: $(cat "$tmp/err")"
[ "$(grep -c '^<!-- ' "$tmp/two.md")" = 2 ] || fail "two images: $(head -3 "$tmp/two.md")"
checks=$((checks + 1))
"$NVLM_BIN" table -m "$cells" -n 4 --json "$samples/table4.png" >"$tmp/j.json" 2>"$tmp/err"
read_ok $? "$tmp/err" || fail "--json: $(cat "$tmp/err")"
$py - "$tmp/j.json" <<'PY' || fail "--json: $(cat "$tmp/j.json")"
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["mode"] == "cells" and d["rows"] == 5 and d["cols"] == 4, d
assert d["cells_read"] + d["cells_empty"] + d["cells_failed"] == 20, d
assert d["markdown"].startswith("| "), d
PY

# --debug-png writes a PNG of the image's size; --dump-cells one tile per
# non-empty cell.
checks=$((checks + 1))
"$NVLM_BIN" table --debug-png "$tmp/dbg.png" "$samples/table2.png" >/dev/null 2>&1 \
    || fail "--debug-png: exit $?"
$py -c "from PIL import Image; import sys; assert Image.open(sys.argv[1]).size == (445, 291)" \
    "$tmp/dbg.png" || fail "--debug-png: bad PNG"
checks=$((checks + 1))
# the folder is made when missing; a missing parent is a clear refusal
"$NVLM_BIN" table -m "$cells" --dump-cells "$tmp/tiles" "$samples/table2.png" 2>/dev/null \
    || fail "--dump-cells: exit $?"
checks=$((checks + 1))
if "$NVLM_BIN" table -m "$cells" --dump-cells "$tmp/none/tiles" "$samples/table2.png" \
    2>"$tmp/dump_err"; then
    fail "--dump-cells under a missing folder: exit 0"
fi
grep -q "cannot make --dump-cells folder $tmp/none/tiles" "$tmp/dump_err" \
    || fail "--dump-cells under a missing folder: $(cat "$tmp/dump_err")"
n=$(ls "$tmp/tiles" | grep -c "\.ppm$")
want=$($py -c "import sys; t=open(sys.argv[1]).read().split('\n'); rows=[l for l in t if l.startswith('|')]; rows=rows[:1]+rows[2:]; import re; print(sum(1 for l in rows for c in re.split(r'(?<!\\\\) \| ', l[2:-2]) if c.strip()))" "$samples/table2.md")
[ "$n" = "$want" ] || fail "--dump-cells: $n tiles, $want non-empty cells"

# No table: one clear line and exit 1, never an invented table.
$py - "$tmp" <<'PY'
import sys
from PIL import Image, ImageDraw
import numpy as np
d = sys.argv[1]
Image.new("RGB", (300, 200), (255, 255, 255)).save(d + "/blank.png")
rng = np.random.default_rng(1)
Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(d + "/noise.png")
g = np.linspace(0, 255, 300, dtype=np.uint8)
Image.fromarray(np.stack([np.tile(g, (200, 1))] * 3, -1)).save(d + "/gradient.png")
im = Image.new("RGB", (300, 60), (255, 255, 255))
ImageDraw.Draw(im).text((10, 20), "just one line of text here", fill=(0, 0, 0))
im.save(d + "/oneline.png")
PY
for name in blank noise gradient oneline; do
    checks=$((checks + 1))
    "$NVLM_BIN" table -m "$cells" "$tmp/$name.png" >"$tmp/out" 2>"$tmp/err"
    status=$?
    [ $status = 1 ] || fail "$name: exit $status"
    [ -s "$tmp/out" ] && fail "$name: printed a table: $(cat "$tmp/out")"
    grep -q "no table found" "$tmp/err" || fail "$name: $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" = 1 ] || fail "$name: more than one line: $(cat "$tmp/err")"
done
checks=$((checks + 1))
"$NVLM_BIN" table -m "$cells" --json "$tmp/blank.png" >"$tmp/out" 2>/dev/null
$py -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['markdown'] is None and 'no table' in d['error']" \
    "$tmp/out" || fail "--json no table: $(cat "$tmp/out")"

expect_error() {
    local want_status=$1 pattern=$2; shift 2
    checks=$((checks + 1))
    "$NVLM_BIN" "$@" >/dev/null 2>"$tmp/err"; local status=$?
    [ "$status" = "$want_status" ] || fail "nvlm $*: exit $status, want $want_status"
    grep -q -- "$pattern" "$tmp/err" || fail "nvlm $*: stderr '$(cat "$tmp/err")' lacks '$pattern'"
}
printf 'not an image' >"$tmp/bad.png"
expect_error 1 "bad.png" table -m "$cells" "$tmp/bad.png"
expect_error 1 "missing_dir" table -m "$cells" -o "$tmp/missing_dir/out.md" "$samples/table1.png"
expect_error 2 "does not go" table --whole --layout "$samples/table1.png"
expect_error 2 "unknown argument" table --bogus "$samples/table1.png"

# "-" reads the image from standard input: the same table as from the file;
# given twice or empty, refused.
checks=$((checks + 1))
"$NVLM_BIN" table -m "$cells" -n 4 "$samples/table3.png" >"$tmp/file.md" 2>/dev/null
"$NVLM_BIN" table -m "$cells" -n 4 - <"$samples/table3.png" >"$tmp/stdin.md" 2>"$tmp/err"
read_ok $? "$tmp/err" || fail "table -: $(cat "$tmp/err")"
cmp -s "$tmp/file.md" "$tmp/stdin.md" || fail "table - differs from the file's table"
expect_error 2 "given twice" table -m "$cells" - - <"$samples/table3.png"
expect_error 1 "standard input: empty" table -m "$cells" - </dev/null
# One --fusion parser: any case, unknown heads refused.
expect_error 2 "unknown fusion" table -m "$cells" --fusion q "$samples/table1.png"
checks=$((checks + 1))
"$NVLM_BIN" table -m "$cells" --fusion X -n 4 "$samples/table1.png" >/dev/null 2>"$tmp/err"
read_ok $? "$tmp/err" || fail "--fusion X: $(cat "$tmp/err")"
# --temp / --seed: sampled cells, the same for the same seed.
checks=$((checks + 1))
"$NVLM_BIN" table -m "$cells" -n 4 --temp 0.9 --seed 7 "$samples/table1.png" >"$tmp/s1.md" 2>/dev/null
"$NVLM_BIN" table -m "$cells" -n 4 --temp 0.9 --seed 7 "$samples/table1.png" >"$tmp/s2.md" 2>/dev/null
cmp -s "$tmp/s1.md" "$tmp/s2.md" && shape "$tmp/s1.md" >/dev/null \
    || fail "--temp --seed: not repeatable or not well-formed"
expect_error 2 "--temp" table -m "$cells" --temp -1 "$samples/table1.png"
# Doubted cells are read again (greedy only): --reread-below 0 never, 1
# every cell (a random model is never sure), sampling never; the count is
# in --json, the table keeps its shape; a threshold outside 0..1 is refused.
checks=$((checks + 1))
for r in 0 1; do
    "$NVLM_BIN" table -m "$cells" -n 4 --json --reread-below $r "$samples/table1.png" \
        >"$tmp/rr$r.json" 2>/dev/null
done
"$NVLM_BIN" table -m "$cells" -n 4 --json --reread-below 1 --temp 0.9 --seed 7 \
    "$samples/table1.png" >"$tmp/rrt.json" 2>/dev/null
"$NVLM_BIN" table -m "$cells" -n 4 --json "$samples/table1.png" >"$tmp/rrd.json" 2>/dev/null
$py - "$tmp/rr0.json" "$tmp/rr1.json" "$tmp/rrt.json" "$tmp/rrd.json" <<'PY' || fail "--reread-below"
import json, sys
r0, r1, rt, rd = (json.load(open(p)) for p in sys.argv[1:])
assert r0["cells_reread"] == 0, r0
assert r1["cells_reread"] == r1["cells_read"] > 0, r1
assert rt["cells_reread"] == 0, rt
assert 0 <= rd["cells_reread"] <= rd["cells_read"], rd
for d in (r0, r1, rt, rd):
    assert (d["rows"], d["cols"]) == (r0["rows"], r0["cols"]) and d["markdown"], d
PY
# Cells are read side by side, one single-threaded model per thread
# (cli/table_readers.h): one, two or three readers, with every cell re-read
# from every view (many jobs, merged in job order), give the same table
# and counts; every reading after a reader's first starts from its chat
# template (prompt_tokens_reused).
checks=$((checks + 1))
for t in 1 2 3; do
    "$NVLM_BIN" table -m "$cells" -n 4 --json --reread-below 1 -t $t \
        "$samples/table1.png" "$samples/table2.png" >"$tmp/par$t.json" 2>/dev/null
done
$py - "$tmp/par1.json" "$tmp/par2.json" "$tmp/par3.json" <<'PY' || fail "readers side by side"
import json, sys
runs = []
for p in sys.argv[1:]:
    text = open(p).read()
    dec, at, objs = json.JSONDecoder(), 0, []
    while at < len(text):
        while at < len(text) and text[at].isspace():
            at += 1
        if at < len(text):
            o, at = dec.raw_decode(text, at)
            objs.append(o)
    runs.append(objs)
keys = ("markdown", "cells_read", "cells_reread", "prompt_tokens")
for objs in runs[1:]:
    assert len(objs) == len(runs[0]) == 2, objs
    for a, b in zip(runs[0], objs):
        assert all(a[k] == b[k] for k in keys), (a, b)
for objs in runs:
    for o in objs:
        assert 0 < o["prompt_tokens_reused"] < o["prompt_tokens"], o
PY
expect_error 2 "--reread-below" table -m "$cells" --reread-below 1.5 "$samples/table1.png"
expect_error 2 "--reread-below" table -m "$cells" --reread-below x "$samples/table1.png"
# A reading cut at -n is flagged (stderr, "truncated" in --json) and exits 1,
# the table still printed; --whole says why the generation stopped.
checks=$((checks + 1))
"$NVLM_BIN" table -m "$cells" -n 1 --json "$samples/table1.png" >"$tmp/cut.json" 2>"$tmp/err"
status=$?
[ $status = 1 ] || fail "-n 1: exit $status"
grep -q "cut at -n 1" "$tmp/err" || fail "-n 1: stderr $(cat "$tmp/err")"
$py -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['truncated'] is True and d['cells_truncated'] > 0 and d['markdown'], d" \
    "$tmp/cut.json" || fail "-n 1 --json: $(cat "$tmp/cut.json")"
checks=$((checks + 1))
"$NVLM_BIN" table -m "$cells" --whole -n 2 --json "$samples/table1.png" >"$tmp/w.json" 2>/dev/null
status=$?
[ $status = 1 ] || fail "--whole -n 2: exit $status"
$py -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['stop_reason'] == 'limit' and d['truncated'] is True, d" \
    "$tmp/w.json" || fail "--whole -n 2 --json: $(cat "$tmp/w.json")"

# --json holds exactly the keys `table --help` promises (issue 19: the help
# named a "raw" key that never appeared): the cells reading has the plain
# list, --whole adds raw, repaired and stop_reason, no table gives error.
checks=$((checks + 1))
"$NVLM_BIN" table --help >"$tmp/help" 2>&1
$py - "$tmp/help" "$tmp/j.json" "$tmp/w.json" "$tmp/out" <<'PY' || fail "--json keys against table --help"
import json, re, sys
help_text = open(sys.argv[1]).read()
m = re.search(r"--json\s+print one JSON object per image: (.*?)\n  -", help_text, re.S)
assert m, "no --json paragraph in table --help"
para = " ".join(m.group(1).split())
common, rest = para.split("; then ")
grid, rest = rest.split(" (or ")
whole, rest = rest.split(" with --whole);")
words = lambda t: set(re.findall(r"[a-z_]+", t)) - {"and", "or"}
promised = words(common) | words(grid)
whole = words(common) | words(whole)
nothing = words(rest) & {"error"}
cells = json.load(open(sys.argv[2]))
assert set(cells) == promised, ("cells", sorted(set(cells) ^ promised))
w = json.load(open(sys.argv[3]))
assert set(w) - nothing == whole, ("whole", sorted(set(w) ^ whole))
none = json.load(open(sys.argv[4]))
assert nothing == {"error"} and "error" in none, ("no table", sorted(none))
PY

# --max-pixels: an image above it is refused before reading, naming the cap.
expect_error 1 "above the limit of 1000 pixels" table -m "$cells" --max-pixels 1000 "$samples/table1.png"
# --max-tiles (with --whole): a bad count is a usage error; a good one runs.
expect_error 2 "--max-tiles wants a whole number in 1..64, not '0'" table -m "$cells" --max-tiles 0 "$samples/table1.png"
checks=$((checks + 1))
"$NVLM_BIN" table -m "$cells" --whole --max-tiles 1 -n 2 "$samples/table1.png" >/dev/null 2>"$tmp/err"
[ $? != 2 ] || fail "table --whole --max-tiles 1: $(cat "$tmp/err")"

# A hostile nvlm_cell_reader is refused at load with a message naming it.
for bad in '"yes"' '{"prompt": "", "line_height": 5, "strip_height": 7}' \
    '{"prompt": "p", "line_height": 1e300, "strip_height": 7}' \
    '{"prompt": "p", "line_height": 5, "strip_height": 7.5}' \
    '{"prompt": "p", "line_height": 8, "strip_height": 7}' \
    '{"prompt": "p", "line_height": 5, "strip_height": 1000}'; do
    mkdir -p "$tmp/bad"
    ln -sf "$NV_FIXTURE_DIR/tiny_nvlm/model.safetensors" "$tmp/bad/"
    ln -sf "$NV_FIXTURE_DIR/tiny_nvlm/tokenizer.json" "$tmp/bad/"
    $py - "$NV_FIXTURE_DIR/tiny_nvlm/config.json" "$tmp/bad/config.json" "$bad" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["nvlm_cell_reader"] = json.loads(sys.argv[3])
json.dump(c, open(sys.argv[2], "w"))
PY
    expect_error 1 "nvlm_cell_reader" table -m "$tmp/bad" "$samples/table1.png"
done

echo "cli_table_cells: $checks checks, $failures failed"
[ "$failures" = 0 ]
