"""hub_preprocess.py - numpy + Pillow reference of the hub image processors
that nvlm's families reimplement in C (transformers v4.47.1 formulas):
CLIPImageProcessor and SiglipImageProcessor (LLaVA), Idefics3ImageProcessor
(Idefics3 / SmolVLM, image splitting on). Written from the upstream code's
description, independently of the C code; tests/model/check_hub_preprocess.py
first checks it against the goldens' in_pixel_values (made by transformers
itself), then uses it on images the goldens do not cover.
"""
import math

import numpy as np
from PIL import Image


def _resize(arr, w, h, resample):
    return np.array(Image.fromarray(arr, "RGB").resize((w, h), resample=resample))


def _rescale_normalize(arr, pp, mean_def, std_def):
    x = arr
    if pp.get("do_rescale", True):
        x = (x.astype(np.float64) * pp.get("rescale_factor", 1 / 255)).astype(np.float32)
    else:
        x = x.astype(np.float32)
    if pp.get("do_normalize", True):
        mean = np.array(pp.get("image_mean", mean_def), dtype=np.float32)
        std = np.array(pp.get("image_std", std_def), dtype=np.float32)
        x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _center_crop(arr, ch, cw):
    h, w = arr.shape[:2]
    top, left = (h - ch) // 2, (w - cw) // 2
    if top >= 0 and left >= 0 and top + ch <= h and left + cw <= w:
        return arr[top:top + ch, left:left + cw]
    nh, nw = max(ch, h), max(cw, w)
    padded = np.zeros((nh, nw, 3), dtype=arr.dtype)
    tp, lp = math.ceil((nh - h) / 2), math.ceil((nw - w) / 2)
    padded[tp:tp + h, lp:lp + w] = arr
    top, left = top + tp, left + lp
    return padded[max(0, top):min(nh, top + ch), max(0, left):min(nw, left + cw)]


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def llava_pixels(arr, pp):
    """CLIPImageProcessor / SiglipImageProcessor -> [1, 3, H, W]."""
    clip = pp["image_processor_type"] == "CLIPImageProcessor"
    resample = pp.get("resample", 3)
    size = pp["size"]
    if pp.get("do_resize", True):
        h, w = arr.shape[:2]
        if "shortest_edge" in size:
            s = size["shortest_edge"]
            short, long = (w, h) if w <= h else (h, w)
            new_long = int(s * long / short)
            nw, nh = (s, new_long) if w <= h else (new_long, s)
        else:
            nw, nh = size["width"], size["height"]
        arr = _resize(arr, nw, nh, resample)
    if pp.get("do_center_crop", clip):
        arr = _center_crop(arr, pp["crop_size"]["height"], pp["crop_size"]["width"])
    mean_def, std_def = (CLIP_MEAN, CLIP_STD) if clip else ([0.5] * 3, [0.5] * 3)
    return _rescale_normalize(arr, pp, mean_def, std_def)[None]


def _idefics3_first_size(h, w, longest):
    aspect = w / h
    if w >= h:
        w = longest
        h = int(w / aspect)
        if h % 2 != 0:
            h += 1
    else:
        h = longest
        w = int(h * aspect)
        if w % 2 != 0:
            w += 1
    h, w = max(h, 1), max(w, 1)
    aspect = w / h
    if w >= h and w > 4096:
        w = 4096
        h = int(w / aspect)
    elif h > w and h > 4096:
        h = 4096
        w = int(h * aspect)
    return max(h, 1), max(w, 1)


def idefics3_pixels(arr, pp):
    """Idefics3ImageProcessor (splitting on) -> ([n, 3, M, M], rows, cols)."""
    resample = pp.get("resample", 1)
    M = pp["max_image_size"]["longest_edge"]
    if pp.get("do_resize", True):
        h, w = _idefics3_first_size(arr.shape[0], arr.shape[1], pp["size"]["longest_edge"])
        arr = _resize(arr, w, h, resample)
    h, w = arr.shape[:2]
    aspect = w / h
    if w >= h:
        w = math.ceil(w / M) * M
        h = math.ceil(int(w / aspect) / M) * M
    else:
        h = math.ceil(h / M) * M
        w = math.ceil(int(h * aspect) / M) * M
    arr = _resize(arr, w, h, resample)
    frames, rows, cols = [], 0, 0
    if h > M or w > M:
        rows, cols = math.ceil(h / M), math.ceil(w / M)
        oh, ow = math.ceil(h / rows), math.ceil(w / cols)
        for r in range(rows):
            for c in range(cols):
                frames.append(arr[r * oh:min(r * oh + oh, h), c * ow:min(c * ow + ow, w)])
        arr = _resize(arr, M, M, resample)
    frames.append(arr)
    out = [_rescale_normalize(f, pp, [0.5] * 3, [0.5] * 3) for f in frames]
    return np.stack(out), rows, cols
