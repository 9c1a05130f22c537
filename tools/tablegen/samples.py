"""Writes the bundled samples: `/usr/bin/python3 -m tools.tablegen.samples [DIR]`.

assets/samples/tableN.png + tableN.md (Markdown truth) + qa.jsonl. The samples
come from the test and heldout splits, so no model trained on train sees them;
table4 is in a held-out font and style.
"""
import json
import os
import sys

from .gen import make_sample

# (name, split, seed, index): picked by eye for variety.
SAMPLES = (
    ("table1", "test", 0, 6),
    ("table2", "test", 0, 2),
    ("table3", "test", 0, 7),
    ("table4", "heldout", 0, 4),
)
MAX_BYTES = 60 * 1024


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else os.path.join("assets", "samples")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "qa.jsonl"), "w") as qa_f:
        for name, split, seed, index in SAMPLES:
            s = make_sample(split, seed, index)
            path = os.path.join(out_dir, name + ".png")
            s["image"].save(path, optimize=True)
            size = os.path.getsize(path)
            if size > MAX_BYTES:
                raise SystemExit("samples: %s is %d bytes (> %d)" % (path, size, MAX_BYTES))
            with open(os.path.join(out_dir, name + ".md"), "w") as f:
                f.write(s["markdown"])
            for pair in s["qa"]:
                # The same fields as the generated splits' qa.jsonl (docs/data.md),
                # the image named as it is here.
                qa_f.write(json.dumps(dict(pair, id=s["id"], image=name + ".png")) + "\n")
            st = s["style"]
            print("%s: %s seed %d index %d, %dx%d, %d bytes, %s %dpx %s/%s"
                  % (name, split, seed, index, s["image"].width, s["image"].height, size,
                     st.family, st.font_size, st.rule, st.fill))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
