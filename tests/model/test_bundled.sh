#!/bin/bash
# test_bundled.sh - the bundled model (assets/models/nvlm-tables) loads through nvlm ask's
# default model path, and each head d/x/h gives the recorded greedy ids (first 96) for the
# Markdown task on assets/samples/table1..4.png. The ids were computed by the PyTorch
# reference (tools/train/record_bundled.py) and checked equal to the C runtime's before
# being recorded here. Env: NVLM_BIN, NV_SOURCE_ROOT (tests/meson.build).
set -u
bin=${NVLM_BIN:?NVLM_BIN not set}
root=${NV_SOURCE_ROOT:?NV_SOURCE_ROOT not set}
model="$root/assets/models/nvlm-tables"
for f in config.json model.safetensors tokenizer.json; do
    [ -f "$model/$f" ] || { echo "FAIL: bundled model file $model/$f missing"; exit 1; }
done
fail=0
checked=0
while read -r image head expected; do
    [ -n "$image" ] || continue
    out=$("$bin" ask --fusion "$head" --image "$root/assets/samples/$image" \
        -p "Convert the table to Markdown." --json -n 96 -t 2) || {
        echo "FAIL: nvlm ask --fusion $head on $image exited with an error"; fail=1; continue; }
    got=$(printf '%s' "$out" | tr -d ' \t\n' |
        sed -n 's/.*"generated_ids":\[\([0-9,]*\)\].*/\1/p' | tr ',' ' ')
    if [ "$got" != "$expected" ]; then
        echo "FAIL: $image head $head"
        echo "  expected: $expected"
        echo "  got:      $got"
        fail=1
    else
        echo "ok   $image head $head (96 ids)"
    fi
    checked=$((checked + 1))
done <<'IDS'
table1.png d 124 32 67 111 100 101 32 124 32 67 111 115 116 32 124 32 67 111 117 110 116 32 124 32 67 111 100 101 32 124 32 67 111 115 116 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 68 45 56 49 48 32 124 32 49 57 57 48 32 124 32 49 57 57 48 32 124 32 49 57
table1.png x 124 32 67 111 100 101 32 124 32 67 111 115 116 32 124 32 67 111 100 101 32 124 32 67 111 100 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 76 45 49 57 57 32 124 32 36 49 44 56 48 57 44 53 48 50 46 57 50 32 124 32 36 56 44 56 48 48 44 53 48 50 46 57 50 32
table1.png h 124 32 67 111 100 101 32 124 32 67 111 117 110 116 32 124 32 67 111 100 101 32 124 32 67 111 115 116 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 68 45 55 50 48 57 32 124 32 49 57 57 48 45 48 56 45 49 50 32 124 32 36 57 44 56 48 57 44 53 48 50 46 57 50 32 124
table2.png d 124 32 67 111 110 116 97 99 116 32 124 32 67 111 100 101 32 124 32 67 111 110 116 97 99 116 32 124 32 67 111 100 101 32 124 32 67 111 115 116 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 76 105 97 109 32 89 111 117 110 103 32 124 32 36 54 44 56 48 57
table2.png x 124 32 67 111 110 116 97 99 116 32 124 32 67 111 100 101 32 124 32 67 111 100 101 32 124 32 67 111 100 101 32 124 32 67 111 100 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 76 105 115 98 111 110 32 124 32 45 56 56 46 57 37 32 124 32 45 53 56 46
table2.png h 124 32 67 111 110 116 97 99 116 32 124 32 67 111 110 116 97 99 116 32 124 32 67 111 100 101 32 124 32 67 111 115 116 32 124 32 67 111 115 116 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 76 105 97 109 32 89 111 117 110 103 32 124 32 45 56 56 46 48 37
table3.png d 124 32 67 111 100 101 32 124 32 67 111 117 110 116 32 124 32 67 111 117 110 116 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 68 101 110 118 101 114 32 124 32 49 57 57 48 45 48 56 45 49 51 32 124 32 49 57 57 48 45 48 56 45 49 56 32 124 10 124 32 67 97 105 114 111 32 124 32 49 57 57 48
table3.png x 124 32 67 111 100 101 32 124 32 67 111 117 110 116 32 124 32 67 111 100 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 76 105 109 97 32 124 32 49 57 57 48 32 124 32 49 57 57 48 32 124 10 124 32 76 105 109 97 32 124 32 49 57 57 48 32 124 32 49 57 57 48 32 124 10 124 32 67 97 105 114
table3.png h 124 32 67 111 100 101 32 124 32 67 111 117 110 116 32 124 32 67 111 117 110 116 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 68 101 110 118 101 114 32 124 32 49 57 57 48 32 124 32 49 57 57 48 32 124 10 124 32 67 97 105 114 111 32 124 32 49 57 57 48 32 124 32 49 57 57 48 32 124 10 124 32
table4.png d 124 32 67 111 110 116 97 99 116 32 124 32 67 111 100 101 32 124 32 67 111 110 116 97 99 116 32 124 32 67 111 100 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 76 105 109 97 32 124 32 36 54 44 56 48 57 44 53 48 50 32 124 32 67 97 112 101 32 84 111 119 110 32 124 32
table4.png x 124 32 67 111 100 101 32 124 32 67 111 115 116 32 124 32 67 111 100 101 32 124 32 67 111 100 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 76 105 115 98 111 110 32 124 32 36 56 44 56 48 48 44 53 48 50 32 124 32 36 53 44 56 48 48 44 53 48 50 32 124 32 36 53 44
table4.png h 124 32 67 111 110 116 97 99 116 32 124 32 67 111 110 116 97 99 116 32 124 32 67 111 110 116 97 99 116 32 124 32 67 111 100 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 76 105 97 109 32 89 111 117 110 103 32 124 32 67 97 110 100 108 101 32 124 32 45 56 56 46 48 37 32
IDS
# nvlm table with no -m uses the bundled model, prints a well-formed table,
# and says on stderr that the model is undertrained (its model card).
tmpd=$(mktemp -d)
if "$bin" table -t 2 "$root/assets/samples/table1.png" >"$tmpd/t.md" 2>"$tmpd/err"; then
    /usr/bin/python3 - "$tmpd/t.md" <<'PY' || { echo "FAIL: nvlm table output is not a well-formed table"; fail=1; }
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().rstrip("\n").split("\n")
cells = lambda l: re.split(r"(?<!\\) \| ", l[2:-2])
assert len(lines) >= 3 and all(l.startswith("| ") and l.endswith(" |") for l in lines)
assert all(c == "---" for c in cells(lines[1]))
assert len({len(cells(l)) for l in lines}) == 1
PY
    grep -q "note: this bundled model is undertrained" "$tmpd/err" ||
        { echo "FAIL: nvlm table did not print the model card's warning"; fail=1; }
else
    echo "FAIL: nvlm table on the bundled model: $(cat "$tmpd/err")"; fail=1
fi
rm -rf "$tmpd"
if [ "$checked" -ne 12 ]; then
    echo "FAIL: checked $checked of 12 cases"
    fail=1
fi
exit $fail
