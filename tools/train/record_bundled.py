"""Records what the bundled model reads on assets/samples, for tests/model/test_bundled.sh:
for each sample table and each head, `nvlm table` (grid + cell reader) in C, after checking
that the PyTorch reference reads every cell tile the same (tools/train/cells.py check).
Writes tests/model/bundled/<sample>_<head>.md. Usage (repository root):
  /usr/bin/python3 tools/train/record_bundled.py --nvlm build/cli/nvlm
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-m", "--model", default=os.path.join(ROOT, "assets", "models", "nvlm-tables"))
    p.add_argument("--nvlm", required=True)
    p.add_argument("--out", default=os.path.join(ROOT, "tests", "model", "bundled"))
    args = p.parse_args()
    samples = os.path.join(ROOT, "assets", "samples")
    check = subprocess.run([sys.executable, os.path.join(HERE, "cells.py"), "check", "--nvlm",
                            args.nvlm, "--model", args.model, "--images", samples,
                            "--min-agree", "1.0"])
    if check.returncode:
        print("record_bundled: the C runtime and PyTorch read the sample cells differently",
              file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    images = sorted(f for f in os.listdir(samples) if f.endswith(".png"))
    for head in ("d", "x", "h"):
        out = subprocess.run([args.nvlm, "table", "-m", args.model, "--fusion", head, "--json",
                              "-t", "2"] + [os.path.join(samples, f) for f in images],
                             capture_output=True, text=True, check=True)
        for line in out.stdout.splitlines():
            d = json.loads(line)
            stem = os.path.splitext(os.path.basename(d["image"]))[0]
            with open(os.path.join(args.out, "%s_%s.md" % (stem, head)), "w") as f:
                f.write(d["markdown"])
    print("record_bundled: %d tables x 3 heads written to %s" % (len(images), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
