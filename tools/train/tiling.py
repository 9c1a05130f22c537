"""InternVL/NVLM dynamic tiling in Python, as the C runtime does it.

The image is resized (bicubic) to cols*S x rows*S, cut row-major into SxS
tiles, and a thumbnail (whole image resized to SxS) is appended when there is
more than one tile. Glyph boxes are mapped into the same tiles so that each
ViT patch can be labelled with the character whose box centre lies in it.
"""
import numpy as np
from PIL import Image


def choose_grid(width, height, tile_size, max_num, min_num=1):
    """Returns (cols, rows): the ratio closest to the image's aspect."""
    # Built as a set and stably sorted by area, like upstream: ties between
    # ratios of equal area keep CPython's (deterministic) set order.
    ratios = set((i, j) for n in range(min_num, max_num + 1)
                 for i in range(1, n + 1) for j in range(1, n + 1)
                 if min_num <= i * j <= max_num)
    ratios = sorted(ratios, key=lambda r: r[0] * r[1])
    aspect = width / height
    best, best_diff = (1, 1), float("inf")
    for cols, rows in ratios:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and width * height > 0.5 * tile_size * tile_size * cols * rows:
            best = (cols, rows)
    return best


def tile_image(image, tile_size, max_num, thumbnail=True):
    """Returns (uint8 tiles [T,S,S,3], cols, rows); thumbnail last when T > 1."""
    cols, rows = choose_grid(image.width, image.height, tile_size, max_num)
    resized = image.resize((cols * tile_size, rows * tile_size), Image.BICUBIC)
    pixels = np.asarray(resized)
    tiles = [pixels[r * tile_size:(r + 1) * tile_size, c * tile_size:(c + 1) * tile_size]
             for r in range(rows) for c in range(cols)]
    if thumbnail and len(tiles) > 1:
        tiles.append(np.asarray(image.resize((tile_size, tile_size), Image.BICUBIC)))
    return np.stack(tiles), cols, rows


def _glyph_views(boxes, width, height, cols, rows, tile_size, patch, thumbnail):
    """Where each glyph centre lands, once in the tile grid and once more in the thumbnail
    (when there is one): per view (tile [N], patch row [N], patch col [N], x within its
    patch [N], y within its patch [N])."""
    n_tiles = cols * rows + (1 if thumbnail and cols * rows > 1 else 0)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2.0
    cy = (boxes[:, 1] + boxes[:, 3]) / 2.0
    views = [(cx * cols * tile_size / width, cy * rows * tile_size / height, cols, 0)]
    if n_tiles > cols * rows:
        views.append((cx * tile_size / width, cy * tile_size / height, 1, cols * rows))
    out = []
    for x, y, views_cols, first_tile in views:
        tx, ty = np.floor(x / tile_size).astype(int), np.floor(y / tile_size).astype(int)
        in_x, in_y = x - tx * tile_size, y - ty * tile_size
        px, py = np.floor(in_x / patch).astype(int), np.floor(in_y / patch).astype(int)
        out.append((first_tile + ty * views_cols + tx, py, px, in_x - px * patch,
                    in_y - py * patch))
    return n_tiles, out


def patch_labels(boxes, classes, width, height, cols, rows, tile_size, patch,
                 thumbnail=True, slots=1):
    """Labels [T, g, g] (0 = blank) for the tiles of tile_image; with slots=2,
    [T, g, g, 2]: the glyph whose centre lies in the left half of the patch, and the one
    in its right half (glyphs are often narrower than a patch, so one label per patch
    leaves about a quarter of the characters unlabelled; docs/training.md).

    boxes: int [N,4] glyph boxes in image pixels; classes: int [N] (>= 1).
    When several centres fall in one patch (slot) the one nearest its centre wins.
    """
    if slots not in (1, 2):
        raise ValueError("patch_labels: slots must be 1 or 2")
    grid = tile_size // patch
    n_tiles, views = _glyph_views(boxes, width, height, cols, rows, tile_size, patch,
                                  thumbnail)
    labels = np.zeros((n_tiles, grid, grid, slots), dtype=np.int64)
    if len(boxes) == 0:
        return labels if slots > 1 else labels[..., 0]
    width_of_slot = patch / slots
    for tile, py, px, in_x, in_y in views:
        slot = np.minimum(np.floor(in_x / width_of_slot).astype(int), slots - 1)
        # Distance to the slot's centre, to settle several glyphs per slot.
        dist = np.hypot(in_x - (slot + 0.5) * width_of_slot, in_y - 0.5 * patch)
        best = {}
        for k in range(len(boxes)):
            key = (tile[k], py[k], px[k], slot[k])
            if key not in best or dist[k] < dist[best[key]]:
                best[key] = k
        for (t, gy, gx, sl), k in best.items():
            labels[t, gy, gx, sl] = classes[k]
    return labels if slots > 1 else labels[..., 0]


def glyph_tokens(boxes, width, height, cols, rows, tile_size, patch, thumbnail=True):
    """Per glyph, the image tokens (after the 2x2 pixel shuffle; index tile * (g/2)^2 +
    row * g/2 + col over the tiles of tile_image) that hold its centre: one in the tile
    grid, one more in the thumbnail when there is one."""
    half = tile_size // patch // 2
    _, views = _glyph_views(boxes, width, height, cols, rows, tile_size, patch, thumbnail)
    per_view = [tile * half * half + (py // 2) * half + px // 2 for tile, py, px, _, _ in views]
    return [[int(v[k]) for v in per_view] for k in range(len(boxes))]
