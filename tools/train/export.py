"""Assembles the bundled model directory from the parts a training run writes
(tools/train/train_stages.py fusion + gpu_run.sh): vit.safetensors, lm_base.safetensors,
fusion.safetensors, lm_{d,x,h}.safetensors and summary.json (its "config").

The shared LM `language_model.*` is head d's fine-tuned LM; heads x and h get their own
fine-tuned LM as per-head overrides `x_language_model.*` / `h_language_model.*`
(docs/model-format.md 3.3); without fine-tuned LMs, lm_base is the shared LM. All tensors
are stored as F16. Usage:
  /usr/bin/python3 tools/train/export.py RESULT_DIR assets/models/nvlm-tables
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))

import nvlm_train as NT  # noqa: E402
import st_io  # noqa: E402

MAX_BYTES = 40 * 1000 * 1000


def assemble(result):
    def part(name):
        path = os.path.join(result, name)
        return st_io.read_file(path) if os.path.isfile(path) else None
    tensors = dict(part("vit.safetensors"))
    tensors.update(part("fusion.safetensors"))
    lms = {h: part("lm_%s.safetensors" % h) for h in ("d", "x", "h")}
    base = lms["d"] or part("lm_base.safetensors")
    tensors.update(base)
    for head in ("x", "h"):
        if lms[head] is not None:
            prefix = head + "_"
            tensors.update({prefix + k: v for k, v in lms[head].items()})
    return {k: v.to(torch.float16).contiguous() for k, v in tensors.items()}


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    result, out = argv[1], argv[2]
    with open(os.path.join(result, "summary.json")) as f:
        summary = json.load(f)
    os.makedirs(out, exist_ok=True)
    tensors = assemble(result)
    st_io.write_file(os.path.join(out, "model.safetensors"), tensors,
                     {"format": "pt", "producer": "nvlm tools/train"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(summary["config"], f, indent=1)
        f.write("\n")
    NT.write_tokenizer(out)
    size = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    params = sum(v.numel() for v in tensors.values())
    print("export: %d tensors, %d parameters, %d bytes in %s" % (len(tensors), params, size, out))
    if size > MAX_BYTES:
        print("export: over the 40 MB budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
