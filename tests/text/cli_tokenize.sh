#!/bin/bash
# cli_tokenize.sh - `nvlm tokenize` end to end: plain and JSON output for
# the golden llama3 case "Hello, world!" (ids 9906 11 1917 0 from
# tokenizers/llama3/cases.json), special tokens on and off with qwen3,
# text from a file, the bundled model by default, and the exit status of
# bad usage and bad files.
set -u
fail=0
check() { # check DESCRIPTION COMMAND... : the command must succeed
    local what=$1
    shift
    if ! "$@"; then
        echo "FAILED: $what" >&2
        fail=1
    fi
}
: "${NVLM_BIN:?}"
. "$(dirname "$0")/../golden.sh"
L3=$NV_GOLDEN_DIR/tokenizers/llama3/tokenizer.json
Q3=$NV_GOLDEN_DIR/tokenizers/qwen3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check "--help exits 0" "$NVLM_BIN" tokenize --help >"$tmp/help"
check "--help shows usage" grep -q "usage: nvlm tokenize" "$tmp/help"

# The golden tokenizers (llama3, qwen3) from the reference data.
if have_golden; then
    "$NVLM_BIN" tokenize --tokenizer "$L3" "Hello, world!" >"$tmp/plain"
    printf "%6d -> '%s'\n" 9906 Hello 11 , 1917 " world" 0 ! >"$tmp/want"
    check "plain output" cmp "$tmp/plain" "$tmp/want"

    "$NVLM_BIN" tokenize --tokenizer "$L3" --json "Hello, world!" >"$tmp/json"
    printf '{"ids":[9906,11,1917,0],"pieces":["Hello",",","\xc4\xa0world","!"]}\n' \
        >"$tmp/want"
    check "json output" cmp "$tmp/json" "$tmp/want"

    printf 'a\n<|im_end|>' >"$tmp/text"
    "$NVLM_BIN" tokenize -m "$Q3" --json -f "$tmp/text" >"$tmp/json"
    check "special token from a file" grep -q '"ids":\[64,198,151645\]' "$tmp/json"
    "$NVLM_BIN" tokenize -m "$Q3" --json --no-special -f "$tmp/text" >"$tmp/json"
    check "--no-special reads it as text" \
        bash -c "! grep -q 151645 '$tmp/json' && grep -q '\"ids\":\[64,198,27,' '$tmp/json'"
    check "newline shown escaped" \
        bash -c "'$NVLM_BIN' tokenize -m '$Q3' -f '$tmp/text' | grep -qF \"   198 -> '\\n'\""
fi

# Without -m the bundled model's tokenizer (byte-level: 'x' is byte 120).
"$NVLM_BIN" tokenize "x" >"$tmp/bundled" 2>&1
check "no tokenizer given: the bundled model's" grep -qx "   120 -> 'x'" "$tmp/bundled"
"$NVLM_BIN" tokenize --tokenizer "$L3" 2>"$tmp/err" >/dev/null
check "no text given: exit 2" test $? -eq 2
check "no text given: said" grep -q "no text" "$tmp/err"
"$NVLM_BIN" tokenize -m "$tmp" --tokenizer "$L3" x >/dev/null 2>&1
check "-m and --tokenizer: exit 2" test $? -eq 2
"$NVLM_BIN" tokenize --tokenizer "$L3" --bogus x >/dev/null 2>&1
check "unknown option: exit 2" test $? -eq 2
"$NVLM_BIN" tokenize --tokenizer "$tmp/missing.json" x 2>"$tmp/err"
check "missing file: exit 1" test $? -eq 1
check "missing file named" grep -q "missing.json: cannot open" "$tmp/err"
echo '{"model": {"type": "Unigram", "vocab": []}}' >"$tmp/uni.json"
"$NVLM_BIN" tokenize --tokenizer "$tmp/uni.json" x 2>"$tmp/err"
check "unigram refused: exit 1" test $? -eq 1
check "unigram refused: message" grep -q "not supported (only BPE)" "$tmp/err"

[ $fail -eq 0 ] && echo "cli_tokenize: all passed"
golden_exit cli_tokenize $fail
