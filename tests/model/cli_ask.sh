#!/usr/bin/env bash
# cli_ask.sh - `nvlm ask` and `nvlm info -m` end to end on the reference
# fixture and the NVLM-D golden model: --json output (its keys and id
# counts), --raw-prompt reproducing NVLM-D's prompt ids, and the errors a
# user meets (missing options: exit 2; a missing model, an unknown or absent
# fusion head, a bad image, a raw prompt without <image>: exit 1 with a
# message naming the problem).
set -u
: "${NVLM_BIN:?}" "${NV_FIXTURE_DIR:?}" "${NV_SOURCE_ROOT:?}"
# The checks on the NVLM-D and hub goldens need the reference data.
. "$(dirname "$0")/../golden.sh"
py=/usr/bin/python3
tiny="$NV_FIXTURE_DIR/tiny_nvlm"
nvlmd="$NV_GOLDEN_DIR/hf/internvl_tiles"
img="$NV_SOURCE_ROOT/assets/samples/table1.png"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

# expect_error STATUS PATTERN ARGS...: exit status and a stderr message.
expect_error() {
    local want_status=$1 pattern=$2; shift 2
    checks=$((checks + 1))
    local status
    "$NVLM_BIN" "$@" >/dev/null 2>"$tmp/err"; status=$?
    [ "$status" = "$want_status" ] || fail "nvlm $*: exit $status, want $want_status"
    grep -q -- "$pattern" "$tmp/err" || fail "nvlm $*: stderr '$(cat "$tmp/err")' lacks '$pattern'"
}

# --json for each head: the keys, 4 generated ids, the counts of the head.
for head in d x h; do
    checks=$((checks + 1))
    if ! "$NVLM_BIN" ask -m "$tiny" --fusion $head --image "$img" \
            -p "Describe the tiles." -n 4 --ignore-eos --json >"$tmp/out" 2>"$tmp/err"; then
        fail "ask --fusion $head: $(cat "$tmp/err")"
        continue
    fi
    $py - "$tmp/out" "$head" <<'PY' || fail "ask --fusion $head --json output"
import json, sys
d = json.load(open(sys.argv[1]))
head = sys.argv[2]
for k in ("fusion", "prompt_ids", "generated_ids", "text", "timings_ms",
          "tiles", "image_tokens_in_stream", "xattn_tokens"):
    assert k in d, k
assert d["fusion"] == head
assert len(d["generated_ids"]) == 4
assert d["tiles"] == 4            # table1.png: 3x1 + thumbnail
T = 4                             # tokens per tile of the fixture
want_stream = {"d": 4 * T, "x": 0, "h": T}[head]
assert d["image_tokens_in_stream"] == want_stream, d
assert (d["xattn_tokens"] > 0) == (head != "d")
assert all(isinstance(i, int) for i in d["prompt_ids"])
PY
done

if have_golden; then
    # --raw-prompt: NVLM-D's own prompt with <image> gives exactly the golden ids.
    checks=$((checks + 1))
    raw=$'<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n<image>\nPlease describe the image shortly.<|im_end|><|im_start|>assistant\n'
    if "$NVLM_BIN" ask -m "$nvlmd/model" --image "$NV_GOLDEN_DIR/hf/image.png" \
            --raw-prompt -p "$raw" -n 8 --ignore-eos --json >"$tmp/raw" 2>"$tmp/err"; then
        $py - "$tmp/raw" "$nvlmd" <<'PY' || fail "--raw-prompt ids differ from NVLM-D's"
import json, sys
import numpy as np
d = json.load(open(sys.argv[1]))
want = np.load(sys.argv[2] + "/in_input_ids.npy")[0].tolist()
assert d["prompt_ids"] == want, (len(d["prompt_ids"]), len(want))
gen = np.load(sys.argv[2] + "/generated_ids.npy")[0].tolist()
assert d["generated_ids"] == gen[len(want):], (d["generated_ids"], gen[len(want):])
PY
    else
        fail "ask --raw-prompt: $(cat "$tmp/err")"
    fi
fi

# nvlm info -m: a JSON description with the heads and per-fusion counts.
checks=$((checks + 1))
if "$NVLM_BIN" info -m "$tiny" --image "$img" --json >"$tmp/info" 2>"$tmp/err"; then
    $py - "$tmp/info" <<'PY' || fail "info -m --json output"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["fusion_heads"] == ["d", "x", "h"], d["fusion_heads"]
per = d["image"]["per_fusion"]
assert set(per) == {"d", "x", "h"}
assert per["d"]["image_tokens_in_stream"] == 16 and per["d"]["xattn_tokens"] == 0
assert per["x"]["image_tokens_in_stream"] == 0 and per["x"]["xattn_tokens"] == 16
assert per["h"]["image_tokens_in_stream"] == 4
assert per["d"]["prompt_tokens"] > per["h"]["prompt_tokens"]
assert d["parameters"]["total"] > 0
PY
else
    fail "info -m: $(cat "$tmp/err")"
fi
checks=$((checks + 1))
"$NVLM_BIN" info -m "$tiny" >"$tmp/info_text" 2>&1 && grep -q "fusion heads: d x h" "$tmp/info_text" \
    || fail "info -m text output: $(cat "$tmp/info_text")"

# A model with per-patch character probabilities (tiny_nvlm_chars): info
# names them, and every head answers from an image end to end.
chars="$NV_FIXTURE_DIR/tiny_nvlm_chars"
checks=$((checks + 1))
"$NVLM_BIN" info -m "$chars" --json >"$tmp/info_chars" 2>"$tmp/err" \
    && $py -c 'import json,sys; assert json.load(open(sys.argv[1]))["vision"]["char_probs_per_patch"] == 10' \
        "$tmp/info_chars" || fail "info -m tiny_nvlm_chars: $(cat "$tmp/err")"
for head in d x h; do
    checks=$((checks + 1))
    "$NVLM_BIN" ask -m "$chars" --fusion "$head" --image "$img" -p "Describe." -n 3 --json \
        >"$tmp/ask_chars" 2>"$tmp/err" \
        && $py -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["generated_ids"]) == 3' \
            "$tmp/ask_chars" || fail "ask -m tiny_nvlm_chars --fusion $head: $(cat "$tmp/err")"
done

if have_golden; then
    # info -m counts the prompt each template really builds (internvl2_5:
    # InternVL's own prompt, 227 ids in the golden; chatml NVLM-D: 281).
    for pair in internvl_single:227 internvl_tiles:281; do
        case_dir=${pair%%:*}; want=${pair#*:}
        checks=$((checks + 1))
        "$NVLM_BIN" info -m "$NV_GOLDEN_DIR/hf/$case_dir/model" --image "$NV_GOLDEN_DIR/hf/image.png" \
            -p "Please describe the image shortly." --json >"$tmp/pl" 2>&1
        $py -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['image']['per_fusion']['d']['prompt_tokens'] == int(sys.argv[2]), d['image']" \
            "$tmp/pl" "$want" || fail "info -m $case_dir prompt length"
    done

    # info -m says which paradigm each family has.
    for pair in "mllama:X: image through cross-attention" \
                "idefics3:D: image tokens in the decoder stream" \
                "llava_clip:D: image tokens in the decoder stream" \
                "qwen2:text only" \
                "internvl_tiles:nvlm: fusion heads"; do
        case_dir=${pair%%:*}; want=${pair#*:}
        checks=$((checks + 1))
        "$NVLM_BIN" info -m "$NV_GOLDEN_DIR/hf/$case_dir/model" >"$tmp/p" 2>&1
        grep -q "^paradigm: *$want" "$tmp/p" || fail "info -m $case_dir: $(head -3 "$tmp/p")"
    done
fi

# Errors.
expect_error 2 "-p TEXT is required" ask -m "$tiny"
expect_error 2 "unknown argument" ask -m "$tiny" -p q --bogus
expect_error 2 "wants a whole number" ask -m "$tiny" -p q -n many
expect_error 1 "not a model directory" ask -m "$tmp/nowhere" -p q
expect_error 2 "unknown fusion 'z'" ask -m "$tiny" --fusion z -p q
have_golden && expect_error 1 "has no 'h' fusion head" ask -m "$nvlmd/model" --fusion h -p q
expect_error 1 "cannot open" ask -m "$tiny" --image "$tmp/missing.png" -p q
printf 'not a png' >"$tmp/bad.png"
expect_error 1 "bad.png" ask -m "$tiny" --image "$tmp/bad.png" -p q
expect_error 1 "needs \"<image>\"" ask -m "$tiny" --image "$img" --raw-prompt -p "no marker"
mkdir -p "$tmp/broken" && printf '{"vision_config": ' >"$tmp/broken/config.json"
expect_error 1 "config.json: invalid JSON" ask -m "$tmp/broken" -p q
mkdir -p "$tmp/alien" && printf '{"architectures": ["GPT2LMHeadModel"]}' >"$tmp/alien/config.json"
expect_error 1 "unknown architecture 'GPT2LMHeadModel'" ask -m "$tmp/alien" -p q

echo "cli_ask: $checks checks, $failures failed"
golden_exit cli_ask "$failures"
