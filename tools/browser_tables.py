"""Tables rendered by a browser, to measure how the cell reader does on text it was not
trained on (issue 18: judged on browser-rendered tables).

    /usr/bin/python3 tools/browser_tables.py --out DIR --count 60 [--seed 1]
    build/cli/nvlm eval DIR --fusion d,x,h -t 2

Writes DIR/browser_NNN.png (Chromium headless screenshot, the browser's own text
rasterisation) and DIR/browser_NNN.md (the truth). Eight fonts (DejaVu, Liberation, Noto),
four styles (ruled, zebra, unruled, dark header band), three alignments, 3-7 rows x 2-5
columns. The cell texts come from their own lists (words, names, codes, amounts, dates,
percentages), none of them tools/tablegen's, so that a model that learnt the generator's
vocabulary by heart gains nothing here. Needs the Debian chromium package; nothing is
downloaded.

    /usr/bin/python3 tools/browser_tables.py --train --out DIR --count 1200 [--seed 7]

writes training tables instead (DIR/browser_train_NNNNN.png and .md) for
`cells.py joint --browser DIR`: the same fonts, styles and alignments, but cell texts
made from random syllables, digits and formats (train_cell), so neither the evaluation
lists above nor tools/tablegen's vocabulary are learnt by heart. They are drawn 16 to
a browser page (one Chromium start per page, each table in a box of its own, text
never wrapped) and cut apart, which is 10x faster than one start per table.
"""
import argparse
import html
import os
import random
import subprocess
import sys
import tempfile

FONTS = ["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono", "Liberation Sans",
         "Liberation Serif", "Liberation Mono", "Noto Sans", "Liberation Sans Narrow"]
STYLES = ["ruled", "zebra", "plain", "dark-header"]
ALIGNS = ["left", "center", "right"]

WORDS = ["river", "stone", "maple", "harbor", "silver", "meadow", "copper", "lantern",
         "orchard", "granite", "willow", "canyon", "summit", "prairie", "beacon", "thistle",
         "quarry", "falcon", "cedar", "marble", "ember", "glacier", "juniper", "tundra"]
FIRST = ["Ada", "Bruno", "Clara", "Diego", "Elena", "Felix", "Greta", "Hugo", "Ines",
         "Jonas", "Karla", "Luis", "Mira", "Nils", "Olga", "Pavel", "Rosa", "Tomas"]
LAST = ["Berg", "Castro", "Dahl", "Eklund", "Ferreira", "Gruber", "Horvat", "Jansen",
        "Kowal", "Lindqvist", "Moreau", "Novak", "Ortega", "Petrov", "Quinn", "Rossi"]
HEADERS = {
    "word": ["Item", "Material", "Site", "Label"],
    "name": ["Owner", "Contact", "Lead", "Author"],
    "code": ["ID", "Ref", "SKU", "Lot"],
    "amount": ["Total", "Price", "Cost", "Balance"],
    "date": ["Date", "Due", "Opened", "Shipped"],
    "pct": ["Rate", "Share", "Growth", "Margin"],
    "int": ["Qty", "Units", "Count", "Stock"],
}


def cell(kind, rng):
    if kind == "word":
        w = rng.choice(WORDS)
        return w.capitalize() if rng.random() < 0.5 else w + " " + rng.choice(WORDS)
    if kind == "name":
        return rng.choice(FIRST) + " " + rng.choice(LAST)
    if kind == "code":
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXZ") for _ in range(rng.randint(1, 3)))
        return letters + rng.choice(["-", "", "/"]) + str(rng.randint(10, 99999))
    if kind == "amount":
        v = rng.uniform(-2000, 250000)
        return rng.choice(["{:,.2f}", "{:.2f}", "${:,.2f}"]).format(v)
    if kind == "date":
        y, m, d = rng.randint(1995, 2029), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice(["%04d-%02d-%02d" % (y, m, d), "%02d/%02d/%04d" % (d, m, y)])
    if kind == "pct":
        return "%.1f%%" % rng.uniform(-50, 150)
    return str(rng.randint(0, 9999))


CONSONANTS = "bcdfghjklmnprstvwz"
VOWELS = "aeiouy"
TRAIN_KINDS = ["word", "words", "number", "decimal", "money", "pct", "date", "code", "time"]


def pseudo_word(rng):
    w = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.4:
        w += rng.choice(CONSONANTS)
    r = rng.random()
    return w.capitalize() if r < 0.5 else w.upper() if r < 0.6 else w


def train_cell(kind, rng):
    """A training cell text: random syllables and digits in the formats tables use."""
    if kind == "word":
        return pseudo_word(rng)
    if kind == "words":
        return " ".join(pseudo_word(rng) for _ in range(rng.randint(2, 3)))
    if kind == "number":
        v = rng.randint(-99999, 999999) if rng.random() < 0.3 else rng.randint(0, 9999)
        return "{:,}".format(v) if rng.random() < 0.5 else str(v)
    if kind == "decimal":
        return "%.*f" % (rng.randint(1, 3), rng.uniform(-999, 9999))
    if kind == "money":
        v = "{:,.2f}".format(rng.uniform(0, 99999))
        return rng.choice(["$", "\u20ac", "\u00a3", ""]) + v if rng.random() < 0.8 else "(%s)" % v
    if kind == "pct":
        return "%.*f%%" % (rng.randint(0, 2), rng.uniform(-99, 200))
    if kind == "date":
        y, m, d = rng.randint(1950, 2049), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice(["%04d-%02d-%02d" % (y, m, d), "%02d/%02d/%04d" % (d, m, y),
                           "%d.%d.%04d" % (d, m, y), "%02d/%02d" % (m, d)])
    if kind == "time":
        return "%d:%02d" % (rng.randint(0, 23), rng.randint(0, 59))
    letters = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(1, 4)))
    return letters + rng.choice(["-", "", "/", "_", ".", "#"]) + str(rng.randint(0, 99999))


def make(i, seed, train=False):
    rng = random.Random(seed * 1000003 + i)
    font, style, align = rng.choice(FONTS), rng.choice(STYLES), rng.choice(ALIGNS)
    ncols, nrows = rng.randint(2, 5), rng.randint(3, 7)
    if train:
        kinds = [rng.choice(TRAIN_KINDS) for _ in range(ncols)]
        header = [pseudo_word(rng).capitalize() for _ in kinds]
        rows = [[train_cell(k, rng) if rng.random() > 0.05 else "" for k in kinds]
                for _ in range(nrows)]
    else:
        kinds = rng.sample(sorted(HEADERS), ncols)
        header = [rng.choice(HEADERS[k]) for k in kinds]
        rows = [[cell(k, rng) for k in kinds] for _ in range(nrows)]
    size = rng.choice([14, 15, 16, 18])
    css = ("body{margin:%dpx;background:#fff;font-family:'%s';font-size:%dpx}"
           "table{border-collapse:collapse}td,th{padding:%dpx %dpx;text-align:%s}"
           % (rng.randint(12, 30), font, size, rng.randint(4, 8), rng.randint(10, 16), align))
    if style == "ruled":
        css += "td,th{border:1px solid #444}"
    elif style == "zebra":
        css += "tr:nth-child(even){background:#e6edf5}th{border-bottom:2px solid #333}"
    elif style == "dark-header":
        css += "th{background:#1f2a44;color:#fff}"
    else:
        css += "th{border-bottom:1px solid #888}"
    body = "<tr>%s</tr>" % "".join("<th>%s</th>" % html.escape(h) for h in header)
    body += "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % html.escape(c) for c in r)
                    for r in rows)
    page = "<html><head><meta charset='utf-8'><style>%s</style></head><body><table>%s" \
           "</table></body></html>" % (css, body)
    esc = lambda t: t.replace("|", "\\|")
    md = "| " + " | ".join(esc(h) for h in header) + " |\n| " + \
         " | ".join(["---"] * ncols) + " |\n" + \
         "".join("| " + " | ".join(esc(c) for c in r) + " |\n" for r in rows)
    return page, md, "%s, %s, %s" % (font, style, align)


BOX_W, BOX_H, PER_PAGE_X, PER_PAGE_Y = 1300, 480, 2, 8


def page_of_boxes(pages):
    """One browser page holding each table page's <style> and <table> in a box of
    BOX_W x BOX_H at a known place (an iframe each: a table keeps its own body margin,
    font and CSS, as if it were screenshotted alone); text never wraps."""
    boxes = []
    for k, page in enumerate(pages):
        x, y = (k % PER_PAGE_X) * BOX_W, (k // PER_PAGE_X) * BOX_H
        doc = page.replace("</style>", "td,th{white-space:nowrap}</style>")
        boxes.append("<iframe style='position:absolute;left:%dpx;top:%dpx;width:%dpx;"
                     "height:%dpx;border:0' scrolling='no' srcdoc=\"%s\"></iframe>"
                     % (x, y, BOX_W, BOX_H, html.escape(doc, quote=True)))
    return "<html><body style='margin:0'>%s</body></html>" % "".join(boxes)


def screenshot(chromium, src, png, size, work):
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=%d,%d" % size,
                    "--user-data-dir=" + os.path.join(work, "profile"),
                    "--screenshot=" + png, "file://" + src],
                   capture_output=True, timeout=180, check=False)
    if not os.path.exists(png):
        sys.exit("browser_tables: chromium wrote no %s" % png)


def write_train(args, work):
    from PIL import Image
    per_page = PER_PAGE_X * PER_PAGE_Y
    for first in range(0, args.count, per_page):
        ids = list(range(first, min(args.count, first + per_page)))
        made = [make(i, args.seed, train=True) for i in ids]
        src = os.path.join(work, "page.html")
        with open(src, "w") as f:
            f.write(page_of_boxes([m[0] for m in made]))
        png = os.path.join(work, "page.png")
        screenshot(args.chromium, src, png, (BOX_W * PER_PAGE_X, BOX_H * PER_PAGE_Y), work)
        sheet = Image.open(png).convert("RGB")
        os.remove(png)
        for k, (i, (_, md, _)) in enumerate(zip(ids, made)):
            x, y = (k % PER_PAGE_X) * BOX_W, (k // PER_PAGE_X) * BOX_H
            stem = "browser_train_%05d" % i
            sheet.crop((x, y, x + BOX_W, y + BOX_H)).save(os.path.join(args.out, stem + ".png"))
            with open(os.path.join(args.out, stem + ".md"), "w") as f:
                f.write(md)
        print("browser_tables: %d / %d training tables" % (ids[-1] + 1, args.count),
              file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--train", action="store_true",
                    help="training tables (random-syllable texts, 16 per browser page)")
    args = ap.parse_args(argv)
    if not os.path.exists(args.chromium):
        sys.exit("browser_tables: %s not found (Debian package chromium)" % args.chromium)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nvlm_browser_") as work:
        if args.train:
            write_train(args, work)
            return 0
        for i in range(args.count):
            page, md, what = make(i, args.seed)
            stem = "browser_%03d" % i
            src = os.path.join(work, stem + ".html")
            with open(src, "w") as f:
                f.write(page)
            png = os.path.join(args.out, stem + ".png")
            screenshot(args.chromium, src, png, (900, 420), work)
            with open(os.path.join(args.out, stem + ".md"), "w") as f:
                f.write(md)
            print("%s: %s" % (stem, what), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
