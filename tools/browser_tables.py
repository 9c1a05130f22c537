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


def make(i, seed):
    rng = random.Random(seed * 1000003 + i)
    font, style, align = rng.choice(FONTS), rng.choice(STYLES), rng.choice(ALIGNS)
    ncols, nrows = rng.randint(2, 5), rng.randint(3, 7)
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)
    if not os.path.exists(args.chromium):
        sys.exit("browser_tables: %s not found (Debian package chromium)" % args.chromium)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nvlm_browser_") as work:
        for i in range(args.count):
            page, md, what = make(i, args.seed)
            stem = "browser_%03d" % i
            src = os.path.join(work, stem + ".html")
            with open(src, "w") as f:
                f.write(page)
            png = os.path.join(args.out, stem + ".png")
            subprocess.run([args.chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--hide-scrollbars", "--window-size=900,420",
                            "--user-data-dir=" + os.path.join(work, "profile"),
                            "--screenshot=" + png, "file://" + src],
                           capture_output=True, timeout=120, check=False)
            if not os.path.exists(png):
                sys.exit("browser_tables: chromium wrote no %s" % png)
            with open(os.path.join(args.out, stem + ".md"), "w") as f:
                f.write(md)
            print("%s: %s" % (stem, what), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
