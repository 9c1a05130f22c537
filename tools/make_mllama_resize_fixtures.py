"""make_mllama_resize_fixtures.py - Pillow BILINEAR resizes of tests/fixtures/images/resize_src.png
(the 37x23 RGB source of the bicubic fixtures) for vision/mllama_preprocess.c, whose image
processor (MllamaImageProcessor, resample=2) resizes with Pillow's bilinear filter.

Writes tests/fixtures/mllama_resize/bilinear_WxH.rgb (raw RGB bytes, row-major) and
manifest.json. Run with /usr/bin/python3 (Pillow 9.4).
"""
import json
import os

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "tests", "fixtures", "images", "resize_src.png")
OUT = os.path.join(ROOT, "tests", "fixtures", "mllama_resize")
# upscaling (as a small image into a tile), 2x, downscaling, one axis only, 1x1, a copy
SIZES = ((56, 34), (74, 46), (16, 16), (5, 3), (1, 1), (37, 10), (20, 23), (3, 41), (37, 23))


def main():
    src = Image.open(SRC).convert("RGB")
    os.makedirs(OUT, exist_ok=True)
    manifest = {"pillow": Image.__version__, "source": "images/resize_src.png", "resize": []}
    for w, h in SIZES:
        name = f"bilinear_{w}x{h}.rgb"
        out = np.asarray(src.resize((w, h), Image.BILINEAR), dtype=np.uint8)
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(out.tobytes())
        manifest["resize"].append({"width": w, "height": h, "expected": name})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
