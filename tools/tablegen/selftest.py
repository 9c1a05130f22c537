"""Self-test of the generator: `/usr/bin/python3 -m tools.tablegen.selftest`.

Checks determinism, split separation, the held-out styles, Markdown escaping
round trips, QA answers against the table, and glyph boxes against the ink
of a re-rendered undegraded image. Exits non-zero on the first failure.
"""
import dataclasses
import random
import sys

import numpy as np

from . import content, fonts, markdown, render, style as style_mod
from .gen import DEFAULT_MAX_WIDTH, make_sample

N_SAMPLES = 60


def check(cond, what):
    if not cond:
        raise AssertionError("tablegen selftest: " + what)


def test_determinism():
    a, b = make_sample("train", 7, 3), make_sample("train", 7, 3)
    check(a["image"].tobytes() == b["image"].tobytes(), "same seed gives different images")
    check(a["markdown"] == b["markdown"] and a["qa"] == b["qa"], "same seed gives different truth")
    c = make_sample("val", 7, 3)
    check(c["markdown"] != a["markdown"], "train and val share a random stream")


def test_levels():
    """rows / cols ranges (the curriculum's levels) are honoured, and a level is a different
    draw of the same split, not a filter of the full one."""
    for index in range(12):
        s = make_sample("train", 5, index, rows=(1, 2), cols=(2, 3))
        n_rows, n_cols = len(s["table"]["rows"]), len(s["table"]["header"])
        check(1 <= n_rows <= 2 and 2 <= n_cols <= 3,
              "level rows 1-2 x cols 2-3 gave %d x %d" % (n_rows, n_cols))
        lines = s["markdown"].strip("\n").split("\n")
        check(len(lines) == n_rows + 2, "level table's Markdown has %d lines for %d rows"
              % (len(lines), n_rows))
    one = make_sample("test", 5, 0, rows=(1, 1), cols=(2, 2))
    check(len(one["table"]["rows"]) == 1 and len(one["table"]["header"]) == 2,
          "rows (1, 1) x cols (2, 2) is not a 1 x 2 table")


def test_open_vocab():
    """open_vocab 0 is the sample as always; 1 makes up every non-empty word, name and
    place cell (none from the closed lists), keeps row keys unique, the other cells and
    the style drawn, and is a pure function of (split, seed, index)."""
    closed = set(content.WORDS) | set(w.capitalize() for w in content.WORDS) | \
        set(content.PLACES) | set(content.LAST_NAMES)
    made_up = 0
    for index in range(20):
        base = make_sample("train", 3, index)
        check(make_sample("train", 3, index, open_vocab=0.0)["markdown"] == base["markdown"],
              "open_vocab 0 changed a sample")
        a = make_sample("train", 3, index, open_vocab=1.0)
        b = make_sample("train", 3, index, open_vocab=1.0)
        check(a["markdown"] == b["markdown"], "open_vocab is not deterministic")
        keys = [row[0] for row in a["table"]["rows"]]
        check(len(set(keys)) == len(keys), "open_vocab made a duplicate row key")
        # _fit may shrink the font for longer words; the style drawn stays
        check((a["style"].family, a["style"].rule, a["style"].fill) ==
              (base["style"].family, base["style"].rule, base["style"].fill),
              "open_vocab changed the style")
        for r, row in enumerate(a["table"]["rows"]):
            for c, kind in enumerate(a["table"]["kinds"]):
                text = row[c]
                if kind not in content.OPEN_TYPES:
                    if c < len(base["table"]["kinds"]):
                        check(text == base["table"]["rows"][r][c],
                              "open_vocab changed a %s cell" % kind)
                    continue
                if not text:
                    continue
                last = text.split(" ")[-1]
                check(text not in closed and last not in closed,
                      "open_vocab kept the listed %s %r" % (kind, text))
                made_up += 1
    check(made_up > 40, "open_vocab made up only %d cells" % made_up)


def test_held_out_styles():
    rng = random.Random(5)
    for split in ("train", "val", "test"):
        for _ in range(300):
            st = style_mod.sample_style(rng, split)
            check(st.family not in fonts.HELD_OUT_FAMILIES, "held-out font in " + split)
            check(st.rule not in style_mod.HELD_OUT_RULES, "held-out rule in " + split)
            check(st.fill not in style_mod.HELD_OUT_FILLS, "held-out fill in " + split)
    rules, fills = set(), set()
    for _ in range(300):
        st = style_mod.sample_style(rng, "heldout")
        check(st.family in fonts.HELD_OUT_FAMILIES, "training font in heldout")
        rules.add(st.rule)
        fills.add(st.fill)
    check("booktabs" in rules and "dark_header" in fills, "heldout never draws its own styles")


def test_markdown():
    header, rows = ["a|b", "c\\"], [["x \\| y", ""], ["|", "q"]]
    text = markdown.to_markdown(header, rows)
    check(text.split("\n")[0] == "| a\\|b | c\\\\ |", "pipe/backslash escaping: " + text)
    check(markdown.parse_markdown(text) == (header, rows), "markdown round trip")


def _ink_outside_boxes(sample):
    """Re-renders without rules, fills, blur, JPEG; returns ink pixels outside all boxes."""
    st = dataclasses.replace(sample["style"], rule="none", fill="plain", blur=0.0,
                             jpeg_quality=0, background=(255, 255, 255), ink=(0, 0, 0))
    image, glyphs, _ = render.render(sample["table"], st)
    check(glyphs == sample["glyphs"], "boxes depend on colours/rules")
    grey = np.asarray(image.convert("L"))
    ink = grey < 160
    covered = np.zeros_like(ink)
    for ch, (x0, y0, x1, y1) in glyphs:
        check((grey[y0:y1, x0:x1] < 250).any(), "box of %r holds no ink" % ch)
        covered[max(0, y0 - 1):y1 + 1, max(0, x0 - 1):x1 + 1] = True
    return int((ink & ~covered).sum()), int(ink.sum())


def test_samples():
    outside_total = ink_total = 0
    for index in range(N_SAMPLES):
        split = ("train", "val", "test", "heldout")[index % 4]
        s = make_sample(split, 11, index)
        table, st, image = s["table"], s["style"], s["image"]
        n_rows, n_cols = len(table["rows"]), len(table["header"])
        check(2 <= n_rows <= 8 and 2 <= n_cols <= 5, "table size %dx%d" % (n_rows, n_cols))
        check(image.width <= DEFAULT_MAX_WIDTH, "image wider than %d" % DEFAULT_MAX_WIDTH)
        check(12 <= st.font_size <= 24, "font size %d" % st.font_size)
        check(markdown.parse_markdown(s["markdown"]) == (table["header"], table["rows"]),
              "markdown truth does not parse back to the table")
        # Glyphs come in reading order: header then rows, left to right.
        expected = "".join(ch for line in [table["header"]] + table["rows"]
                           for cell in line for ch in cell if not ch.isspace())
        check("".join(ch for ch, _ in s["glyphs"]) == expected, "glyph characters out of order")
        for ch, (x0, y0, x1, y1) in s["glyphs"]:
            check(0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height,
                  "box of %r outside the image" % ch)
        outside, ink = _ink_outside_boxes(s)
        outside_total += outside
        ink_total += ink
        for pair in s["qa"]:
            _check_answer(table, pair)
    # Anti-aliasing fringes may fall just outside a 1-px dilated box; measured
    # 0 over 60 samples, a 2-px shift of the boxes gives ~0.2 %.
    check(outside_total <= 0.0002 * ink_total,
          "%d of %d ink pixels outside glyph boxes" % (outside_total, ink_total))
    return outside_total, ink_total


def _check_answer(table, pair):
    header, rows = table["header"], table["rows"]
    kind, answer = pair["type"], pair["answer"]
    if kind == "row_count":
        check(answer == str(len(rows)), "row count")
    elif kind == "column_count":
        check(answer == str(len(header)), "column count")
    elif kind == "column_header":
        check(answer in header, "column header")
    elif kind in ("cell_lookup", "cell_position"):
        check(any(answer in row[1:] for row in rows), "cell answer not in table")
    elif kind in ("max_value", "min_value", "argmax", "argmin"):
        col = next(c for c in range(1, len(header))
                   if " %s column" % header[c] in pair["question"]
                   or pair["question"].endswith(" %s?" % header[c]))
        nums = [(n[col], r) for r, n in enumerate(table["numbers"]) if n[col] is not None]
        best = (max if kind in ("max_value", "argmax") else min)(nums)[1]
        want = rows[best][col] if kind in ("max_value", "min_value") else rows[best][0]
        check(answer == want, "%s: %r != %r" % (kind, answer, want))
    else:
        check(False, "unknown QA type " + kind)


def main():
    fonts.discover()
    test_determinism()
    test_levels()
    test_open_vocab()
    test_held_out_styles()
    test_markdown()
    outside, ink = test_samples()
    print("tablegen selftest: OK (%d samples; %d of %d ink pixels outside glyph boxes)"
          % (N_SAMPLES, outside, ink))
    return 0


if __name__ == "__main__":
    sys.exit(main())
