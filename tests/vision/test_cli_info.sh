#!/usr/bin/env bash
# test_cli_info.sh - `nvlm info --image` end to end: the grid for the golden
# images (as upstream chose it, see hf/*/meta.json), --json output with
# exactly the five keys, option errors (exit 2) and bad images (exit 1 with
# a message naming the file).
set -u
: "${NVLM_BIN:?}" "${NV_FIXTURE_DIR:?}" "${NV_SOURCE_ROOT:?}"
. "$(dirname "$0")/../golden.sh"
images="$NV_FIXTURE_DIR/images"
failures=0
checks=0

fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

# expect_output STATUS EXPECTED_STDOUT ARGS...: exact stdout and status.
expect_output() {
    local want_status=$1 want=$2; shift 2
    checks=$((checks + 1))
    local got status
    got=$("$NVLM_BIN" info "$@" 2>/tmp/nvlm_info_err.$$); status=$?
    [ "$status" = "$want_status" ] || fail "nvlm info $*: exit $status, want $want_status"
    [ "$got" = "$want" ] || fail "nvlm info $*: printed '$got', want '$want'"
}

# expect_error STATUS PATTERN ARGS...: exit status and a stderr message.
expect_error() {
    local want_status=$1 pattern=$2; shift 2
    checks=$((checks + 1))
    local status
    "$NVLM_BIN" info "$@" >/dev/null 2>/tmp/nvlm_info_err.$$; status=$?
    local msg; msg=$(cat /tmp/nvlm_info_err.$$)
    echo "  nvlm info $* -> exit $status: $msg" | head -1
    [ "$status" = "$want_status" ] || fail "nvlm info $*: exit $status, want $want_status"
    grep -q -- "$pattern" /tmp/nvlm_info_err.$$ || fail "nvlm info $*: message '$msg' lacks '$pattern'"
}

# The golden cases (reference data): image.png 100x75 -> 3x2 + thumbnail at 112/6,
# image_wide.png 120x50 -> 2x1 + thumbnail; 1 tile when max is 1.
if have_golden; then
    expect_output 0 '{"width":100,"height":75,"cols":3,"rows":2,"num_tiles":7}' \
        --image "$NV_GOLDEN_DIR/hf/image.png" --tile-size 112 --max-tiles 6 --json
    expect_output 0 '{"width":120,"height":50,"cols":2,"rows":1,"num_tiles":3}' \
        --json --image="$NV_GOLDEN_DIR/hf/image_wide.png" --tile-size=112 --max-tiles=6
    expect_output 0 '{"width":100,"height":75,"cols":1,"rows":1,"num_tiles":1}' \
        --image "$NV_GOLDEN_DIR/hf/image.png" --tile-size 56 --max-tiles 1 --json
    # InternVL's 448 / 6: tiling_cases.json has 100x75 -> 3x2 + thumbnail
    # (small images are scaled up, the area rule only breaks exact ties).
    expect_output 0 '{"width":100,"height":75,"cols":3,"rows":2,"num_tiles":7}' \
        --image "$NV_GOLDEN_DIR/hf/image.png" --tile-size 448 --max-tiles 6 --json
    expect_output 0 "image:     $NV_GOLDEN_DIR/hf/image.png
size:      100 x 75
tile size: 112 (at most 6 tiles)
grid:      3 cols x 2 rows
tiles:     7 (6 + thumbnail)" --image "$NV_GOLDEN_DIR/hf/image.png" --tile-size 112 --max-tiles 6
fi

# Without -m the tiling is the bundled model's (224 px, at most 4 tiles),
# the grid `info -m` of that model reports; --max-tiles overrides its cap.
table1="$NV_SOURCE_ROOT/assets/samples/table1.png"
expect_output 0 '{"width":354,"height":124,"cols":3,"rows":1,"num_tiles":4}' \
    --image "$table1" --json
checks=$((checks + 1))
"$NVLM_BIN" info --image "$table1" | grep -qx "tile size: 224 (at most 4 tiles)" \
    || fail "info --image: not the bundled model's tiling"
checks=$((checks + 1))
"$NVLM_BIN" info -m "$NV_SOURCE_ROOT/assets/models/nvlm-tables" --image "$table1" --json \
    | /usr/bin/python3 -c 'import json,sys; i=json.load(sys.stdin)["image"]; assert (i["cols"], i["rows"], i["num_tiles"]) == (3, 1, 4), i' \
    || fail "info -m bundled --image: a different grid"
expect_output 0 '{"width":354,"height":124,"cols":2,"rows":1,"num_tiles":3}' \
    --image "$table1" --max-tiles 2 --json
# Without --image: the bundled model is described.
checks=$((checks + 1))
"$NVLM_BIN" info | grep -q "^fusion heads: d x h" || fail "info: no description of the bundled model"

# Help.
checks=$((checks + 1))
"$NVLM_BIN" info --help | grep -q -- "--max-pixels" || fail "help text"

# Usage errors: exit 2.
expect_error 2 "given twice" --image "$images/rgb8.png" --image "$images/rgb8.png"
expect_error 2 "a model fixes its own tile size" -m "$NV_SOURCE_ROOT/assets/models/nvlm-tables" --tile-size 112
expect_error 2 "give -m DIR" --image "$images/rgb8.png" -p "question"
expect_error 2 "unknown fusion 'q'" -m "$NV_SOURCE_ROOT/assets/models/nvlm-tables" --fusion q
expect_error 2 "needs a value" --image
expect_error 2 "whole number" --image "$images/rgb8.png" --tile-size 0
expect_error 2 "whole number" --image "$images/rgb8.png" --max-tiles abc
expect_error 2 "unknown argument" --image "$images/rgb8.png" --frobnicate

# Bad images: exit 1, message names the file.
for f in truncated.png corrupt.png huge.png zero_width.png truncated.jpg \
         corrupt.jpg huge.jpg not_image.txt empty.png; do
    expect_error 1 "$f" --image "$images/$f"
done
expect_error 1 "above the limit" --image "$images/huge.png"
expect_error 1 "above the limit of 100 pixels" --image "$images/rgb8.png" --max-pixels 100
expect_error 1 "cannot open" --image "$images/no_such_file.png"
expect_error 1 "not a regular file" --image "$images"

rm -f /tmp/nvlm_info_err.$$
echo "test_cli_info: $checks checks, $failures failed"
golden_exit test_cli_info "$failures"
