"""Scores nvlm's table layout (`nvlm table --layout`) on generated tables whose grid is known.

    /usr/bin/python3 tools/layout_eval.py --nvlm build/cli/nvlm --split test --count 500
    /usr/bin/python3 tools/layout_eval.py --nvlm build/cli/nvlm --split heldout --count 500 --show 5

For each table of tools/tablegen (split, seed, indices 0..count-1) it checks that the layout
has exactly the table's rows x columns, and that every non-empty cell's ink box lies inside
the generator's cell rectangle and every empty cell is found empty. Prints the rates and the
failing ids with their style (--show N of them); exit 1 when --min-grid is not met.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tools.tablegen import gen  # noqa: E402


def inside(box, rect, slack=2):
    x0, y0, x1, y1 = box
    a0, b0, a1, b1 = rect
    return x0 >= a0 - slack and y0 >= b0 - slack and x1 <= a1 + slack and y1 <= b1 + slack


def check(sample, layout):
    """(grid right, cells right, cells total, why)."""
    table = sample["table"]
    rows, cols = len(table["rows"]) + 1, len(table["header"])
    if layout.get("rows") != rows or layout.get("cols") != cols:
        return False, 0, rows * cols, "grid %sx%s, truth %dx%d" % (
            layout.get("rows"), layout.get("cols"), rows, cols)
    texts = [table["header"]] + table["rows"]
    good = 0
    bad = []
    for r in range(rows):
        for c in range(cols):
            box = layout["cells"][r][c]
            empty = texts[r][c] == ""
            if empty and box is None:
                good += 1
            elif not empty and box is not None and inside(box, sample["cells"][r][c]):
                good += 1
            else:
                bad.append((r, c))
    return True, good, rows * cols, ("cells %s" % bad[:4]) if bad else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nvlm", default="build/cli/nvlm")
    ap.add_argument("--split", default="test")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--show", type=int, default=10, help="failures to list")
    ap.add_argument("--min-grid", type=float, default=0.0,
                    help="exit 1 when the share of exact grids is below this")
    ap.add_argument("--keep", help="write the images here instead of a temporary folder")
    args = ap.parse_args()
    tmp = args.keep or tempfile.mkdtemp(prefix="nvlm_layout_")
    os.makedirs(tmp, exist_ok=True)
    samples, paths = [], []
    for i in range(args.count):
        s = gen.make_sample(args.split, args.seed, i)
        path = os.path.join(tmp, s["id"] + ".png")
        s["image"].save(path)
        samples.append(s)
        paths.append(path)
    out = subprocess.run([args.nvlm, "table", "--layout"] + paths, capture_output=True,
                         text=True)
    layouts = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    if len(layouts) != len(samples):
        sys.exit("layout_eval: %d layouts for %d images\n%s" % (len(layouts), len(samples),
                                                                 out.stderr))
    grids = cells_ok = cells_all = 0
    fails = []
    for s, lay in zip(samples, layouts):
        grid_ok, good, total, why = check(s, lay)
        grids += grid_ok
        cells_ok += good
        cells_all += total
        if not grid_ok or good < total:
            st = s["style"]
            fails.append("%s: %s (font %d %s, rule %s, fill %s, align %s, pad %d, blur %.1f, "
                         "jpeg %d)" % (s["id"], why, st.font_size, st.family, st.rule, st.fill,
                                       st.align, st.pad_x, st.blur, st.jpeg_quality))
    n = len(samples)
    print("layout %s: grid exact %d/%d (%.3f), cells right %d/%d (%.4f)" % (
        args.split, grids, n, grids / n, cells_ok, cells_all, cells_ok / max(cells_all, 1)))
    for line in fails[:args.show]:
        print("  " + line)
    if not args.keep:
        for p in paths:
            os.remove(p)
        os.rmdir(tmp)
    return 1 if grids / n < args.min_grid else 0


if __name__ == "__main__":
    sys.exit(main())
