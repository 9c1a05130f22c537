#!/bin/bash
# test_quantize_cli.sh - `nvlm quantize` end to end: the tiny_nvlm fixture
# and the bundled model quantized to q8_0 load and answer (the numbers
# against the goldens are test_lowprec.c's); the copy is about half the
# f32 / f16 bytes of its matrices; the source is untouched; the bundled
# model's q8_0 copy reads every sample table to the same grid. --type
# q4_0: U8 data, about a quarter of f16, loads and answers. --type q4_k:
# the bundled model's matrices with rows a multiple of 256 long (the
# decoders') get Q4_K records, the others (the ViT's, 192 wide) Q4_0
# scales, in one file; the copy reads the sample tables to the recorded
# f16 readings' grids with at least 90 % of their cells the same (measured
# when written: 231 of 243; the q4_0 copy's are fewer). Refusals: an
# existing output folder, a missing model, an unknown type, no -o.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT
fx="$NV_FIXTURE_DIR/tiny_nvlm"
src="$NV_SOURCE_ROOT/assets/models/nvlm-tables"

before=$(md5sum "$fx/model.safetensors")
# type, the dtype its data shows in `nvlm info`
for t in "q8_0 I8" "q4_0 U8" "q4_k U8"; do
    set -- $t
    "$NVLM_BIN" quantize -m "$fx" -o "$tmp/fx_$1" --type $1 --min-elements 32 \
        2>"$tmp/err" || { cat "$tmp/err"; fail "quantize the fixture to $1"; }
    grep -q "tensors to $1" "$tmp/err" || fail "no $1 summary line"
    [ "$before" = "$(md5sum "$fx/model.safetensors")" ] || fail "source changed"
    for f in config.json tokenizer.json; do
        cmp -s "$fx/$f" "$tmp/fx_$1/$f" || fail "$f not copied"
    done
    "$NVLM_BIN" info -m "$tmp/fx_$1" | grep -q "$2 " || fail "info shows no $2 data"
    for h in d x h; do
        "$NVLM_BIN" ask -m "$tmp/fx_$1" --fusion $h -p "Describe the tiles." \
            --image "$NV_SOURCE_ROOT/assets/samples/table1.png" -n 3 -t 1 \
            >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "ask with head $h on $1"; }
    done
done

"$NVLM_BIN" quantize -m "$src" -o "$tmp/b4" --type q4_0 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "quantize the bundled model to q4_0"; }
a=$(stat -c %s "$src/model.safetensors"); b=$(stat -c %s "$tmp/b4/model.safetensors")
[ $((b * 10)) -lt $((a * 5)) ] || fail "q4_0 copy $b bytes, f16 source $a"
"$NVLM_BIN" table -m "$tmp/b4" "$NV_SOURCE_ROOT/assets/samples/table1.png" -t 1 \
    >"$tmp/out.md" 2>"$tmp/err" || { cat "$tmp/err"; fail "table with the q4_0 copy"; }

"$NVLM_BIN" quantize -m "$src" -o "$tmp/bk" --type q4_k 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "quantize the bundled model to q4_k"; }
header=$(head -c 200000 "$tmp/bk/model.safetensors" | tr -d '\0')
n_k=$(grep -o '\.q4k_scales"' <<<"$header" | wc -l)
n_0=$(grep -o '\.q4_scales"' <<<"$header" | wc -l)
{ [ "$n_k" -gt 10 ] && [ "$n_0" -gt 10 ]; } || fail "q4_k copy: $n_k q4k_scales, $n_0 q4_scales"
grep -q '"nvlm_quantization":"q4_k"' <<<"$header" || fail "q4_k copy: no metadata"
# a Markdown table's cells, one a line, separator rows left out
cells() { grep '^|' "$1" | grep -v '^| ---' | sed 's/\\|/\x1/g' \
          | tr '|' '\n' | sed '/^$/d'; }
same=0; total=0
for img in "$NV_SOURCE_ROOT"/assets/samples/table*.png; do
    for h in d x h; do
        "$NVLM_BIN" table -m "$tmp/bk" --fusion $h "$img" -t 1 >"$tmp/out.md" \
            2>"$tmp/err" || { cat "$tmp/err"; fail "table on $img with the q4_k copy"; }
        rec="$NV_SOURCE_ROOT/tests/model/bundled/$(basename "${img%.png}")_$h.md"
        [ "$(grep -c '^|' "$tmp/out.md")" = "$(grep -c '^|' "$rec")" ] \
            || fail "$img head $h: the q4_k copy's grid differs from $rec"
        t=$(cells "$rec" | wc -l)
        s=$(paste <(cells "$tmp/out.md") <(cells "$rec") \
            | awk -F '\t' '$1 == $2' | wc -l)
        same=$((same + s)); total=$((total + t))
    done
done
echo "q4_k copy: $same of $total sample cells as the f16 readings"
[ $((same * 10)) -ge $((total * 9)) ] || fail "q4_k copy: $same of $total cells as f16"

"$NVLM_BIN" quantize -m "$src" -o "$tmp/b8" 2>"$tmp/err" \
    || { cat "$tmp/err"; fail "quantize the bundled model"; }
a=$(stat -c %s "$src/model.safetensors"); b=$(stat -c %s "$tmp/b8/model.safetensors")
[ $((b * 10)) -lt $((a * 7)) ] || fail "q8_0 copy $b bytes, f16 source $a"
for img in "$NV_SOURCE_ROOT"/assets/samples/table*.png; do
    want=$("$NVLM_BIN" table --layout "$img" 2>/dev/null | head -c 40)
    "$NVLM_BIN" table -m "$tmp/b8" "$img" -t 1 >"$tmp/out.md" 2>/dev/null \
        || fail "table on $img with the q8_0 copy"
    rows=$(grep -c '^|' "$tmp/out.md")
    truth=$(grep -c '^|' "${img%.png}.md")
    [ "$rows" = "$truth" ] || fail "$img: $rows lines, truth $truth ($want)"
done

# Refusals: status 1 or 2 and a message.
for args in "-m $fx -o $tmp/fx_q8_0" "-m $tmp/nope -o $tmp/n1" \
            "-m $fx -o $tmp/n2 --type q4_9" "-m $fx" "--bogus"; do
    "$NVLM_BIN" quantize $args >/dev/null 2>"$tmp/err"
    rc=$?
    { [ $rc = 1 ] || [ $rc = 2 ]; } || fail "'$args' gave status $rc"
    [ -s "$tmp/err" ] || fail "'$args' gave no message"
done
grep -q "unknown" "$tmp/err" || fail "--bogus message"
echo "quantize_cli ok"
