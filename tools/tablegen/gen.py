"""Synthetic table generator: images, Markdown truth, QA pairs, glyph boxes.

Usage (from the repository root, Debian's Python with Pillow + numpy):
    /usr/bin/python3 -m tools.tablegen --out data/train --split train --seed 1 --count 1000
Every sample is a pure function of (split, seed, index), so any one of them
can be regenerated alone and the splits never share a random stream.
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np

from . import content, fonts, markdown, qa, render, style as style_mod

GENERATOR_VERSION = 1
DEFAULT_MAX_WIDTH = 448


def sample_rng(split, seed, index):
    # Random(str) hashes the string with SHA-512: stable across runs and
    # machines, unlike hash() of a tuple.
    return random.Random("nvlm-tablegen/v%d/%s/%d/%d" % (GENERATOR_VERSION, split, seed, index))


def _fit(table, st, max_width):
    """Shrinks font, padding, margin, then columns until the table fits."""
    while True:
        width, _, _, _ = render.measure(table, st)
        if width <= max_width:
            return table, st
        if st.font_size > 12:
            st.font_size -= 1
        elif st.pad_x > 3 or st.margin > 4:
            st.pad_x, st.margin = 3, 4
        elif len(table["header"]) > 2:
            for key in ("header", "kinds"):
                table[key] = table[key][:-1]
            table["rows"] = [row[:-1] for row in table["rows"]]
            table["numbers"] = [row[:-1] for row in table["numbers"]]
        else:
            # Two columns of the longest content never exceed ~330 px at 12 px;
            # reaching here means max_width is too small for any table.
            raise ValueError("tablegen: max width %d px is too small for a table" % max_width)


def make_sample(split, seed, index, max_width=DEFAULT_MAX_WIDTH, qa_count=6, rows=(2, 8),
                cols=(2, 5), open_vocab=0.0):
    """Returns a dict with image (PIL), markdown, glyphs, cells, qa, style, table.
    rows / cols: inclusive ranges of body rows and columns (the defaults are the full
    distribution; smaller ranges make the training curriculum's first levels).
    open_vocab: share of word, name and place cells replaced by made-up words
    (content.open_vocabulary; training only, 0 leaves the sample as it always was)."""
    rng = sample_rng(split, seed, index)
    st = style_mod.sample_style(rng, split)
    table = content.make_table(rng, rng.randint(*rows), rng.randint(*cols),
                               rng.choice((0.0, 0.0, 0.05, 0.15)))
    if open_vocab > 0:
        content.open_vocabulary(table, random.Random("nvlm-tablegen-open/%s/%d/%d" % (
            split, seed, index)), open_vocab)
    table, st = _fit(table, st, max_width)
    image, glyphs, cells = render.render(table, st)
    return {
        "id": "%s_%d_%06d" % (split, seed, index),
        "image": image,
        "markdown": markdown.to_markdown(table["header"], table["rows"]),
        "glyphs": glyphs,
        "cells": cells,
        "qa": qa.make_qa(rng, table, qa_count),
        "style": st,
        "table": table,
    }


def glyph_arrays(sample):
    """(codepoints uint32 [N], boxes int16 [N,4], cells int16 [R,C,4])."""
    chars = np.array([ord(ch) for ch, _ in sample["glyphs"]], dtype=np.uint32)
    boxes = np.array([box for _, box in sample["glyphs"]], dtype=np.int16).reshape(-1, 4)
    cells = np.array(sample["cells"], dtype=np.int16)
    return chars, boxes, cells


def write_flat(out_dir, split, seed, count, start=0, rows=(2, 8), cols=(2, 5)):
    """IMAGE.png and IMAGE.md side by side, what `nvlm eval --data` and `nvlm bench --tables
    --images` read."""
    os.makedirs(out_dir, exist_ok=True)
    for index in range(start, start + count):
        s = make_sample(split, seed, index, rows=rows, cols=cols)
        s["image"].save(os.path.join(out_dir, s["id"] + ".png"))
        with open(os.path.join(out_dir, s["id"] + ".md"), "w") as f:
            f.write(s["markdown"])


def write_dataset(out_dir, split, seed, count, start=0, image_format="png",
                  max_width=DEFAULT_MAX_WIDTH, log=sys.stderr, rows=(2, 8), cols=(2, 5)):
    for sub in ("images", "truth", "glyphs"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    ext = "jpg" if image_format == "jpg" else "png"
    t0 = time.process_time()
    with open(os.path.join(out_dir, "tables.jsonl"), "a") as tables_f, \
         open(os.path.join(out_dir, "qa.jsonl"), "a") as qa_f:
        for index in range(start, start + count):
            s = make_sample(split, seed, index, max_width, rows=rows, cols=cols)
            image_rel = "images/%s.%s" % (s["id"], ext)
            if ext == "jpg":
                s["image"].save(os.path.join(out_dir, image_rel), quality=92)
            else:
                s["image"].save(os.path.join(out_dir, image_rel))
            with open(os.path.join(out_dir, "truth", s["id"] + ".md"), "w") as f:
                f.write(s["markdown"])
            chars, boxes, cells = glyph_arrays(s)
            np.savez_compressed(os.path.join(out_dir, "glyphs", s["id"] + ".npz"),
                                chars=chars, boxes=boxes, cells=cells)
            tables_f.write(json.dumps({
                "id": s["id"], "image": image_rel, "truth": "truth/%s.md" % s["id"],
                "glyphs": "glyphs/%s.npz" % s["id"], "width": s["image"].width,
                "height": s["image"].height, "rows": len(s["table"]["rows"]),
                "cols": len(s["table"]["header"]), "kinds": s["table"]["kinds"],
                "style": s["style"].to_json()}) + "\n")
            for pair in s["qa"]:
                qa_f.write(json.dumps(dict(pair, id=s["id"], image=image_rel)) + "\n")
    cpu_s = time.process_time() - t0
    manifest = {"generator_version": GENERATOR_VERSION, "split": split, "seed": seed,
                "start": start, "count": count, "image_format": ext, "max_width": max_width,
                "rows": list(rows), "cols": list(cols),
                "fonts": fonts.families_for(split), "charset": fonts.CHARSET}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    if log is not None:
        log.write("tablegen: %d %s images in %.1f CPU-s (%.1f images per CPU-second)\n"
                  % (count, split, cpu_s, count / max(cpu_s, 1e-9)))
    return cpu_s


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tablegen", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder (appended to)")
    parser.add_argument("--split", default="train", choices=style_mod.SPLITS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--start", type=int, default=0, help="first sample index")
    parser.add_argument("--format", default="png", choices=("png", "jpg"))
    parser.add_argument("--max-width", type=int, default=DEFAULT_MAX_WIDTH)
    parser.add_argument("--flat", action="store_true",
                        help="only IMAGE.png + IMAGE.md side by side (for nvlm eval --data)")
    parser.add_argument("--rows", type=int, nargs=2, default=[2, 8], metavar=("MIN", "MAX"),
                        help="body rows, inclusive (smaller: a curriculum level)")
    parser.add_argument("--cols", type=int, nargs=2, default=[2, 5], metavar=("MIN", "MAX"),
                        help="columns, inclusive")
    args = parser.parse_args(argv)
    if args.count < 0 or args.start < 0:
        parser.error("--count and --start must be >= 0")
    if not (1 <= args.rows[0] <= args.rows[1] and 2 <= args.cols[0] <= args.cols[1]):
        parser.error("--rows needs 1 <= MIN <= MAX and --cols 2 <= MIN <= MAX")
    if args.flat:
        write_flat(args.out, args.split, args.seed, args.count, args.start,
                   rows=tuple(args.rows), cols=tuple(args.cols))
        return 0
    write_dataset(args.out, args.split, args.seed, args.count, args.start, args.format,
                  args.max_width, rows=tuple(args.rows), cols=tuple(args.cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
