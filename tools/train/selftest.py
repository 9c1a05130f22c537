"""Self-test of the training tools: `/usr/bin/python3 tools/train/selftest.py`.

- vit.VisionModel loaded with the golden InternViT checkpoint (upstream
  OpenGVLab code, $NV_GOLDEN_DIR/hf/internvl_single) reproduces its hidden
  states of every layer (max |diff| / max |ref| <= 1e-5);
- tiling.choose_grid reproduces the 82 upstream tiling decisions;
- the safetensors writer round-trips exactly, the reader rejects truncated
  and out-of-bounds files with an error naming them, and a BatchNorm-folded export
  reproduces the trained model in eval mode (<= 1e-5 relative);
- patch labels land in the tile and patch (and, with two slots, the half of the patch)
  holding each glyph centre, and glyph_tokens names the image tokens holding it.
Needs the golden data: fails (does not skip) when it is missing.
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import safetensors_io  # noqa: E402
import tiling  # noqa: E402
import vit  # noqa: E402

TOL = 1e-5


def golden_dir():
    """The reference data, or None when it is not there (it is laid beside the
    checkout, not shipped with it)."""
    path = os.environ.get("NV_GOLDEN_DIR",
                          os.path.join(HERE, "..", "..", "..", "shared", "golden"))
    return path if os.path.isdir(os.path.join(path, "hf")) else None


def check(cond, what):
    if not cond:
        raise SystemExit("train selftest: FAIL " + what)


def test_vit_vs_golden(golden):
    base = os.path.join(golden, "hf", "internvl_single")
    cfg = json.load(open(os.path.join(base, "model", "config.json")))["vision_config"]
    check(cfg["norm_type"] == "layer_norm" and cfg["qkv_bias"] and not cfg["qk_normalization"],
          "golden internvl_single is not the plain InternViT variant")
    tensors, _ = safetensors_io.read(os.path.join(base, "model", "model.safetensors"))
    model = vit.VisionModel(cfg["image_size"], cfg["patch_size"], cfg["hidden_size"],
                            cfg["num_hidden_layers"], cfg["num_attention_heads"],
                            cfg["intermediate_size"] / cfg["hidden_size"],
                            cfg["layer_norm_eps"], stem_batchnorm=False)
    model.load_internvit(tensors)
    pixels = torch.from_numpy(np.load(os.path.join(base, "in_pixel_values.npy")))
    ref = np.load(os.path.join(base, "vision_hidden_states.npy"))
    with torch.no_grad():
        states = model(pixels)
    check(len(states) == ref.shape[0], "layer count %d vs %d" % (len(states), ref.shape[0]))
    worst = 0.0
    for got, want in zip(states, ref):
        worst = max(worst, float(np.abs(got.numpy() - want).max() / np.abs(want).max()))
    check(worst <= TOL, "ViT vs golden hidden states: %.3g > %.0e" % (worst, TOL))
    return worst


def test_tiling(golden):
    cases = json.load(open(os.path.join(golden, "hf", "tiling_cases.json")))
    size = cases["params"]["image_size"]
    n = 0
    for case in cases["cases"]:
        for max_num in cases["params"]["max_num"]:
            want = case["max_num_%d" % max_num]
            got = tiling.choose_grid(case["w"], case["h"], size, max_num)
            check(got == (want["cols"], want["rows"]),
                  "tiling %dx%d max %d: %s vs %s" % (case["w"], case["h"], max_num, got, want))
            n += 1
    return n


def test_safetensors_and_fold():
    rng = np.random.default_rng(0)
    tensors = {"a.f32": rng.standard_normal((3, 5)).astype(np.float32),
               "b.i64": np.arange(7, dtype=np.int64), "c.f16": np.ones((2, 2), np.float16)}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.safetensors")
        safetensors_io.write(path, tensors, {"k": "v"})
        raw = open(path, "rb").read()
        header_len = int.from_bytes(raw[:8], "little")
        check((8 + header_len) % 8 == 0, "data area not 8-byte aligned")
        back, meta = safetensors_io.read(path)
        check(meta == {"k": "v"}, "metadata round trip")
        for name, array in tensors.items():
            check(back[name].dtype == array.dtype and np.array_equal(back[name], array),
                  "round trip of " + name)

        # Bad files: each must raise ValueError naming the file, not crash.
        bad_cases = {
            "short": raw[:5],
            "header too long": (10 ** 12).to_bytes(8, "little") + raw[8:],
            "not json": raw[:8] + b"{" * header_len + raw[8 + header_len:],
            "size mismatch": raw[:8] + raw[8:8 + header_len].replace(b"[3,5]", b"[3,6]")
                              + raw[8 + header_len:],
            "offsets outside": raw[:8] + raw[8:8 + header_len].replace(b"[0,60]", b"[0,999]")
                               + raw[8 + header_len:],
        }
        for what, blob in bad_cases.items():
            bad = os.path.join(tmp, "bad.safetensors")
            with open(bad, "wb") as f:
                f.write(blob)
            try:
                safetensors_io.read(bad)
                check(False, "safetensors reader accepted a bad file (%s)" % what)
            except ValueError as e:
                check(bad in str(e), "error does not name the file: %s" % e)

        torch.manual_seed(0)
        model = vit.VisionModel(56, 14, 32, 2, 2)
        for _ in range(3):  # non-trivial running statistics
            model(torch.randn(4, 3, 56, 56) * 2 + 0.5)
        model.eval()
        path = os.path.join(tmp, "m.safetensors")
        safetensors_io.write(path, model.export_state_dict())
        plain = vit.VisionModel(56, 14, 32, 2, 2, stem_batchnorm=False)
        plain.load_internvit(safetensors_io.read(path)[0])
        x = torch.randn(2, 3, 56, 56)
        with torch.no_grad():
            want, got = model(x)[-1], plain(x)[-1]
        rel = float((want - got).abs().max() / want.abs().max())
        check(rel <= TOL, "BatchNorm fold: %.3g" % rel)
    return rel


def test_patch_labels():
    # 448x224 with 224 tiles: 2x1 grid plus thumbnail; patch 14 -> 16x16.
    boxes = np.array([[296, 96, 304, 104],   # centre (300,100): tile 1, patch (7,5)
                      [10, 10, 14, 20],      # centre (12,15): tile 0, patch (1,0)
                      [4, 10, 8, 20]],       # centre (6,15): same patch, nearer its centre
                     dtype=np.float64)
    labels = tiling.patch_labels(boxes, np.array([5, 6, 7]), 448, 224, 2, 1, 224, 14)
    check(labels.shape == (3, 16, 16), "label shape %s" % (labels.shape,))
    check(labels[1, 7, 5] == 5, "glyph in second tile")
    check(labels[0, 1, 0] == 7, "nearest glyph wins a shared patch")
    # Thumbnail: x halved -> (150,100) in patch (7,10); (6,15) and (3,15) share
    # patch (1,0) whose centre is (7,21): the first is nearer.
    check(labels[2, 7, 10] == 5 and labels[2, 1, 0] == 6, "thumbnail labels")
    check(int((labels > 0).sum()) == 4, "extra labels: %d" % int((labels > 0).sum()))
    # Two slots (left/right half of a patch, 7 px each): the glyphs centred at x=12 and
    # x=6 of patch (1,0) of tile 0 both get a label; in the thumbnail (x=6 and x=3, both
    # in the left half) the one nearer the half's centre (3.5, 21) wins.
    two = tiling.patch_labels(boxes, np.array([5, 6, 7]), 448, 224, 2, 1, 224, 14, slots=2)
    check(two.shape == (3, 16, 16, 2), "two-slot label shape %s" % (two.shape,))
    check(list(two[0, 1, 0]) == [7, 6], "two glyphs of one patch: left %d right %d"
          % tuple(two[0, 1, 0]))
    check(two[1, 7, 5, 0] == 5 and two[2, 7, 10, 1] == 5,
          "x=300: left half of its tile patch, right half of its thumbnail patch")
    check(list(two[2, 1, 0]) == [7, 0], "shared half: the nearer glyph wins")
    check(int((two > 0).sum()) == 5, "two-slot labels: %d" % int((two > 0).sum()))
    # Image tokens (2x2 patches, 8x8 a tile): patch (7,5) of tile 1 is token (3,2) ->
    # 64 + 26; thumbnail patch (7,10) is token (3,5) -> 128 + 29; (12,15) and (6,15) are
    # in patch (1,0) of tile 0 -> token 0, and both in thumbnail token 128.
    tokens = tiling.glyph_tokens(boxes, 448, 224, 2, 1, 224, 14)
    check(tokens == [[90, 157], [0, 128], [0, 128]], "glyph tokens %s" % (tokens,))


def main():
    # The checks without reference data first, so that they run either way.
    fold = test_safetensors_and_fold()
    test_patch_labels()
    golden = golden_dir()
    if golden is None:
        # meson reads exit status 77 as a skip.
        print("SKIP: train selftest: reference data not found at %s (NV_GOLDEN_DIR; "
              "../shared/golden beside the checkout, see README.md); the checks "
              "without it passed" % os.environ.get("NV_GOLDEN_DIR", "../shared/golden"))
        return 77
    worst = test_vit_vs_golden(golden)
    n = test_tiling(golden)
    print("train selftest: OK (ViT vs golden max rel %.2e, %d tiling cases, "
          "BatchNorm fold rel %.2e; tolerance %.0e)" % (worst, n, fold, TOL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
