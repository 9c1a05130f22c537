"""Greedy ids of the bundled model's three heads on assets/samples/table1..4.png (Markdown
task, first 96 ids), computed with the PyTorch reference; printed as the expected-ids block of
tests/model/test_bundled.sh ("<image> <head> <ids...>"). With --nvlm BIN, also checks that the
C runtime gives the same ids and exits 1 if not. Usage (repository root):
  /usr/bin/python3 tools/train/record_bundled.py --nvlm build/cli/nvlm
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import eval as ev  # noqa: E402
import nvlm_ref  # noqa: E402  (path set by eval)

N_IDS = 96
TASK = "Convert the table to Markdown."


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-m", "--model", default=os.path.join(ROOT, "assets", "models", "nvlm-tables"))
    p.add_argument("--nvlm")
    args = p.parse_args()
    torch.set_num_threads(1)
    model = nvlm_ref.Model(args.model)
    bad = 0
    for k in range(1, 5):
        image = os.path.join(ROOT, "assets", "samples", "table%d.png" % k)
        for head in ("d", "x", "h"):
            ids = ev.reference_answer(model, head, image, TASK, N_IDS, model.cfg.raw["max_dynamic_patch"])
            if args.nvlm:
                c_ids = ev.runtime_answer(args.nvlm, args.model, head, image, TASK, N_IDS)
                if c_ids != ids:
                    bad += 1
                    print("MISMATCH table%d %s: C %s" % (k, head, c_ids), file=sys.stderr)
            print("table%d.png %s %s" % (k, head, " ".join(map(str, ids))))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
