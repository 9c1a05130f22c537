#!/bin/bash
# test_bench_cli.sh - `nvlm bench` end to end on the tiny_nvlm fixture and
# the random tiny shape: the JSON is valid and holds the exact counts the
# fixture implies (tiles, stream tokens, memory rows, prompt lengths from
# the reference's cases.json), the SVG chart is well-formed XML with one
# line per fusion in each panel, --labels scores come out in [0, 1], and
# bad input gives a clear error. No timing is checked.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
py=/usr/bin/python3
tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT
fx="$NV_FIXTURE_DIR/tiny_nvlm"

# Sizes that give 1, 3 and 7 tiles (S = 28, limit 6), as in cases.json.
"$NVLM_BIN" bench -m "$fx" --sizes 28x28,56x28,84x56 --max-tiles 6 \
    --repeat 2 --warmup 1 -n 3 -t 1 -p "Describe the tiles." \
    --json "$tmp/b.json" --chart "$tmp/b.svg" >"$tmp/out.md" 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "bench on the fixture"; }
grep -q '^| fusion | weights | image |' "$tmp/out.md" || fail "no Markdown table"
[ "$(grep -c '^| [dxh] | ' "$tmp/out.md")" = 9 ] || fail "want 9 table rows"
"$py" - "$tmp/b.json" "$fx/cases.json" <<'PY' || fail "JSON content"
import json, sys
rep = json.load(open(sys.argv[1]))
cases = json.load(open(sys.argv[2]))
T = cases["tokens_per_tile"]
want = {(c["head"], c["tiles"]): c for c in cases["cases"]}
rows = rep["rows"]
assert len(rows) == 9, len(rows)
assert rep["repeat"] == 2 and rep["warmup"] == 1 and not rep["cost_only"]
for r in rows:
    c = want[(r["fusion"], r["tiles"])]
    n = r["tiles"]
    assert r["prompt_tokens"] == c["num_prompt_ids"], (r, c)
    assert r["xattn_tokens"] == c["memory_rows"], (r, c)
    stream = {"d": n * T, "x": 0, "h": T}[r["fusion"]]
    assert r["image_tokens_in_stream"] == stream, r
    assert r["generated_tokens"] == 3, r
    # f32 K and V: 2 * layers 4 * kv heads 2 * head_dim 16 * 4 bytes.
    assert r["kv_self_bytes"] == 2 * 4 * 2 * 16 * 4 * r["prompt_tokens"], r
    blocks = 2 if r["xattn_tokens"] > 0 else 0
    assert r["kv_cross_bytes"] == 2 * blocks * 2 * 16 * 4 * r["xattn_tokens"], r
    for k in ("vit", "projector", "prefill", "first_token"):
        assert r["median_ms"][k] >= 0
    assert r["flops"]["prefill"] > 0 and r["flops"]["vit"] > 0
    assert r["peak_rss_bytes"] != 0
print("json ok")
PY
"$py" - "$tmp/b.svg" <<'PY' || fail "SVG"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
lines = root.findall(ns + "polyline")
assert len(lines) == 6, len(lines)  # 3 fusions x 2 panels
for l in lines:
    pts = [tuple(map(float, p.split(","))) for p in l.get("points").split()]
    assert len(pts) == 3, pts
    xs = [p[0] for p in pts]
    assert xs == sorted(xs), xs
print("svg ok")
PY

# --labels: one image, truth in a .md; the answer is scored.
mkdir -p "$tmp/img" "$tmp/lab"
cp "$NV_FIXTURE_DIR/images/rgb8.png" "$tmp/img/t1.png"
printf '| a | b |\n|---|---|\n| 1 | 2 |\n' >"$tmp/lab/t1.md"
"$NVLM_BIN" bench -m "$fx" --images "$tmp/img" --labels "$tmp/lab" \
    --fusion h,d --repeat 1 --warmup 0 -n 4 -t 1 --json "$tmp/l.json" \
    >"$tmp/l.md" 2>"$tmp/err" || { cat "$tmp/err"; fail "bench --labels"; }
grep -q '| exact match | cell accuracy | TEDS |' "$tmp/l.md" \
    || fail "no score table"
"$py" - "$tmp/l.json" <<'PY' || fail "label JSON"
import json, sys
rep = json.load(open(sys.argv[1]))
rows = rep["rows"]
assert [r["fusion"] for r in rows] == ["h", "d"], rows
means = {l["fusion"]: l for l in rep["labels"]}
assert sorted(means) == ["d", "h"], rep["labels"]
for r in rows:
    assert means[r["fusion"]]["teds"] == r["scores"]["teds"]
for r in rows:
    s = r["scores"]
    for k in ("exact_match", "cell_accuracy", "teds"):
        assert 0.0 <= s[k] <= 1.0, s
print("labels ok")
PY

# A label without a table is refused, naming the file.
printf 'no table here\n' >"$tmp/lab/t1.md"
"$NVLM_BIN" bench -m "$fx" --images "$tmp/img" --labels "$tmp/lab" \
    --repeat 1 -t 1 >/dev/null 2>"$tmp/err" && fail "tableless label accepted"
grep -q "t1.md: no Markdown table" "$tmp/err" || fail "tableless label message"

# A missing label names the file.
rm "$tmp/lab/t1.md"
"$NVLM_BIN" bench -m "$fx" --images "$tmp/img" --labels "$tmp/lab" \
    --repeat 1 -t 1 >/dev/null 2>"$tmp/err" && fail "missing label accepted"
grep -q "t1.md" "$tmp/err" || fail "message does not name t1.md"

# --random tiny: written, loaded, removed; costs only.
"$NVLM_BIN" bench --random tiny --cost-only --fusion x --max-tiles 12 \
    --json "$tmp/r.json" >/dev/null 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "--random tiny"; }
"$py" -c "
import json,sys
r=json.load(open(sys.argv[1]))['rows']
assert [x['tiles'] for x in r]==[1,3,7,13], r
assert [x['xattn_tokens'] for x in r]==[4*n for n in (1,3,7,13)], r
" "$tmp/r.json" || fail "random tiny rows"

# --prompt-tokens: the decoder's text prefill at 1 and 2 threads; the JSON
# holds both rows and the speed-up (their ratio), each row's GFLOP/s (the
# same FLOP count over each time) and, with --roofline, the ceilings.
"$NVLM_BIN" bench -m "$fx" --prompt-tokens 100 -t 2 --repeat 1 --warmup 0 \
    --roofline --json "$tmp/p.json" >"$tmp/p.md" 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "--prompt-tokens"; }
grep -q '^Speed-up 2 threads / 1 thread: ' "$tmp/p.md" || fail "no speed-up"
grep -q '^Roofline on 2 thread(s): .* % of the FMA peak' "$tmp/p.md" \
    || fail "no roofline line"
"$py" -c "
import json,sys
r=json.load(open(sys.argv[1]))
assert r['prompt_tokens']==100, r
rows=r['rows']
assert [x['threads'] for x in rows]==[1,2], rows
assert all(x['median_ms']>0 and x['tokens_per_s']>0 for x in rows), rows
assert abs(r['speedup']-rows[0]['median_ms']/rows[1]['median_ms'])<1e-6, r
f=[x['gflops']*x['median_ms'] for x in rows]
assert f[0]>0 and abs(f[0]-f[1])<=1e-6*f[0], rows
roof=r['roofline']
assert roof['threads']==2 and roof['fma_gflops']>0 and roof['read_gbps']>0, r
" "$tmp/p.json" || fail "--prompt-tokens JSON"

# --dtype runs each weight type in turn (rows tagged with it, the same
# token counts); --roofline adds the machine's measured ceilings.
"$NVLM_BIN" bench -m "$fx" --sizes 28x28 --dtype stored,bf16,q8_0 \
    --fusion d --repeat 1 --warmup 0 -n 2 -t 1 --roofline \
    --json "$tmp/w.json" >"$tmp/w.md" 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "--dtype / --roofline"; }
grep -q '^Roofline of this machine' "$tmp/w.md" || fail "no roofline line"
"$py" -c "
import json,sys
r=json.load(open(sys.argv[1]))
rows=r['rows']
assert [x['weights'] for x in rows]==['stored','bf16','q8_0'], rows
assert len({x['prompt_tokens'] for x in rows})==1, rows
assert all(x['decoder_weight_bytes']>0 for x in rows), rows
# q8_0 holds about 1 byte per weight, bf16 2, the fixture's f32 4
b=[x['decoder_weight_bytes'] for x in rows]
assert b[1] < b[0] and b[2] < b[1], b
assert r['roofline']['fma_gflops']>0 and r['roofline']['read_gbps']>0, r
# the bf16 dot-product peak: measured on a CPU with AVX-512 BF16, 0
# elsewhere. Not compared with the FMA peak: vdpbf16ps does two products a
# lane, but its issue rate is the core's own (Zen 5: twice the FMA peak;
# a Xeon with AMX seen here: half of it, and there oneDNN runs on AMX
# tiles, whose peak is measured instead: 15 times the FMA peak).
k=r['lowp_kernels']; bf=r['roofline']['bf16_gflops']
assert (bf > 0) if k.startswith('avx512bf16') else bf == 0, r
# the peak is that of the instructions oneDNN's products run on
e=r['roofline']['bf16_engine']
assert e == ('AMX tiles' if 'AMX' in k else 'vdpbf16ps' if bf > 0 else None), r
" "$tmp/w.json" || fail "--dtype / --roofline JSON"

# --random SHAPE --write DIR keeps the model (for nvlm quantize and -m runs)
# and stops; DIR must be new; --write needs --random.
"$NVLM_BIN" bench --random tiny --write "$tmp/rnd" 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "--write"; }
for f in config.json tokenizer.json model.safetensors; do
    [ -s "$tmp/rnd/$f" ] || fail "--write left no $f"
done
"$NVLM_BIN" info -m "$tmp/rnd" >/dev/null 2>&1 || fail "the written model does not load"
"$NVLM_BIN" bench --random tiny --write "$tmp/rnd" >/dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "rnd" "$tmp/err" || fail "--write over an existing folder"
"$NVLM_BIN" bench -m "$tmp/rnd" --write "$tmp/rnd2" >/dev/null 2>"$tmp/err"
[ $? = 2 ] && grep -q "needs --random" "$tmp/err" || fail "--write without --random"

# Bad input: exit status 2 (usage) or 1 (error), a message, no crash.
for args in "--fusion q" "--sizes 0x5" "--sizes abc" "--max-tiles 0" \
            "--dtype q3" "--dtype f32,f32" "--dtype f32, --chart $tmp/c.svg" \
            "--repeat 0" "--random nope" "--labels $tmp/lab" \
            "--prompt-tokens 0" "--prompt-tokens 8 --sizes 28x28"; do
    "$NVLM_BIN" bench -m "$fx" $args >/dev/null 2>"$tmp/err"
    rc=$?
    { [ $rc = 1 ] || [ $rc = 2 ]; } || fail "'$args' gave status $rc"
    [ -s "$tmp/err" ] || fail "'$args' gave no message"
done
"$NVLM_BIN" bench -m "$fx" --prompt-tokens 8 -p "" >/dev/null 2>"$tmp/err" \
    && fail "--prompt-tokens with an empty prompt accepted"
grep -q "has no tokens" "$tmp/err" || fail "empty prompt message"
echo "bench_cli ok"
