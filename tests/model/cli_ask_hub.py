"""cli_ask_hub.py - `nvlm ask` on the golden hub case directories as
downloaded: for llava_clip, llava_siglip and idefics3 with image.png and
the golden question, and for the text-only llama and qwen2 (byte-level
vocabulary: the prompt is the golden ids written as bytes), the --json
prompt ids and 8 greedy ids (--ignore-eos) must equal transformers'
in_input_ids and generated_ids. Also: --fusion x on a D-type family and
an image for a text-only model are refused with a message."""
import json
import os
import subprocess
import sys

import numpy as np

if not os.path.isdir(os.environ.get("NV_GOLDEN_DIR", "") or "/nonexistent"):
    # The reference data is laid beside the checkout, not shipped with it;
    # meson reads exit status 77 as a skip.
    print("SKIP: reference data not found at %r (NV_GOLDEN_DIR; ../shared/golden "
          "beside the checkout, see README.md)" % os.environ.get("NV_GOLDEN_DIR"))
    sys.exit(77)
golden = os.environ["NV_GOLDEN_DIR"]
nvlm = os.environ["NVLM_BIN"]
hf = os.path.join(golden, "hf")
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAILED:", msg)


def ask(args):
    return subprocess.run([nvlm, "ask", "-n", "8", "--ignore-eos", "--json",
                           "-t", "2"] + args, capture_output=True, timeout=120)


cases = [
    ("llava_clip", "What is shown?", True),
    ("llava_siglip", "What is shown?", True),
    ("idefics3", "What is in the image?", True),
    ("llama", None, False),
    ("qwen2", None, False),
]
for name, question, with_image in cases:
    ids = np.load(os.path.join(hf, name, "in_input_ids.npy"))[0].tolist()
    gen = np.load(os.path.join(hf, name, "generated_ids.npy"))[0].tolist()
    model = os.path.join(hf, name, "model")
    if with_image:
        args = ["-m", model, "--image", os.path.join(hf, "image.png"),
                "-p", question]
    else:
        assert all(0 < i < 256 for i in ids)
        args = [b"-m", model.encode(), b"-p", bytes(ids)]
    r = ask(args)
    if r.returncode != 0:
        fail("%s: exit %d: %s" % (name, r.returncode, r.stderr.decode()))
        continue
    out = json.loads(r.stdout.decode("utf-8", "replace"))
    if out["prompt_ids"] != ids:
        fail("%s: prompt ids %s" % (name, out["prompt_ids"]))
    if out["generated_ids"] != gen[len(ids):]:
        fail("%s: generated %s, want %s" % (name, out["generated_ids"],
                                           gen[len(ids):]))
    else:
        print("%s: prompt (%d ids) and 8 greedy ids match" % (name, len(ids)))

# --raw-prompt: each family's upstream prompt as its processor takes it, with
# the family's own image marker (<image>; <|image|> for Llama 3.2 Vision),
# gives exactly the processor's ids (NVLM-D / InternVL: cli_ask.sh).
for name in ["llava_clip", "llava_siglip", "idefics3", "mllama"]:
    meta = json.load(open(os.path.join(hf, name, "meta.json")))
    ids = np.load(os.path.join(hf, name, "in_input_ids.npy"))[0].tolist()
    r = ask(["-m", os.path.join(hf, name, "model"), "--raw-prompt",
             "--image", os.path.join(hf, "image.png"), "-p", meta["prompt"]])
    if r.returncode != 0:
        fail("%s --raw-prompt: exit %d: %s" % (name, r.returncode,
                                               r.stderr.decode()))
        continue
    out = json.loads(r.stdout.decode("utf-8", "replace"))
    if out["prompt_ids"] != ids:
        fail("%s --raw-prompt %r: prompt ids %s, want %s" % (
            name, meta["prompt"], out["prompt_ids"], ids))
    else:
        print("%s --raw-prompt %r: the processor's %d ids" % (
            name, meta["prompt"], len(ids)))

refusals = [
    # Llama 3.2 Vision's marker is <|image|>: "<image>" is plain text there,
    # so an image with no <|image|> is refused, as MllamaProcessor does.
    (["-m", os.path.join(hf, "mllama", "model"), "--raw-prompt",
      "--image", os.path.join(hf, "image.png"), "-p", "<image>What is it?"],
     'has 0 "<|image|>" but 1 image'),
    (["-m", os.path.join(hf, "llava_clip", "model"), "--fusion", "x",
      "--image", os.path.join(hf, "image.png"), "-p", "hi"], "fusion"),
    (["-m", os.path.join(hf, "llama", "model"),
      "--image", os.path.join(hf, "image.png"), "-p", "hi"], "no vision"),
]
for args, needle in refusals:
    r = ask(args)
    err = r.stderr.decode()
    if r.returncode == 0 or needle not in err:
        fail("expected a refusal naming %r: exit %d, %s" % (needle,
                                                           r.returncode, err))
    else:
        print("refused:", err.strip())

print("cli_ask_hub: %d failed" % failures)
sys.exit(1 if failures else 0)
