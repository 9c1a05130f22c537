#!/usr/bin/env bash
# cli_mllama.sh - `nvlm ask` on the Llama 3.2 Vision goldens (hf/mllama,
# hf/mllama_wide) end to end: image file -> C preprocessing -> vision ->
# cross-attention -> 8 greedy tokens, which must equal transformers'
# generated_ids (read from the golden .npy with numpy); the chat-template
# prompt runs too; --fusion d is refused with a message naming it.
set -u
: "${NVLM_BIN:?}"
. "$(dirname "$0")/../golden.sh"
skip_without_golden
py=/usr/bin/python3
failures=0
checks=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

for case in mllama:image.png mllama_wide:image_wide.png; do
    name=${case%%:*} image=${case#*:}
    dir="$NV_GOLDEN_DIR/hf/$name"
    checks=$((checks + 1))
    if ! "$NVLM_BIN" ask -m "$dir/model" --image "$NV_GOLDEN_DIR/hf/$image" \
        -p "<|image|>Describe this image in one word:" --raw-prompt -n 8 \
        --ignore-eos --json -t 2 >"$tmp/$name.json" 2>"$tmp/$name.err"; then
        fail "$name: nvlm ask failed: $(cat "$tmp/$name.err")"
        continue
    fi
    checks=$((checks + 1))
    "$py" - "$tmp/$name.json" "$dir/generated_ids.npy" <<'PY' || fail "$name: ids differ from generated_ids.npy"
import json, sys
import numpy as np
# The "text" field may hold invalid UTF-8 (raw token bytes); ids are ASCII.
got = json.loads(open(sys.argv[1], "rb").read().decode("utf-8", "replace"))
want = np.load(sys.argv[2])[0].tolist()
ids = got["prompt_ids"] + got["generated_ids"]
if ids != want:
    print("got ", ids, "\nwant", want, file=sys.stderr)
    sys.exit(1)
PY
    checks=$((checks + 1))
    "$NVLM_BIN" ask -m "$dir/model" --image "$NV_GOLDEN_DIR/hf/$image" \
        -p "What is this?" -n 4 -t 2 >/dev/null 2>"$tmp/$name.err" ||
        fail "$name: chat-template prompt failed: $(cat "$tmp/$name.err")"
done

checks=$((checks + 1))
if "$NVLM_BIN" ask -m "$NV_GOLDEN_DIR/hf/mllama/model" --fusion d -p hi \
    >/dev/null 2>"$tmp/fusion.err"; then
    fail "--fusion d was accepted"
elif ! grep -q "no 'd' fusion" "$tmp/fusion.err"; then
    fail "--fusion d: unclear message: $(cat "$tmp/fusion.err")"
fi

echo "cli_mllama: $checks checks, $failures failed"
[ "$failures" = 0 ]
