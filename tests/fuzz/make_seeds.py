#!/usr/bin/python3
"""make_seeds.py - the seed corpora of the fuzz targets (tests/fuzz), made
from files the repo ships: tests/fixtures, assets/models, assets/samples.

    tests/fuzz/make_seeds.py OUTDIR     # OUTDIR/<target>/<seed files>

Each target gets real inputs of its surface, small enough that a short run
mutates them many times: safetensors files cut down to their first tensors
(and a Q8_0 and a Q4_0 weight pair),
an index over the two shards fuzz_st_index writes, the configs and
tokenizers of the tiny fixtures and the bundled model, the slow layout
(vocab.json NUL merges.txt) derived from a tokenizer.json, prompt texts,
the image fixtures by format and the samples' Markdown tables."""
import glob
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
FX = os.path.join(ROOT, "tests", "fixtures")
MODEL = os.path.join(ROOT, "assets", "models", "nvlm-tables")


def put(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def small_safetensors(path, keep):
    """The first `keep` tensors of path, data at most 64 bytes each."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        header.pop("__metadata__", None)
        names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
        out_h, data = {}, b""
        for name in names[:keep]:
            e = header[name]
            b, _ = e["data_offsets"]
            size = min(e["data_offsets"][1] - b, 64)
            f.seek(base + b)
            chunk = f.read(size)
            esize = {"F32": 4, "F16": 2, "BF16": 2,
                     "F64": 8}.get(e["dtype"], 1)
            count = len(chunk) // esize
            end = len(data) + count * esize
            out_h[name] = {"dtype": e["dtype"], "shape": [count],
                           "data_offsets": [len(data), end]}
            data += chunk[:count * esize]
    h = json.dumps(out_h).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def quantized_pair(q4):
    """A Q8_0 (I8 [2, 32]) or Q4_0 (U8 [2, 16]) weight "w" with its F16
    scales [2, 1], so mutations reach the quantized-pair checks."""
    cols, dtype, suffix = (16, "U8", "q4_scales") if q4 else (32, "I8", "q8_scales")
    scales = struct.pack("<2e", 0.5, 0.25)
    h = {"w." + suffix: {"dtype": "F16", "shape": [2, 1], "data_offsets": [0, 4]},
         "w": {"dtype": dtype, "shape": [2, cols], "data_offsets": [4, 4 + 2 * cols]}}
    hb = json.dumps(h).encode()
    hb += b" " * (-len(hb) % 8)
    return struct.pack("<Q", len(hb)) + hb + scales + bytes(range(7, 7 + 2 * cols))


def q4k_pair():
    """A Q4_K weight "w" (U8 [2, 128]: 2 rows of 256 values) with its U8
    records [2, 24] (f32 d, f32 dmin, 8 + 8 multipliers)."""
    rec = struct.pack("<2f", 0.5, 0.25) + bytes([2] * 8) + bytes([4] * 8)
    h = {"w.q4k_scales": {"dtype": "U8", "shape": [2, 24], "data_offsets": [0, 48]},
         "w": {"dtype": "U8", "shape": [2, 128], "data_offsets": [48, 48 + 256]}}
    hb = json.dumps(h).encode()
    hb += b" " * (-len(hb) % 8)
    return struct.pack("<Q", len(hb)) + hb + rec * 2 + bytes(range(256))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py OUTDIR")
    out = sys.argv[1]
    sources = [os.path.join(FX, "tiny_nvlm", "model.safetensors"),
               os.path.join(MODEL, "model.safetensors")]
    for i, src in enumerate(sources):
        if os.path.exists(src):
            for keep in (1, 3):
                put(out, "st_header", "seed%d_%d.safetensors" % (i, keep),
                    small_safetensors(src, keep))
    put(out, "st_header", "q8_0.safetensors", quantized_pair(False))
    put(out, "st_header", "q4_0.safetensors", quantized_pair(True))
    put(out, "st_header", "q4_k.safetensors", q4k_pair())
    put(out, "st_index", "two.json", json.dumps(
        {"metadata": {"total_size": 8},
         "weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}))
    put(out, "st_index", "one.json", '{"weight_map": {"a": "s1.safetensors"}}')
    for cfg in glob.glob(os.path.join(FX, "*", "config.json")) + \
            [os.path.join(MODEL, "config.json")]:
        if os.path.exists(cfg):
            put(out, "config_load", os.path.basename(os.path.dirname(cfg)) +
                ".json", open(cfg, "rb").read())
    toks = [p for p in glob.glob(os.path.join(FX, "*", "tokenizer.json")) +
            [os.path.join(MODEL, "tokenizer.json")] if os.path.exists(p)]
    for p in toks:
        name = os.path.basename(os.path.dirname(p))
        raw = open(p, "rb").read()
        put(out, "tokenizer_json", name + ".json", raw)
        model = json.loads(raw).get("model", {})
        merges = model.get("merges", [])
        lines = [m if isinstance(m, str) else " ".join(m) for m in merges]
        put(out, "vocab_merges", name + ".txt",
            json.dumps(model.get("vocab", {})).encode() + b"\0" +
            ("#version: 0.2\n" + "\n".join(lines) + "\n").encode())
    texts = ["Hello world", "<|im_start|>user\n<image>\nRead the cell."
             "<|im_end|>\n<|im_start|>assistant\n",
             "a\xffb \u00e9\u0301 12345",
             "| a | b |\n| --- | --- |\n| 1 | 2 |\n"]
    cases = os.path.join(FX, "tiny_nvlm", "cases.json")
    if os.path.exists(cases):
        def strings(x):
            if isinstance(x, str):
                yield x
            elif isinstance(x, dict):
                for v in x.values():
                    yield from strings(v)
            elif isinstance(x, list):
                for v in x:
                    yield from strings(v)
        found = strings(json.load(open(cases)))
        texts += [s for s in found if 0 < len(s) < 2000][:20]
    for i, t in enumerate(texts):
        put(out, "encode", "text%02d" % i,
            b"\1" + t.encode("utf-8", "surrogateescape"))
    ext = {"png": ["png"], "jpeg": ["jpg"], "gif": ["gif"], "bmp": ["bmp"],
           "tga": ["tga"], "pnm": ["pgm", "ppm"]}
    for fmt, exts in ext.items():
        for e in exts:
            for p in glob.glob(os.path.join(FX, "images", "*." + e)):
                if 0 < os.path.getsize(p) <= 65536:
                    put(out, "image_" + fmt, os.path.basename(p),
                        open(p, "rb").read())
    for target in ("table_md", "table_score"):
        for p in glob.glob(os.path.join(ROOT, "assets", "samples", "*.md")):
            put(out, target, os.path.basename(p), open(p, "rb").read())
        put(out, target, "ragged.md", "| a | b |\n|---|\n| 1 | 2 | 3 |\n| x\n")
    for t in sorted(os.listdir(out)):
        print("%-16s %3d seeds" % (t, len(os.listdir(os.path.join(out, t)))))


if __name__ == "__main__":
    main()
