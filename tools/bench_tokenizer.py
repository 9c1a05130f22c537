#!/usr/bin/env python3
"""bench_tokenizer.py - measures `nvlm tokenize` encode speed on a large text.

Builds a text of about --mb megabytes from the 25 golden case strings of
tokenizers/<name>/cases.json (Markdown tables, Korean, CJK, emoji, code...)
interleaved with generated Markdown tables of numbers and words (seeded, so
every run reads the same text), then runs
    nvlm tokenize --tokenizer <tokenizer.json> --count -f <text>
which prints the token count on stdout and the encode time and MB/s (load
time excluded) on stderr. Only the standard library is needed.

usage: tools/bench_tokenizer.py [--nvlm build/cli/nvlm] [--golden DIR]
                                [--mb 4] [--runs 3] [names...]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

WORDS = ("revenue profit margin quarter total growth cost widget gizmo "
         "region north south east west Seoul Tokyo Paris 매출 이익 成長 利益 "
         "café naïve the of and in to").split()


def markdown_table(rng):
    cols = rng.randint(3, 6)
    rows = rng.randint(3, 12)
    head = "| " + " | ".join(rng.choice(WORDS).title() for _ in range(cols))
    lines = [head + " |", "|" + "---|" * cols]
    for _ in range(rows):
        cells = []
        for _ in range(cols):
            kind = rng.random()
            if kind < 0.4:
                cells.append(f"{rng.uniform(-1e5, 1e5):,.2f}")
            elif kind < 0.6:
                cells.append(f"{rng.randint(0, 100)}%")
            else:
                cells.append(" ".join(rng.choice(WORDS)
                                      for _ in range(rng.randint(1, 3))))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n"


def build_text(cases, megabytes, seed=1234):
    rng = random.Random(seed)
    parts, size, target = [], 0, int(megabytes * 1e6)
    while size < target:
        piece = rng.choice(cases) + "\n" if rng.random() < 0.5 \
            else markdown_table(rng)
        parts.append(piece)
        size += len(piece.encode())
    return "".join(parts)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nvlm", default=os.path.join(root, "build/cli/nvlm"))
    ap.add_argument("--golden",
                    default=os.path.join(root, "../shared/golden"))
    ap.add_argument("--mb", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("names", nargs="*", default=["llama3", "qwen3"])
    args = ap.parse_args()
    for name in args.names:
        tdir = os.path.join(args.golden, "tokenizers", name)
        with open(os.path.join(tdir, "cases.json"), encoding="utf-8") as f:
            cases = [c["text"] for c in json.load(f)["cases"] if c["text"]]
        text = build_text(cases, args.mb)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8",
                                         suffix=".txt", delete=False) as f:
            f.write(text)
            path = f.name
        try:
            for _ in range(args.runs):
                r = subprocess.run(
                    [args.nvlm, "tokenize", "--tokenizer",
                     os.path.join(tdir, "tokenizer.json"), "--count", "-f",
                     path], capture_output=True, text=True, check=True)
                print(f"{name}: {r.stdout.strip()} tokens; "
                      f"{r.stderr.strip()}")
        finally:
            os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
