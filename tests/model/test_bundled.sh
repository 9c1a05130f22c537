#!/bin/bash
# test_bundled.sh - the bundled model (assets/models/nvlm-tables) as a user meets it:
#  - `nvlm table` with no -m uses it and, for each head d/x/h, reads every sample table of
#    assets/samples into exactly the Markdown recorded in tests/model/bundled/ (recorded by
#    tools/train/record_bundled.py after checking that the PyTorch reference reads every cell
#    tile the same as the C runtime);
#  - the grid of each reading has the truth's rows and columns, and the cell accuracy
#    against the truth is printed (the model's quality is in docs/benchmarks.md, measured on
#    generated tables; these four are the smoke check);
#  - `--whole` still runs (one generation per table) and gives a well-formed table or a
#    clear "no table".
# Env: NVLM_BIN, NV_SOURCE_ROOT (tests/meson.build).
set -u
bin=${NVLM_BIN:?NVLM_BIN not set}
root=${NV_SOURCE_ROOT:?NV_SOURCE_ROOT not set}
model="$root/assets/models/nvlm-tables"
expected="$root/tests/model/bundled"
for f in config.json model.safetensors tokenizer.json; do
    [ -f "$model/$f" ] || { echo "FAIL: bundled model file $model/$f missing"; exit 1; }
done
tmpd=$(mktemp -d)
trap 'rm -rf "$tmpd"' EXIT
fail=0
checked=0
for img in "$root"/assets/samples/*.png; do
    stem=$(basename "$img" .png)
    for head in d x h; do
        checked=$((checked + 1))
        if ! "$bin" table --fusion "$head" -t 2 "$img" >"$tmpd/got.md" 2>"$tmpd/err"; then
            echo "FAIL: nvlm table --fusion $head $stem: $(cat "$tmpd/err")"
            fail=1
            continue
        fi
        if ! cmp -s "$tmpd/got.md" "$expected/${stem}_$head.md"; then
            echo "FAIL: $stem head $head differs from the recording:"
            diff "$expected/${stem}_$head.md" "$tmpd/got.md"
            fail=1
            continue
        fi
        score=$(/usr/bin/python3 - "$tmpd/got.md" \
            "${img%.png}.md" <<'PY'
import re, sys
def rows(path):
    out = []
    for l in open(path, encoding="utf-8").read().split("\n"):
        if l.startswith("| "):
            cells = [c.replace("\\|", "|") for c in re.split(r"(?<!\\) \| ", l[2:-2])]
            if not all(set(c) == {"-"} for c in cells):
                out.append(cells)
    return out
got, want = rows(sys.argv[1]), rows(sys.argv[2])
if [len(r) for r in got] != [len(r) for r in want]:
    print("shape %dx%d, truth %dx%d" % (len(got), len(got[0]), len(want), len(want[0])))
    sys.exit(1)
cells = [(g, w) for gr, wr in zip(got, want) for g, w in zip(gr, wr)]
print("cells %d/%d" % (sum(g == w for g, w in cells), len(cells)))
PY
        ) || { echo "FAIL: $stem head $head: $score"; fail=1; continue; }
        echo "ok   $stem head $head ($score right)"
    done
done
for head in d x h; do
    checked=$((checked + 1))
    "$bin" table --whole --fusion "$head" -t 2 -n 300 "$root/assets/samples/table1.png" \
        >"$tmpd/w.md" 2>"$tmpd/err"
    status=$?
    if [ $status = 0 ]; then
        head -2 "$tmpd/w.md" | tail -1 | grep -q '^| --- |' ||
            { echo "FAIL: --whole $head: $(cat "$tmpd/w.md")"; fail=1; }
    elif [ $status != 1 ] || ! grep -q "no Markdown table" "$tmpd/err"; then
        echo "FAIL: --whole $head: exit $status: $(cat "$tmpd/err")"
        fail=1
    fi
done
echo "bundled model: $checked checks"
exit $fail
