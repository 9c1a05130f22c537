#!/usr/bin/python3
"""make_image_fixtures.py - writes tests/fixtures/images/: small images of
every kind the decoder reads, what Pillow makes of them, and bad files.

For each image, Pillow's Image.open(p).convert("RGB") is stored as raw RGB
bytes (<name>.rgb) and listed in manifest.json with its size and the largest
per-byte difference the C decoder may show (0 for lossless formats; JPEG
decoders differ in IDCT and chroma upsampling). Pillow's BICUBIC resizes of
one source image are stored the same way ("resize" in the manifest). The
"bad" entries are files every decoder must refuse; this script checks that
Pillow refuses them too.

PNGs are written by a small encoder here (not Pillow) so that every bit
depth, color type, tRNS and Adam7 interlacing is covered.

Run with Debian's Python (Pillow 9.4, numpy):
    /usr/bin/python3 tools/make_image_fixtures.py [OUT_DIR]
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
    "images")

# Largest |C - Pillow| per byte accepted for lossy formats, in uint8 steps.
# nvlm decodes JPEG with libjpeg-turbo like Pillow (same IDCT, same
# upsampling), so the pixels are equal.
JPEG_TOLERANCE = 0


def chunk(kind, data):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def pack_row(samples, depth):
    """Packs one row of integer samples (already interleaved) into bytes."""
    if depth == 16:
        return b"".join(struct.pack(">H", int(s)) for s in samples)
    if depth == 8:
        return bytes(int(s) for s in samples)
    per_byte = 8 // depth
    out = bytearray()
    for i in range(0, len(samples), per_byte):
        group = list(samples[i:i + per_byte])
        group += [0] * (per_byte - len(group))
        byte = 0
        for s in group:
            byte = (byte << depth) | int(s)
        out.append(byte)
    return bytes(out)


# Adam7 passes: (x0, y0, dx, dy).
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_bytes(samples, depth, color_type, extra=b"", interlace=False):
    """samples: uint array [h, w, channels] of raw sample values."""
    h, w = samples.shape[:2]
    flat = samples.reshape(h, w, -1)

    def scanlines(img):
        # Filter type 0 only; other filters are covered by Pillow-written
        # PNGs elsewhere (resize source) and by libpng itself.
        return b"".join(b"\0" + pack_row(row.reshape(-1), depth)
                        for row in img)

    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = flat[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += scanlines(sub)
    else:
        raw = scanlines(flat)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0,
                       1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def pattern(h, w, channels, maxval, seed):
    """Gradients plus noise, spanning the whole value range."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    out = np.empty((h, w, channels), dtype=np.int64)
    for c in range(channels):
        base = (x * (c + 1) * 37 + y * (3 - c % 3) * 53) % (maxval + 1)
        noise = rng.randint(0, maxval + 1, size=(h, w))
        out[..., c] = np.where(rng.rand(h, w) < 0.3, noise, base)
    return out


def photo(h, w, seed):
    """A smooth RGB picture with some edges, for lossy formats and resize."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    g = 255 * x / max(w - 1, 1)
    b = np.where((x // 8 + y // 8) % 2 == 0, 230.0, 30.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {"generator": "tools/make_image_fixtures.py",
                "pillow": Image.__version__, "decode": [], "resize": [],
                "bad": []}

    def write(name, data):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)

    def add_decode(name, data, tolerance=0):
        write(name, data)
        rgb = Image.open(os.path.join(OUT, name)).convert("RGB")
        arr = np.asarray(rgb, dtype=np.uint8)
        expected = os.path.splitext(name)[0] + "." + name.rsplit(".", 1)[1] \
            + ".rgb"
        write(expected, arr.tobytes())
        manifest["decode"].append({
            "file": name, "expected": expected, "width": rgb.size[0],
            "height": rgb.size[1], "tolerance": tolerance})

    w, h = 13, 9
    # PNG: every color type and bit depth, with and without interlacing.
    for depth in (1, 2, 4, 8, 16):
        add_decode("gray%d.png" % depth,
                   png_bytes(pattern(h, w, 1, (1 << depth) - 1, depth),
                             depth, 0))
    add_decode("gray16_low.png",  # mostly below 256: Pillow's clip shows
               png_bytes(pattern(h, w, 1, 300, 7), 16, 0))
    add_decode("gray8_trns.png",
               png_bytes(pattern(h, w, 1, 255, 8), 8, 0,
                         chunk(b"tRNS", struct.pack(">H", 40))))
    for depth in (8, 16):
        add_decode("graya%d.png" % depth,
                   png_bytes(pattern(h, w, 2, (1 << depth) - 1, 10 + depth),
                             depth, 4))
        add_decode("rgb%d.png" % depth,
                   png_bytes(pattern(h, w, 3, (1 << depth) - 1, 20 + depth),
                             depth, 2))
        add_decode("rgba%d.png" % depth,
                   png_bytes(pattern(h, w, 4, (1 << depth) - 1, 30 + depth),
                             depth, 6))
    add_decode("rgb8_trns.png",
               png_bytes(pattern(h, w, 3, 255, 40), 8, 2,
                         chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3))))
    for depth in (1, 2, 4, 8):
        n = 1 << depth
        pal = pattern(1, n, 3, 255, 50 + depth).astype(np.uint8).tobytes()
        add_decode("pal%d.png" % depth,
                   png_bytes(pattern(h, w, 1, n - 1, 60 + depth), depth, 3,
                             chunk(b"PLTE", pal)))
    # A palette shorter than the indices used, with tRNS: Pillow reads
    # indices past the palette as gray.
    short_pal = bytes([10, 20, 30, 200, 100, 50, 0, 255, 0])
    add_decode("pal8_short_trns.png",
               png_bytes(pattern(h, w, 1, 255, 70), 8, 3,
                         chunk(b"PLTE", short_pal) +
                         chunk(b"tRNS", bytes([0, 128]))))
    for depth, ctype, ch in ((8, 2, 3), (16, 6, 4), (2, 0, 1), (4, 3, 1)):
        extra = b""
        if ctype == 3:
            extra = chunk(b"PLTE", pattern(1, 16, 3, 255, 80).astype(
                np.uint8).tobytes())
        add_decode("interlaced_d%d_c%d.png" % (depth, ctype),
                   png_bytes(pattern(17, 11, ch, (1 << depth) - 1,
                                     90 + depth + ctype),
                             depth, ctype, extra, interlace=True))

    # Other formats, written by Pillow.
    pic = photo(24, 32, 1)
    rgb_img = Image.fromarray(pic, "RGB")

    def saved(img, fmt, **kw):
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    add_decode("photo420.jpg", saved(rgb_img, "JPEG", quality=90),
               JPEG_TOLERANCE)
    add_decode("photo444.jpg",
               saved(rgb_img, "JPEG", quality=90, subsampling=0),
               JPEG_TOLERANCE)
    add_decode("photo_progressive.jpg",
               saved(rgb_img, "JPEG", quality=85, progressive=True),
               JPEG_TOLERANCE)
    add_decode("gray.jpg", saved(rgb_img.convert("L"), "JPEG", quality=90),
               JPEG_TOLERANCE)
    odd = Image.fromarray(photo(13, 19, 2), "RGB")
    add_decode("odd_size.jpg", saved(odd, "JPEG", quality=95),
               JPEG_TOLERANCE)
    add_decode("rgb24.bmp", saved(odd, "BMP"))
    add_decode("pal8.bmp", saved(odd.convert("P"), "BMP"))
    add_decode("gray8.bmp", saved(odd.convert("L"), "BMP"))
    add_decode("pal.gif", saved(odd.convert("P"), "GIF"))
    # Transparent pixels: Pillow shows the palette colour of the index.
    add_decode("pal_trns.gif", saved(odd.quantize(colors=16), "GIF",
                                     transparency=3, optimize=False))
    add_decode("rgb.tga", saved(odd, "TGA"))
    add_decode("rgba_rle.tga",
               saved(odd.convert("RGBA"), "TGA", compression="tga_rle"))
    add_decode("gray.pgm", saved(odd.convert("L"), "PPM"))
    add_decode("rgb.ppm", saved(odd, "PPM"))

    # Resize: Pillow BICUBIC from one source to several sizes.
    src_name = "resize_src.png"
    src = Image.fromarray(photo(23, 37, 3), "RGB")
    write(src_name, saved(src, "PNG"))
    for tw, th in ((16, 16), (112, 56), (5, 3), (1, 1), (60, 60),
                   (37, 23), (37, 10), (20, 23), (74, 46), (3, 41),
                   (2, 2)):
        out = src.resize((tw, th), Image.BICUBIC)
        name = "resize_%dx%d.rgb" % (tw, th)
        write(name, np.asarray(out, dtype=np.uint8).tobytes())
        manifest["resize"].append({"source": src_name, "width": tw,
                                   "height": th, "expected": name})

    # Bad files: each must be refused with a message.
    good_png = png_bytes(pattern(h, w, 3, 255, 99), 8, 2)
    idat = good_png.index(b"IDAT")
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    huge_png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                chunk(b"IDAT", zlib.compress(b"\0" * 16)) +
                chunk(b"IEND", b""))
    zero_ihdr = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    zero_png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", zero_ihdr) +
                chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    # Damaged deflate stream with a valid CRC: the failure is zlib's.
    bad_deflate = b"\x78\x9c" + bytes(range(200, 255)) * 3
    corrupt_png = (good_png[:idat - 4] + chunk(b"IDAT", bad_deflate) +
                   chunk(b"IEND", b""))
    bad_crc = bytearray(good_png)
    idat_len = struct.unpack(">I", good_png[idat - 4:idat])[0]
    bad_crc[idat + 4 + idat_len] ^= 0xFF  # first byte of the IDAT CRC
    good_jpg = saved(rgb_img, "JPEG", quality=90)
    sof = good_jpg.index(b"\xff\xc0")
    huge_jpg = bytearray(good_jpg)
    huge_jpg[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    corrupt_jpg = bytearray(good_jpg)
    dht = good_jpg.index(b"\xff\xc4")
    corrupt_jpg[dht + 4:dht + 40] = b"\xff" * 36
    bad = [
        ("truncated.png", good_png[:idat + 30], "truncated"),
        ("corrupt.png", corrupt_png, "corrupt deflate data"),
        ("bad_crc.png", bytes(bad_crc), "CRC mismatch in IDAT"),
        ("huge.png", huge_png, "100000x100000 header"),
        ("zero_width.png", zero_png, "width 0"),
        ("truncated.jpg", good_jpg[:len(good_jpg) // 2], "truncated"),
        ("corrupt.jpg", bytes(corrupt_jpg), "damaged Huffman table"),
        ("huge.jpg", bytes(huge_jpg), "60000x60000 header"),
        ("not_image.txt", b"hello, this is not an image\n" * 4,
         "text file"),
        ("empty.png", b"", "empty file"),
    ]
    for name, data, why in bad:
        write(name, data)
        try:
            Image.MAX_IMAGE_PIXELS = 64 * 1000 * 1000
            im = Image.open(os.path.join(OUT, name))
            im.load()
            im.convert("RGB")
            pillow = "accepted"
        except Exception as e:  # noqa: BLE001 - any refusal will do
            pillow = "refused: %s" % type(e).__name__
        manifest["bad"].append({"file": name, "why": why, "pillow": pillow})

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for b in manifest["bad"]:
        print("bad %-16s %-24s pillow %s" % (b["file"], b["why"],
                                             b["pillow"]))


if __name__ == "__main__":
    main()
