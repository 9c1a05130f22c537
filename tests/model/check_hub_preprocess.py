"""check_hub_preprocess.py - the hub families' C image processors
(vision/llava_preprocess.c, vision/idefics3_preprocess.c, through
hub_prep_dump) against tools/reference/hub_preprocess.py, which is itself
first checked against transformers' own in_pixel_values of the goldens.
Images: the golden image.png (100x75) and image_wide.png (120x50), and two
seeded random images (tall 37x90, small 23x17). Tolerance 1e-6 (both sides
reproduce Pillow exactly and numpy's float32 arithmetic: expected equal);
the split grid must match."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

root = os.environ["NV_SOURCE_ROOT"]
sys.path.insert(0, os.path.join(root, "tools", "reference"))
import hub_preprocess as ref  # noqa: E402

if not os.path.isdir(os.environ.get("NV_GOLDEN_DIR", "") or "/nonexistent"):
    # The reference data is laid beside the checkout, not shipped with it;
    # meson reads exit status 77 as a skip.
    print("SKIP: reference data not found at %r (NV_GOLDEN_DIR; ../shared/golden "
          "beside the checkout, see README.md)" % os.environ.get("NV_GOLDEN_DIR"))
    sys.exit(77)
hf = os.path.join(os.environ["NV_GOLDEN_DIR"], "hf")
dump = sys.argv[1]
failures = 0
TOL = 1e-6


def fail(msg):
    global failures
    failures += 1
    print("FAILED:", msg)


def reference(case, path):
    pp = json.load(open(os.path.join(hf, case, "model", "preprocessor_config.json")))
    arr = np.array(Image.open(path).convert("RGB"))
    if case == "idefics3":
        return ref.idefics3_pixels(arr, pp)
    return ref.llava_pixels(arr, pp), 1, 1


def c_side(case, path, tmp):
    out = os.path.join(tmp, "pixels.bin")
    r = subprocess.run([dump, os.path.join(hf, case, "model"), path, out],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode())
    with open(out, "rb") as f:
        n, rows, cols, S = map(int, f.readline().split())
        px = np.frombuffer(f.read(), dtype=np.float32).reshape(n, 3, S, -1)
    return px, rows, cols


with tempfile.TemporaryDirectory() as tmp:
    rng = np.random.default_rng(7)
    extra = []
    for w, h in [(37, 90), (23, 17)]:
        p = os.path.join(tmp, "rand_%dx%d.png" % (w, h))
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        extra.append(p)
    images = [os.path.join(hf, "image.png"), os.path.join(hf, "image_wide.png")] + extra
    for case in ["llava_clip", "llava_siglip", "idefics3"]:
        want = np.load(os.path.join(hf, case, "in_pixel_values.npy"))
        want = want.reshape(-1, *want.shape[-3:])
        got, _, _ = reference(case, images[0])
        if got.shape != want.shape or np.abs(got - want).max() > TOL:
            fail("%s: the Python reference differs from transformers" % case)
            continue
        print("%s: reference == transformers' in_pixel_values (max err %.2g)"
              % (case, np.abs(got - want).max()))
        for path in images:
            name = os.path.basename(path)
            want_px, want_r, want_c = reference(case, path)
            try:
                got_px, got_r, got_c = c_side(case, path, tmp)
            except RuntimeError as e:
                fail("%s %s: %s" % (case, name, e))
                continue
            if case == "idefics3" and (got_r, got_c) != (want_r, want_c):
                fail("%s %s: grid %dx%d, want %dx%d" % (case, name, got_r, got_c,
                                                        want_r, want_c))
            if got_px.shape != want_px.shape:
                fail("%s %s: shape %s, want %s" % (case, name, got_px.shape,
                                                   want_px.shape))
                continue
            err = np.abs(got_px - want_px).max()
            if err > TOL:
                fail("%s %s: max err %g > %g" % (case, name, err, TOL))
            else:
                print("%s %s: %d frames (grid %dx%d), C vs reference max err %.2g"
                      % (case, name, got_px.shape[0], want_r, want_c, err))
print("check_hub_preprocess: %d failed" % failures)
sys.exit(1 if failures else 0)
