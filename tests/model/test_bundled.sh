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
table1.png d 124 32 83 75 85 32 124 32 83 104 97 114 101 32 124 32 83 104 97 114 101 32 124 32 83 104 105 112 112 101 100 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 82 45 52 50 49 32 124 32 45 52 46 51 37 32 124 32 45 52 46 51 37 32 124 32 50 48 48 48 45 48 49 45 49 49
table1.png x 124 32 66 97 116 99 104 32 124 32 83 104 105 112 112 101 100 32 124 32 83 104 97 114 101 32 124 32 83 104 97 114 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 82 45 49 48 54 54 32 124 32 50 48 49 48 45 48 49 45 49 49 32 124 32 45 49 46 48 37 32 124 32 45 49
table1.png h 124 32 66 97 116 99 104 32 124 32 83 104 97 114 101 32 124 32 83 104 97 114 101 32 124 32 83 104 97 114 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 82 45 52 57 49 53 32 124 32 45 49 46 49 37 32 124 32 45 49 46 48 37 32 124 32 45 49 46 49 37 32 124 10 124
table2.png d 124 32 79 114 105 103 105 110 32 124 32 83 104 105 112 112 101 100 32 124 32 67 111 110 116 97 99 116 32 124 32 67 111 100 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 67 97 105 114 111 32 124 32 50 48 49 57 45 48 54 45 49 49 32 124 32 68 109 105 116 114 105 32 78 97
table2.png x 124 32 79 119 110 101 114 32 124 32 83 104 105 112 112 101 100 32 124 32 79 119 110 101 114 32 124 32 83 104 97 114 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 72 117 103 111 32 78 97 107 97 109 117 114 97 32 124 32 50 48 48 49 45 48 54 45 49 48 32 124 32 81 117 105
table2.png h 124 32 79 119 110 101 114 32 124 32 67 111 110 116 97 99 116 32 124 32 67 111 110 116 97 99 116 32 124 32 67 111 115 116 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 68 109 105 116 114 105 32 78 97 107 97 109 117 114 97 32 124 32 68 109 105 116 114 105 32 78 97 107 97 109 117
table3.png d 124 32 67 105 116 121 32 124 32 68 97 116 101 32 124 32 83 104 105 112 112 101 100 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 67 97 105 114 111 32 124 32 50 48 49 49 45 48 49 45 49 49 32 124 32 50 48 49 57 45 48 49 45 49 49 32 124 10 124 32 67 97 112 101 32 84 111 119 110 32 124 32
table3.png x 124 32 79 114 105 103 105 110 32 124 32 83 104 105 112 112 101 100 32 124 32 83 104 97 114 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 67 97 105 114 111 32 124 32 50 48 49 48 45 48 49 45 49 49 32 124 32 45 49 46 48 37 32 124 10 124 32 67 97 105 114 111 32 124 32 50 48 49 48 45 48
table3.png h 124 32 67 105 116 121 32 124 32 68 97 116 101 32 124 32 68 97 116 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 67 97 112 101 32 84 111 119 110 32 124 32 50 48 49 49 45 48 54 45 50 48 32 124 32 50 48 49 49 45 48 54 45 50 48 32 124 10 124 32 67 97 112 101 32 84 111 119 110 32 124
table4.png d 124 32 67 97 116 101 103 111 114 121 32 124 32 67 104 97 110 103 101 32 124 32 67 111 115 116 32 124 32 83 104 97 114 101 32 124 32 83 104 97 114 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 67 97 110 100 108 101 32 124 32 45 52 54 46 51 37 32 124
table4.png x 124 32 67 105 116 121 32 124 32 83 104 97 114 101 32 124 32 67 111 117 110 116 32 124 32 67 111 117 110 116 32 124 32 83 101 97 115 111 110 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 67 97 105 114 111 32 124 32 45 49 46 56 37 32 124 32 45 49 32 124
table4.png h 124 32 67 97 116 101 103 111 114 121 32 124 32 83 104 97 114 101 32 124 32 67 104 97 110 103 101 32 124 32 83 104 97 114 101 32 124 32 83 104 97 114 101 32 124 10 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 32 45 45 45 32 124 10 124 32 99 97 110 100 108 101 32 124 32 45 49 46 49 37 32 124
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
