"""The cell reader: heads d, x and h trained to read one table cell from its own tile
(docs/training.md, "The cell reader"). The grid comes from nvlm's layout (C); this trains
what reads each cell.

  # cell tiles made by the C runtime itself (layout + vision/cell_tile.c), with their truth,
  # then the frozen ViT's pixel-shuffled features, once for all three heads:
  /usr/bin/python3 tools/train/cells.py data --split train --count 800 --out .train/cells/train.pt
  /usr/bin/python3 tools/train/cells.py data --split val --count 40 --out .train/cells/val.pt
  # one head (same data order, steps, batch and seed for d, x and h):
  /usr/bin/python3 tools/train/cells.py train --head d --data .train/cells/train.pt \\
      --val .train/cells/val.pt --out .train/cells/run --steps 2000
  # the model directory (the heads of RUN over --init's ViT; config gets nvlm_cell_reader):
  /usr/bin/python3 tools/train/cells.py export .train/cells/run --out assets/models/nvlm-tables

  # the ViT and the three heads together on fresh cells (the way the shipped model was
  # trained; docs/training.md has each run's command), --shift PX moving a share of the
  # tiles sideways, --line-heights 24,26,28 cutting each chunk's tiles at one of these text
  # line heights, --open-vocab F making up a share F of the word, name and place cells
  # (tablegen's lists are small and the reader learns them by heart); and how tied a model
  # is to where its glyphs fall on the patch grid:
  /usr/bin/python3 tools/train/cells.py joint --init assets/models/nvlm-tables ... --shift 13
  /usr/bin/python3 tools/train/cells.py shifts --model DIR --val VAL.pt --shifts 0,2,4,8

  # the mean of the weights of runs that all started from one model (a model soup; the
  # bundled model since session 20 is one):
  /usr/bin/python3 tools/train/cells.py soup --out DIR assets/models/nvlm-tables RUN/model ...

--init (default: the bundled model) gives the ViT, the config and the starting heads; --from
continues a run's head. The tile geometry (line height, strip height) is the runtime's
default (vision/cell_tile.h) and is written to the exported config.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))

import nvlm_train as NT  # noqa: E402
import pointing as PT  # noqa: E402
import st_io  # noqa: E402
import train_stages as TS  # noqa: E402
from tools.tablegen import fonts, gen  # noqa: E402

HEADS = ("d", "x", "h")
PROMPT = "Read the cell."
CELL_READER = {"prompt": PROMPT, "line_height": 24, "strip_height": 28}
BUNDLED = os.path.join(ROOT, "assets", "models", "nvlm-tables")


# ---------------------------------------------------------------- data

def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(b"\n", 3)
    if parts[0] != b"P6" or parts[2] != b"255":
        raise ValueError("%s: not a binary 8-bit PPM" % path)
    w, h = (int(v) for v in parts[1].split())
    return np.frombuffer(parts[3], dtype=np.uint8, count=w * h * 3).reshape(h, w, 3)


def shift_tile(tile, rng, max_shift, share):
    """The tile's content moved a random k px sideways (k in -1..max_shift, 0 for a
    `share` - complement of the tiles, and never so far that ink leaves the tile), with k.
    The reader learned its glyphs where the runtime puts them (strips from x = 1) and reads
    them much worse 3-4 px away (benchmarks.md, "Re-reading doubted cells"); moved tiles
    teach it glyphs anywhere on the 14 px patch grid. The background is white (255)."""
    if max_shift <= 0 or rng.random() >= share:
        return tile, 0
    ink = np.nonzero((tile < 255).any(axis=(0, 2)))[0]
    if len(ink) == 0:
        return tile, 0
    lo, hi = -min(1, int(ink[0])), min(max_shift, tile.shape[1] - 1 - int(ink[-1]))
    k = int(rng.integers(lo, hi + 1)) if hi >= lo else 0
    if k == 0:
        return tile, 0
    out = np.full_like(tile, 255)
    if k > 0:
        out[:, k:] = tile[:, :-k]
    else:
        out[:, :k] = tile[:, -k:]
    return out, k


def line_height_models(heights, workdir):
    """{line height: model folder} for --line-heights: the bundled model's config with
    nvlm_cell_reader.line_height changed, its weights and tokenizer linked, so that
    `nvlm table -m DIR --dump-cells` cuts the tiles at that height (the strips stay)."""
    out = {}
    with open(os.path.join(BUNDLED, "config.json")) as f:
        cfg = json.load(f)
    strip = cfg["nvlm_cell_reader"]["strip_height"]
    for h in heights:
        if not 4 <= h <= strip:
            raise SystemExit("cells joint: --line-heights %d is outside 4..%d (the strip)"
                             % (h, strip))
        d = os.path.join(workdir, "line%d" % h)
        os.makedirs(d, exist_ok=True)
        cfg["nvlm_cell_reader"]["line_height"] = h
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        for name in ("model.safetensors", "tokenizer.json"):
            if not os.path.exists(os.path.join(d, name)):
                os.symlink(os.path.join(BUNDLED, name), os.path.join(d, name))
        out[h] = d
    return out


def pick_line_model(line_models, rng):
    """One folder of line_height_models drawn at random; None without --line-heights."""
    if not line_models:
        return None
    return line_models[sorted(line_models)[rng.integers(len(line_models))]]


def dump_layouts(nvlm, cells_dir, paths, model=None):
    """`nvlm table --layout --dump-cells cells_dir` over the images: each cell's tile into
    cells_dir (and its geometry into tiles.jsonl), the grid of every image returned as
    parsed JSON. model: a folder whose cell-reader settings cut the tiles (None: the
    bundled model's)."""
    lay = subprocess.run([nvlm, "table", "--layout", "--dump-cells", cells_dir]
                         + (["-m", model] if model else []) + paths,
                         capture_output=True, text=True)
    return [json.loads(x) for x in lay.stdout.splitlines() if x.strip()]


def cell_tiles(nvlm, split, seed, start, count, workdir, shift=None, model=None, open_vocab=0.0):
    """The C runtime's tiles of every non-empty cell of tables start..start+count-1 whose
    grid the layout found exactly: (uint8 tiles [n,S,S,3], texts, keys, grids_found,
    pointing targets {key: per answer byte, its glyph's image tokens}, character slots
    {key: [(token, slot, class)]}). shift: (rng, max px, share) moves tiles (shift_tile),
    the pointing and slot targets with them. model: the folder whose cell-reader settings
    cut the tiles (line_height_models; None: the bundled model's). open_vocab: the share
    of word, name and place cells made up (gen.make_sample)."""
    samples, paths = [], []
    for i in range(start, start + count):
        s = gen.make_sample(split, seed, i, open_vocab=open_vocab)
        path = os.path.join(workdir, s["id"] + ".png")
        s["image"].save(path)
        samples.append(s)
        paths.append(path)
    cells_dir = os.path.join(workdir, "cells")
    os.makedirs(cells_dir, exist_ok=True)
    layouts = dump_layouts(nvlm, cells_dir, paths, model)
    geoms = {}
    if os.path.exists(os.path.join(cells_dir, "tiles.jsonl")):
        with open(os.path.join(cells_dir, "tiles.jsonl")) as f:
            for line in f:
                g = json.loads(line)
                geoms[g["tile"]] = g
    points, slots = {}, {}
    tiles, texts, keys, found = [], [], [], 0
    for s, lo in zip(samples, layouts):
        t = s["table"]
        rows = [t["header"]] + t["rows"]
        if lo.get("rows") != len(rows) or lo.get("cols") != len(t["header"]):
            continue
        found += 1
        moved = {}
        for r, line in enumerate(rows):
            for c, text in enumerate(line):
                name = "%s_r%02d_c%02d.ppm" % (s["id"], r, c)
                f = os.path.join(cells_dir, name)
                if text and os.path.exists(f):
                    tile = read_ppm(f)
                    if shift:
                        tile, k = shift_tile(tile, *shift)
                        if k and name in geoms:
                            geoms[name] = dict(geoms[name],
                                               strip_left=geoms[name]["strip_left"] + k)
                    moved[(r, c)] = tile
        p, m = cell_points(s, geoms, s["id"])
        points.update(p)
        slots.update(m)
        for (r, c), tile in moved.items():
            tiles.append(tile)
            texts.append(rows[r][c])
            keys.append("%s/%d/%d" % (s["id"], r, c))
    shutil.rmtree(cells_dir)
    for p in paths:
        os.remove(p)
    arr = np.stack(tiles) if tiles else np.zeros((0, 224, 224, 3), np.uint8)
    return arr, texts, keys, found, points, slots


def load_model(init):
    with open(os.path.join(init, "config.json")) as f:
        raw = json.load(f)
    w = {k: v.float() for k, v in st_io.read_file(os.path.join(init, "model.safetensors")).items()}
    return raw, w


@torch.no_grad()
def vit_features(vit_w, cfg, tiles, batch=32):
    """f16 pixel-shuffled features [n, T, 4C] of uint8 tiles [n,S,S,3]."""
    out = []
    for i in range(0, len(tiles), batch):
        px = NT.normalise_tiles(torch.from_numpy(np.ascontiguousarray(tiles[i:i + batch])),
                                torch.device("cpu"))
        out.append(NT.shuffled_features(vit_w, cfg, px).half())
    return torch.cat(out) if out else torch.zeros(0)


def cmd_data(args):
    torch.set_num_threads(args.threads)
    raw, w = load_model(args.init)
    cfg = NT.Cfg(raw)
    vit_w = {k: v for k, v in w.items() if k.startswith("vision_model.")}
    feats, texts, keys, tiles_kept = [], [], [], []
    points, slots = {}, {}
    found = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="nvlm_cells_") as work:
        for start in range(0, args.count, args.chunk):
            n = min(args.chunk, args.count - start)
            tiles, tx, ks, ok, pts, sl = cell_tiles(args.nvlm, args.split, args.seed, start, n,
                                                    work)
            found += ok
            points.update(pts)
            slots.update(sl)
            if not args.no_feats:
                feats.append(vit_features(vit_w, cfg, tiles))
            texts += tx
            keys += ks
            if args.keep_tiles:
                tiles_kept.append(torch.from_numpy(tiles.copy()))
            print(json.dumps({"tables": start + n, "grids_found": found, "cells": len(texts),
                              "wall_s": round(time.time() - t0, 1)}), flush=True)
    data = {"split": args.split, "seed": args.seed, "count": args.count, "grids_found": found,
            "texts": texts, "keys": keys, "init": args.init,
            "point": [points.get(k) for k in keys], "slots": [slots.get(k) for k in keys]}
    if not args.no_feats:
        data["feats"] = torch.cat(feats)
    if args.keep_tiles:
        data["tiles"] = torch.cat(tiles_kept)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(data, args.out + ".tmp")
    os.replace(args.out + ".tmp", args.out)
    return 0


# ---------------------------------------------------------------- pointing targets

def glyph_tokens(box, geom, tile=224, token=28):
    """The image tokens (row-major on the tile's 8 x 8 token grid) a glyph box of the image
    covers on its cell's tile, from the tile geometry nvlm --dump-cells records."""
    x0, y0, x1, y1 = geom["crop"]
    sw, sh = geom["scaled"]
    sx, sy = sw / max(1, x1 - x0), sh / max(1, y1 - y0)
    gy = ((box[1] + box[3]) / 2 - y0) * sy
    per_row = tile // token
    out = []
    for gx in (box[0] - x0 + 0.5, (box[0] + box[2]) / 2 - x0, box[2] - x0 - 0.5):
        px = gx * sx
        for a, b, ty in geom["strips"]:
            if a <= px < b:
                tx = geom["strip_left"] + px - a
                t = int((ty + gy) // token) * per_row + int(tx // token)
                if 0 <= t < per_row * per_row and t not in out:
                    out.append(t)
                break
    return out


SLOTS = 3  # character slots per image token, left to right (the ViT's character loss)
CHAR_CLASSES = 1 + len(fonts.CHARSET)  # class 0: no character centred there


def glyph_slot(box, geom, tile=224, token=28):
    """(token, slot) of the glyph's centre on its cell's tile: the token on the 8 x 8 grid
    and which third of the token's width, left to right; None off the tile."""
    x0, y0, x1, y1 = geom["crop"]
    sw, sh = geom["scaled"]
    sx, sy = sw / max(1, x1 - x0), sh / max(1, y1 - y0)
    px = ((box[0] + box[2]) / 2 - x0) * sx
    gy = ((box[1] + box[3]) / 2 - y0) * sy
    per_row = tile // token
    for a, b, ty in geom["strips"]:
        if a <= px < b:
            tx = geom["strip_left"] + px - a
            row, col = int((ty + gy) // token), int(tx // token)
            if 0 <= row < per_row and 0 <= col < per_row:
                return row * per_row + col, min(SLOTS - 1, int((tx % token) * SLOTS / token))
    return None


def cell_points(sample, geoms, stem):
    """({key: per answer byte, the tokens of its glyph ([] for spaces and <|im_end|>)},
    {key: [(token, slot, character class), ...] of its glyphs}) for the cells of one
    generated table whose glyphs match their text."""
    t = sample["table"]
    rows = [t["header"]] + t["rows"]
    out, slots = {}, {}
    for r, line in enumerate(rows):
        for c, text in enumerate(line):
            geom = geoms.get("%s_r%02d_c%02d.ppm" % (stem, r, c))
            if not text or geom is None:
                continue
            x0, y0, x1, y1 = sample["cells"][r][c]
            boxes = [b for ch, b in sample["glyphs"]
                     if x0 <= (b[0] + b[2]) / 2 < x1 and y0 <= (b[1] + b[3]) / 2 < y1]
            chars = [ch for ch in text if not ch.isspace()]
            if len(boxes) != len(chars):
                continue
            point, marks, g = [], [], 0
            for ch in text:
                n = len(ch.encode("utf-8"))
                if ch.isspace():
                    point += [[]] * n
                else:
                    point += [glyph_tokens(boxes[g], geom)] * n
                    at = glyph_slot(boxes[g], geom)
                    if at is not None and ch in fonts.CHARSET:
                        marks.append((at[0], at[1], fonts.CHARSET.index(ch) + 1))
                    g += 1
            key = "%s/%d/%d" % (sample["id"], r, c)
            out[key] = point + [[]]
            slots[key] = marks
    return out, slots


def cmd_point(args):
    """Adds pointing targets ("point", per cell) to a data file, from the tile geometry of
    nvlm --dump-cells over the same generated tables."""
    data = torch.load(args.data)
    points = {}
    with tempfile.TemporaryDirectory(prefix="nvlm_point_") as work:
        for start in range(0, data["count"], 50):
            n = min(50, data["count"] - start)
            samples, paths = [], []
            for i in range(start, start + n):
                smp = gen.make_sample(data["split"], data["seed"], i)
                path = os.path.join(work, smp["id"] + ".png")
                smp["image"].save(path)
                samples.append(smp)
                paths.append(path)
            cells_dir = os.path.join(work, "cells")
            os.makedirs(cells_dir)
            subprocess.run([args.nvlm, "table", "--dump-cells", cells_dir] + paths,
                           capture_output=True)
            geoms = {}
            with open(os.path.join(cells_dir, "tiles.jsonl")) as f:
                for line in f:
                    g = json.loads(line)
                    geoms[g["tile"]] = g
            for smp in samples:
                points.update(cell_points(smp, geoms, smp["id"])[0])
            shutil.rmtree(cells_dir)
            for p in paths:
                os.remove(p)
    data["point"] = [points.get(k) for k in data["keys"]]
    have = sum(p is not None for p in data["point"])
    print(json.dumps({"cells": len(data["keys"]), "with_targets": have}))
    torch.save(data, args.data + ".tmp")
    os.replace(args.data + ".tmp", args.data)
    return 0


# ---------------------------------------------------------------- training

class CellRunner(PT.FeatureRunner):
    """Batches carry the frozen ViT's features [n, T, 4C] in place of tiles (encode), and
    with point_weight > 0 the pointing loss of pointing.py (loss)."""


def head_weights(model_w, head):
    """The head's fusion tensors and its LM (override or shared) under the shared names."""
    proj = NT.PROJ[head]
    fusion = {k: v for k, v in model_w.items()
              if k.startswith(proj + ".") or k.startswith(head + "_xattn.")}
    lm = {k: v for k, v in model_w.items() if k.startswith("language_model.")}
    if head != "d":
        lm.update({k[len(head) + 1:]: v for k, v in model_w.items()
                   if k.startswith(head + "_language_model.")})
    return fusion, lm


def make_batch(prompter, head, data, idx):
    batch = NT.make_batch(prompter, head, [(data["feats"][j:j + 1], PROMPT, data["texts"][j])
                                           for j in idx])
    if data.get("point"):
        batch["point"] = [data["point"][j] for j in idx]
    return batch


class Batches:
    """Random batches of (features, prompt, text), the same order for every head (seeded)."""

    def __init__(self, data, prompter, head, batch, seed):
        self.data, self.prompter, self.head, self.batch = data, prompter, head, batch
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        n = len(self.data["texts"])
        while True:
            order = self.rng.permutation(n)
            for i in range(0, n - self.batch + 1, self.batch):
                idx = order[i:i + self.batch]
                yield make_batch(self.prompter, self.head, self.data, idx)


def char_accuracy(runner, head, batch):
    """Teacher-forced accuracy over the answers' bytes (with <|im_end|>)."""
    with torch.no_grad():
        logits = runner.logits(head, batch)
    labels = batch["labels"]
    mask = labels != -100
    return float((logits.argmax(-1).cpu()[mask] == labels[mask]).float().mean())


def greedy_texts(runner, head, images, max_new=40, batch=64):
    """Greedy cell texts of images: cached ViT features for a CellRunner, uint8 tiles for a
    plain Runner (the runner's encode decides)."""
    out = []
    for i in range(0, len(images), batch):
        f = images[i:i + batch]
        ids = runner.greedy(head, [(f[j:j + 1], PROMPT, "") for j in range(len(f))], max_new)
        out += [runner.decode([t for t in s if t != runner.prompter.im_end]).strip() for s in ids]
    return out


def cmd_train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    head = args.head
    os.makedirs(args.out, exist_ok=True)
    raw, model_w = load_model(args.init)
    raw["nvlm_cell_reader"] = CELL_READER
    fusion, lm = head_weights(model_w, head)
    if args.from_run:
        fusion = st_io.read_file(os.path.join(args.from_run, "fusion_%s.safetensors" % head))
        lm = st_io.read_file(os.path.join(args.from_run, "lm_%s.safetensors" % head))
    fusion = {k: v.float() for k, v in fusion.items()}
    lm = {k: v.float() for k, v in lm.items()}
    data = torch.load(args.data)
    val = torch.load(args.val)
    tok = NT.write_tokenizer(os.path.join(args.out, "tokenizer"))
    runner = CellRunner(raw, tok, {**fusion, **lm}, torch.device("cpu"))
    nval = min(args.val_count, len(val["texts"]))
    runner.point_weight = args.point
    runner.point_layer = args.point_layer % runner.cfg.layers
    if args.point and not data.get("point"):
        raise SystemExit("cells train: --point needs targets: run `cells.py point --data %s`"
                         % args.data)
    val_batch = make_batch(runner.prompter, head, val, list(range(nval)))
    log = open(os.path.join(args.out, "log_%s.jsonl" % head), "a")
    TS.log_line(log, {"head": head, "args": vars(args), "train_cells": len(data["texts"]),
                      "fusion_params": sum(v.numel() for v in fusion.values())})

    def on_log(step):
        rec = {"val_char_acc": round(char_accuracy(runner, head, val_batch), 4)}
        if args.point and val_batch.get("point"):
            with torch.no_grad():
                rec["val_point_mass"] = round(runner.pointing(head, val_batch)[2], 4)
        if args.greedy_every and step % args.greedy_every == 0:
            preds = greedy_texts(runner, head, val["feats"][:args.greedy_count])
            rec["val_exact"] = round(float(np.mean([p == t for p, t in zip(
                preds, val["texts"][:args.greedy_count])])), 4)
        return rec

    params = list(fusion.values()) + list(lm.values())
    for v in params:
        v.requires_grad_(True)
    scale = {id(v): args.lm_lr_scale for v in lm.values()}
    batches = Batches(data, runner.prompter, head, args.batch, args.seed)
    done, samples, wall = TS.train(runner, head, params, batches, args.steps, args.lr, log,
                                   "cells", args.max_minutes * 60, scale, on_log, args.log_every)
    for v in params:
        v.requires_grad_(False)
    TS.write_part(args.out, "fusion_%s.safetensors" % head, fusion, "cells")
    TS.write_part(args.out, "lm_%s.safetensors" % head, lm, "cells")
    runner.w = TS.rounded({**fusion, **lm})
    t0 = time.time()
    n_eval = min(args.eval_count, len(val["texts"]))
    preds = greedy_texts(runner, head, val["feats"][:n_eval])
    exact = float(np.mean([p == t for p, t in zip(preds, val["texts"][:n_eval])]))
    result = {"head": head, "steps": done, "samples": samples, "wall_s": round(wall, 1),
              "cpu_threads": args.threads, "val_cells": len(preds), "val_exact": exact,
              "val_eval_s": round(time.time() - t0, 1),
              "errors": [(t, p) for p, t in zip(preds, val["texts"]) if p != t][:30]}
    TS.log_line(log, {k: v for k, v in result.items() if k != "errors"})
    raw_out = dict(raw)
    with open(os.path.join(args.out, "result_%s.json" % head), "w") as f:
        json.dump(dict(result, config=raw_out), f, indent=1)
    return 0


# ---------------------------------------------------------------- ViT and heads together

class TileStream:
    """Endless training cells made on the fly: tables start, start+1, ... of --split are
    generated, laid out and cut into tiles by the C runtime (fast: ~300 cells/s), and their
    cells served in batches shuffled within each chunk of tables. Table i is the same on
    every run, so a run continued with --start from where one stopped sees new tables."""

    def __init__(self, nvlm, split, seed, start, chunk, batch, workdir, shift=0,
                 shift_share=0.5, line_models=None, open_vocab=0.0):
        self.nvlm, self.split, self.seed = nvlm, split, seed
        self.open_vocab = open_vocab
        self.next_table, self.chunk, self.batch, self.work = start, chunk, batch, workdir
        self.rng = np.random.default_rng(seed * 1000003 + start)
        self.shift = (np.random.default_rng(seed * 7919 + start), shift,
                      shift_share) if shift > 0 else None
        # --line-heights: each chunk's tiles cut at one of these heights, drawn per chunk
        self.line_models = line_models
        self.line_rng = np.random.default_rng(seed * 104729 + start)

    def __iter__(self):
        while True:
            model = pick_line_model(self.line_models, self.line_rng)
            tiles, texts, keys, _, points, slots = cell_tiles(
                self.nvlm, self.split, self.seed, self.next_table, self.chunk, self.work,
                self.shift, model, self.open_vocab)
            self.next_table += self.chunk
            order = self.rng.permutation(len(texts))
            for i in range(0, len(order) - self.batch + 1, self.batch):
                idx = order[i:i + self.batch]
                yield (torch.from_numpy(tiles[idx]), [texts[j] for j in idx],
                       [points.get(keys[j]) for j in idx], [slots.get(keys[j]) for j in idx])


def browser_cell_tiles(nvlm, tables, workdir, model=None):
    """The C runtime's tiles of every non-empty cell of browser-rendered tables (tables:
    [(png path, Markdown truth path)], tools/browser_tables.py --train) whose grid the
    layout found exactly: (uint8 tiles [n,S,S,3], texts). Their truth is the page's HTML,
    so there are no glyph boxes: no pointing targets, no character slots. model: as for
    cell_tiles."""
    cells_dir = os.path.join(workdir, "bcells")
    os.makedirs(cells_dir, exist_ok=True)
    layouts = dump_layouts(nvlm, cells_dir, [png for png, _ in tables], model)
    tiles, texts = [], []
    for (png, md), lo in zip(tables, layouts):
        with open(md) as f:
            rows = markdown_cells(f.read())
        if lo.get("rows") != len(rows) or lo.get("cols") != len(rows[0]):
            continue
        stem = os.path.splitext(os.path.basename(png))[0]
        for r, line in enumerate(rows):
            for c, text in enumerate(line):
                f = os.path.join(cells_dir, "%s_r%02d_c%02d.ppm" % (stem, r, c))
                if text and os.path.exists(f):
                    tiles.append(read_ppm(f))
                    texts.append(text)
    shutil.rmtree(cells_dir)
    arr = np.stack(tiles) if tiles else np.zeros((0, 224, 224, 3), np.uint8)
    return arr, texts


class BrowserStream:
    """Endless batches of cells of the browser-rendered tables in a folder, the folder
    read round and round in chunks of tables, cells shuffled within each chunk."""

    def __init__(self, nvlm, folder, chunk, batch, seed, workdir):
        self.folder = folder
        self.tables = self.listing()
        if not self.tables:
            raise SystemExit("cells joint: no browser tables (png + md) in %s" % folder)
        self.nvlm, self.chunk, self.batch, self.work = nvlm, chunk, batch, workdir
        self.rng = np.random.default_rng(seed)
        self.cells = self.tables_read = 0
        self.shift = None  # (rng, max px, share): tiles moved as shift_tile moves them
        self.line_models = None  # as TileStream's
        self.line_rng = np.random.default_rng(seed * 104729 + 1)

    def listing(self):
        """The folder's complete tables (each .md is written after its .png), listed again
        at every round so that tables still being drawn join the next round."""
        pngs = sorted(f for f in os.listdir(self.folder) if f.endswith(".png"))
        return [(os.path.join(self.folder, f), os.path.join(self.folder, f[:-4] + ".md"))
                for f in pngs if os.path.exists(os.path.join(self.folder, f[:-4] + ".md"))]

    def __iter__(self):
        at = 0
        while True:
            if at >= len(self.tables):
                self.tables, at = self.listing(), 0
            part = self.tables[at:at + self.chunk]
            at += self.chunk
            model = pick_line_model(self.line_models, self.line_rng)
            tiles, texts = browser_cell_tiles(self.nvlm, part, self.work, model)
            if self.shift:
                tiles = np.stack([shift_tile(t, *self.shift)[0] for t in tiles]) \
                    if len(tiles) else tiles
            self.tables_read += len(part)
            self.cells += len(texts)
            order = self.rng.permutation(len(texts))
            for i in range(0, len(order) - self.batch + 1, self.batch):
                idx = order[i:i + self.batch]
                yield torch.from_numpy(tiles[idx]), [texts[j] for j in idx]


def slot_labels(slots, tokens):
    """[n, tokens, SLOTS] character classes (0: none) of cells' (token, slot, class) lists;
    -100 (ignored) for a cell without them."""
    out = torch.zeros(len(slots), tokens, SLOTS, dtype=torch.long)
    for i, marks in enumerate(slots):
        if marks is None:
            out[i] = -100
            continue
        for t, k, c in marks:
            out[i, t, k] = c
    return out


def char_logits(char_w, feats):
    """The character read-out used only in training: [n, T, SLOTS, CHAR_CLASSES] from the
    pixel-shuffled features (LayerNorm without affine, one linear map)."""
    y = F.layer_norm(feats.float(), feats.shape[-1:])
    logits = F.linear(y, char_w["weight"], char_w["bias"])
    return logits.reshape(feats.shape[0], feats.shape[1], SLOTS, CHAR_CLASSES)


def char_loss(char_w, feats, labels, blank_weight=0.1):
    """Cross-entropy of the character slots (a slot without a character weighs
    blank_weight): the dense signal that teaches the ViT to tell the characters apart."""
    weight = torch.ones(CHAR_CLASSES)
    weight[0] = blank_weight
    logits = char_logits(char_w, feats)
    return F.cross_entropy(logits.reshape(-1, CHAR_CLASSES), labels.reshape(-1), weight=weight,
                           ignore_index=-100)


def joint_loss(runner, heads, tiles, texts, points, vit_w, char_w=None, slots=None,
               char_weight=0.0):
    """Sum over heads of each head's text (+ pointing) loss on one batch of tiles, plus
    char_weight x the character-slot loss; the ViT runs once and every head's gradient
    reaches it. Returns (total, {head or "chars": loss})."""
    feats = NT.shuffled_features(vit_w, runner.cfg, NT.normalise_tiles(tiles, runner.device))
    losses = {}
    if char_weight and char_w is not None:
        losses["chars"] = char_weight * char_loss(char_w, feats,
                                                  slot_labels(slots, feats.shape[1]))
    for head in heads:
        batch = NT.make_batch(runner.prompter, head,
                              [(feats[j:j + 1], PROMPT, texts[j]) for j in range(len(texts))])
        batch["point"] = points
        losses[head] = runner.loss(head, batch)
    return sum(losses.values()), {h: float(v) for h, v in losses.items()}


@torch.no_grad()
def joint_char_accuracy(runner, heads, tiles, texts, vit_w, batch=32, char_w=None, slots=None):
    """Teacher-forced byte accuracy per head on cells (tiles, texts); with char_w, also
    "slots": the character read-out's accuracy on the slots that hold a character."""
    right = {h: 0 for h in heads}
    total = 0
    slot_right = slot_total = 0
    for i in range(0, len(texts), batch):
        t = tiles[i:i + batch]
        feats = NT.shuffled_features(vit_w, runner.cfg, NT.normalise_tiles(t, runner.device))
        if char_w is not None and slots is not None:
            labels = slot_labels(slots[i:i + batch], feats.shape[1])
            pred = char_logits(char_w, feats).argmax(-1)
            mark = labels > 0
            slot_right += int((pred[mark] == labels[mark]).sum())
            slot_total += int(mark.sum())
        for head in heads:
            b = NT.make_batch(runner.prompter, head, [(feats[j:j + 1], PROMPT, texts[i + j])
                                                      for j in range(len(t))])
            logits = runner.logits(head, b)
            mask = b["labels"] != -100
            right[head] += int((logits.argmax(-1)[mask] == b["labels"][mask]).sum())
            if head == heads[0]:
                total += int(mask.sum())
    out = {h: round(right[h] / max(1, total), 4) for h in heads}
    if slot_total:
        out["slots"] = round(slot_right / slot_total, 4)
    return out


def cpu_has_bf16():
    """True when /proc/cpuinfo lists avx512_bf16 (or cannot be read: then assume so)."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " avx512_bf16" in line for line in f)
    except OSError:
        return True


def cmd_joint(args):
    """The ViT and the heads d, x, h trained together on cells: each step is one batch of
    tiles through the shared ViT and then through every head, the heads' losses summed, so
    the three heads see the same tiles, steps, seed and batch, over one shared encoder."""
    torch.manual_seed(args.seed)
    # f32: OpenBLAS has --threads (main() set OPENBLAS_NUM_THREADS), PyTorch's own pool
    # one; bf16: the other way round (blas_threads_reexec)
    torch.set_num_threads(args.threads if args.bf16 and cpu_has_bf16() else 1)
    if args.bf16 and not cpu_has_bf16():
        # measured on an AVX2 EPYC (session 13): a 512x768x768 product took 123 ms in bf16
        # against 20 ms in f32 on one thread; the steps of a --bf16 run were ~6x slower
        print("cells joint: this CPU has no AVX-512 BF16, where bf16 products are emulated "
              "and ~6x slower than f32: --bf16 ignored, training in f32", file=sys.stderr)
        args.bf16 = False
    heads = args.heads.split(",")
    os.makedirs(args.out, exist_ok=True)
    raw, w = load_model(args.init)
    raw["nvlm_cell_reader"] = CELL_READER
    if args.x_layers:
        widen_xattn(raw, w, "x", [int(v) for v in args.x_layers.split(",")])
    val = torch.load(args.val)
    if "tiles" not in val:
        raise SystemExit("cells joint: %s has no tiles (cells.py data --keep-tiles)" % args.val)
    tok = NT.write_tokenizer(os.path.join(args.out, "tokenizer"))
    runner = CellRunner(raw, tok, w, torch.device("cpu"))
    runner.point_weight = args.point
    runner.point_layer = args.point_layer % runner.cfg.layers
    vit_w = {k: v for k, v in w.items() if k.startswith("vision_model.")}
    trained = {k: v for k, v in w.items() if not k.startswith("vision_model.") or args.vit_lr_scale > 0}
    scale = {}
    for k, v in trained.items():
        if k.startswith("vision_model."):
            scale[id(v)] = args.vit_lr_scale
        elif "language_model." in k:
            scale[id(v)] = args.lm_lr_scale
        v.requires_grad_(True)
    params = list(trained.values())
    char_w = None
    if args.char_weight:
        g = torch.Generator().manual_seed(args.seed)
        width = runner.cfg.v_hidden * 4
        char_w = {"weight": (torch.randn(SLOTS * CHAR_CLASSES, width, generator=g)
                             * width ** -0.5).requires_grad_(True),
                  "bias": torch.zeros(SLOTS * CHAR_CLASSES, requires_grad=True)}
        if args.from_chars and os.path.exists(args.from_chars):
            char_w = {k: v.float().requires_grad_(True)
                      for k, v in st_io.read_file(args.from_chars).items()}
        params += list(char_w.values())
        if "slots" not in val:
            raise SystemExit("cells joint: %s has no character slots (make it again with "
                             "cells.py data)" % args.val)
    nval = min(args.val_count, len(val["texts"]))
    log = open(os.path.join(args.out, "log.jsonl"), "a")
    TS.log_line(log, {"heads": heads, "args": vars(args),
                      "trained_params": sum(v.numel() for v in params)})

    class Joint:
        """train_stages.train's runner/loader protocol over the joint loss."""
        device = runner.device
        w = runner.w

        def loss(self, _head, batch):
            total, parts = joint_loss(runner, heads, batch["tiles"], batch["texts"],
                                      batch["point"], vit_w, char_w, batch["slots"],
                                      args.char_weight)
            self.parts = parts
            return total

    joint = Joint()

    def on_log(step):
        rec = {"val_char_acc": joint_char_accuracy(runner, heads, val["tiles"][:nval],
                                                   val["texts"][:nval], vit_w, char_w=char_w,
                                                   slots=val.get("slots", [])[:nval]),
               "last_losses": {h: round(v, 3) for h, v in joint.parts.items()},
               "tables_seen": stream.next_table - args.start,
               "browser_tables_read": browser.tables_read if browser else 0,
               "browser_val_char_acc": (joint_char_accuracy(runner, heads, bval[0], bval[1], vit_w)
                                        if bval else None),
               "tanh_gates": {k: round(float(torch.tanh(v)), 3) for k, v in w.items()
                              if k.endswith("_gate")}}
        if args.save_every and step % args.save_every == 0:
            save_joint(args, raw, w, "step %d" % step, char_w)
        return rec

    n_browser = int(round(args.batch * args.browser_share)) if args.browser else 0
    bval = None
    if args.browser_val:
        with tempfile.TemporaryDirectory(prefix="nvlm_bval_") as work:
            tiles, texts = browser_cell_tiles(args.nvlm, BrowserStream(
                args.nvlm, args.browser_val, 1, 1, 0, work).tables, work)
        bval = (torch.from_numpy(tiles[:nval]), texts[:nval])

    class Batches:
        """Each batch: batch - n_browser tablegen cells, then n_browser browser cells
        (no pointing targets or character slots for those)."""

        def __iter__(self):
            extra = iter(browser) if n_browser else None
            for tiles, texts, points, slots in stream:
                if extra is not None:
                    b_tiles, b_texts = next(extra)
                    tiles = torch.cat([tiles, b_tiles])
                    texts = texts + b_texts
                    points = points + [None] * n_browser
                    slots = slots + [None] * n_browser
                yield {"tiles": tiles, "texts": texts, "point": points, "slots": slots,
                       "ids": torch.zeros(len(texts), 1)}

    with tempfile.TemporaryDirectory(prefix="nvlm_joint_") as work:
        line_models = (line_height_models([int(v) for v in args.line_heights.split(",")],
                                          work) if args.line_heights else None)
        stream = TileStream(args.nvlm, "train", args.data_seed, args.start, args.chunk,
                            args.batch - n_browser, work, args.shift, args.shift_share,
                            line_models, args.open_vocab)
        browser = (BrowserStream(args.nvlm, args.browser, args.chunk, n_browser, args.seed, work)
                   if n_browser else None)
        if browser:
            browser.line_models = line_models
            if args.shift > 0:
                browser.shift = (np.random.default_rng(args.seed * 7919 + 1), args.shift,
                                 args.shift_share)
        done, samples, wall = TS.train(joint, "all", params, Batches(), args.steps, args.lr, log,
                                       "joint", args.max_minutes * 60, scale, on_log,
                                       args.log_every, cpu_bf16=args.bf16)
    for v in params:
        v.requires_grad_(False)
    save_joint(args, raw, w, "end, step %d" % done, char_w)
    final = TS.rounded(w)
    runner.w = final
    plain = NT.Runner(raw, tok, final, torch.device("cpu"))
    n_eval = min(args.eval_count, len(val["texts"]))
    result = {"heads": heads, "steps": done, "samples": samples, "wall_s": round(wall, 1),
              "tables_seen": stream.next_table - args.start, "next_start": stream.next_table,
              "browser_tables_read": browser.tables_read if browser else 0,
              "cpu_threads": args.threads, "val_cells": n_eval}
    for head in heads:
        t0 = time.time()
        preds = greedy_texts(plain, head, val["tiles"][:n_eval], max_new=48)
        truth = val["texts"][:n_eval]
        result[head] = {"val_exact": float(np.mean([p == t for p, t in zip(preds, truth)])),
                        "eval_s": round(time.time() - t0, 1),
                        "errors": [(t, p) for p, t in zip(preds, truth) if p != t][:20]}
    TS.log_line(log, {k: ({kk: vv for kk, vv in v.items() if kk != "errors"}
                          if isinstance(v, dict) else v) for k, v in result.items()})
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0


def widen_xattn(raw, w, head, layers):
    """Gives `head` gated cross-attention blocks before each decoder layer in `layers`
    (strictly increasing). A layer that had a block keeps it; a new block starts as a copy of
    the head's first trained block with both gates at 0, so the model's output is unchanged
    at step 0 and the gates' gradients come from a block that already reads the image."""
    old = raw["nvlm_heads"][head].get("xattn_layers", [])
    if not old:
        raise SystemExit("cells joint: head %s has no cross-attention block to copy" % head)
    if layers != sorted(set(layers)):
        raise SystemExit("cells joint: --x-layers must be strictly increasing")
    blocks = {}
    for j, layer in enumerate(old):
        pre = "%s_xattn.%d." % (head, j)
        blocks[layer] = {k[len(pre):]: v for k, v in w.items() if k.startswith(pre)}
    for k in [k for k in w if k.startswith(head + "_xattn.")]:
        del w[k]
    for j, layer in enumerate(layers):
        src = blocks.get(layer)
        new = src is None
        for name, v in (blocks[old[0]] if new else src).items():
            v = v.clone()
            if new and name.endswith("_gate"):
                v.zero_()
            w["%s_xattn.%d.%s" % (head, j, name)] = v
    raw["nvlm_heads"][head]["xattn_layers"] = list(layers)


def drop_closed_xattn(raw, w, head, eps):
    """Removes the head's cross-attention blocks whose gates stayed closed (|tanh| of both
    below eps: the block adds at most eps x its output to the residual), renumbering the
    rest; the head keeps at least one block."""
    layers = raw["nvlm_heads"][head].get("xattn_layers", [])
    keep = []
    for j, layer in enumerate(layers):
        pre = "%s_xattn.%d." % (head, j)
        gates = [abs(float(torch.tanh(w[pre + g].float()))) for g in ("attn_gate", "mlp_gate")]
        if max(gates) >= eps:
            keep.append(j)
        else:
            print("cells export: %s block before layer %d dropped (|tanh(gate)| %.4f, %.4f)"
                  % (head, layer, *gates))
    if not keep or len(keep) == len(layers):
        return
    blocks = {j: {k[len("%s_xattn.%d." % (head, j)):]: v for k, v in w.items()
                  if k.startswith("%s_xattn.%d." % (head, j))} for j in keep}
    for k in [k for k in w if k.startswith(head + "_xattn.")]:
        del w[k]
    for new, j in enumerate(keep):
        w.update({"%s_xattn.%d.%s" % (head, new, n): v for n, v in blocks[j].items()})
    raw["nvlm_heads"][head]["xattn_layers"] = [layers[j] for j in keep]


def save_joint(args, raw, w, note, char_w=None):
    """The whole model directory (f16) in OUT/model: what export writes, ready to run and
    to continue from (--init OUT/model); the training-only character read-out beside it
    (OUT/chars.safetensors, for --from-chars)."""
    if char_w is not None:
        st_io.write_file(os.path.join(args.out, "chars.safetensors"),
                         {k: v.detach().contiguous() for k, v in char_w.items()}, {})
    out = os.path.join(args.out, "model")
    os.makedirs(out, exist_ok=True)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in w.items()}
    st_io.write_file(os.path.join(out, "model.safetensors.tmp"), tensors,
                     {"format": "pt", "producer": "nvlm tools/train/cells.py joint",
                      "note": note})
    os.replace(os.path.join(out, "model.safetensors.tmp"), os.path.join(out, "model.safetensors"))
    cfg = dict(raw)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    NT.write_tokenizer(out)


# ---------------------------------------------------------------- C = PyTorch

def markdown_cells(markdown):
    """Cells of nvlm's Markdown output, header row first (the separator dropped)."""
    rows = []
    for line in markdown.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.replace("\\|", "|") for c in split_row(line[2:-2])]
        if all(set(c) <= {"-"} and c for c in cells):
            continue
        rows.append(cells)
    return rows


def split_row(text):
    out, cur, i = [], "", 0
    while i < len(text):
        if text.startswith(" | ", i) and not cur.endswith("\\"):
            out.append(cur)
            cur, i = "", i + 3
        else:
            cur, i = cur + text[i], i + 1
    out.append(cur)
    return out


def cmd_check(args):
    """The C runtime's greedy cell texts against PyTorch's on the C runtime's own tiles."""
    torch.set_num_threads(args.threads)
    raw, w = load_model(args.model)
    tok = NT.write_tokenizer(tempfile.mkdtemp(prefix="nvlm_tok_"))
    runner = NT.Runner(raw, tok, w, torch.device("cpu"))
    same = total = 0
    diffs = []
    report = {}
    with tempfile.TemporaryDirectory(prefix="nvlm_check_") as work:
        paths = []
        if args.images:
            paths = sorted(os.path.join(args.images, f) for f in os.listdir(args.images)
                           if f.endswith(".png"))
        for i in range(0 if args.images else args.count):
            s = gen.make_sample(args.split, args.seed, i)
            path = os.path.join(work, s["id"] + ".png")
            s["image"].save(path)
            paths.append(path)
        cells_dir = os.path.join(work, "cells")
        os.makedirs(cells_dir)
        subprocess.run([args.nvlm, "table", "-m", args.model, "--dump-cells", cells_dir] + paths,
                       capture_output=True, check=False)
        for head in args.heads.split(","):
            # Each cell read once from its own tile (no re-reading of doubted cells: those
            # readings come from moved tiles, which the reference is not given here).
            out = subprocess.run([args.nvlm, "table", "-m", args.model, "--fusion", head,
                                  "--json", "--reread-below", "0", "-t", str(args.threads)] + paths,
                                 capture_output=True, text=True)
            c_tables = {}
            for line in out.stdout.splitlines():
                d = json.loads(line)
                if d.get("markdown"):
                    stem = os.path.splitext(os.path.basename(d["image"]))[0]
                    c_tables[stem] = markdown_cells(d["markdown"])
            files = sorted(f for f in os.listdir(cells_dir)
                           if f.rsplit("_r", 1)[0] in c_tables)
            h_same = h_total = 0
            for start in range(0, len(files), 64):
                chunk = files[start:start + 64]
                tiles = torch.from_numpy(np.stack([read_ppm(os.path.join(cells_dir, f))
                                                   for f in chunk]))
                ids = runner.greedy(head, [(tiles[j:j + 1], PROMPT, "") for j in range(len(chunk))],
                                    args.max_new)
                for f, seq in zip(chunk, ids):
                    py_text = runner.decode([t for t in seq if t != runner.prompter.im_end]).strip()
                    stem, rc = f[:-4].rsplit("_r", 1)
                    r, c = (int(v) for v in rc.split("_c"))
                    c_text = c_tables[stem][r][c].strip()
                    h_total += 1
                    py_text = py_text.replace("\n", "").replace("\r", "")
                    if py_text == c_text:
                        h_same += 1
                    elif len(diffs) < 20:
                        diffs.append({"head": head, "cell": f, "pytorch": py_text, "c": c_text})
            report[head] = {"cells": h_total, "identical": h_same}
            same += h_same
            total += h_total
            print(json.dumps({"head": head, "cells": h_total, "identical": h_same}), flush=True)
    report["diffs"] = diffs
    print(json.dumps(report, indent=1))
    return 0 if total and same >= args.min_agree * total else 1


# ---------------------------------------------------------------- export

def move_tile(tile, k):
    """The tile's content moved k px sideways, or None when ink would leave the tile."""
    ink = np.nonzero((tile < 255).any(axis=(0, 2)))[0]
    if len(ink) and (int(ink[0]) + k < 0 or int(ink[-1]) + k > tile.shape[1] - 1):
        return None
    out = np.full_like(tile, 255)
    if k > 0:
        out[:, k:] = tile[:, :-k]
    elif k < 0:
        out[:, :k] = tile[:, -k:]
    else:
        out[:] = tile
    return out


def cmd_shifts(args):
    """Greedy exact per head on the val cells with every tile moved k px sideways: how tied
    the reader is to where its glyphs fall on the 14 px patch grid (PyTorch, f16-rounded
    weights as the runtime reads them). Only cells whose ink stays on the tile at every k
    are counted, so each column is over the same cells."""
    torch.set_num_threads(args.threads)
    raw, w = load_model(args.model)
    tok = NT.write_tokenizer(tempfile.mkdtemp(prefix="nvlm_tok_"))
    runner = NT.Runner(raw, tok, TS.rounded(w), torch.device("cpu"))
    val = torch.load(args.val)
    shifts = [int(v) for v in args.shifts.split(",")]
    tiles, texts = [], []
    for t, text in zip(val["tiles"].numpy(), val["texts"]):
        moved = [move_tile(t, k) for k in shifts]
        if all(m is not None for m in moved):
            tiles.append(moved)
            texts.append(text)
        if len(texts) == args.count:
            break
    report = {"model": args.model, "cells": len(texts), "shifts": shifts}
    for head in args.heads.split(","):
        row = {}
        for i, k in enumerate(shifts):
            imgs = torch.from_numpy(np.stack([m[i] for m in tiles]))
            preds = greedy_texts(runner, head, imgs, max_new=48)
            row[k] = round(float(np.mean([p == t for p, t in zip(preds, texts)])), 3)
        report[head] = row
        print(json.dumps({head: row}), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


def cmd_export(args):
    """RUN of `train` (fusion_<head> + lm_<head> over --init's model) or of `joint` (its
    whole model, RUN/model) -> the model directory, with the model card."""
    joint_model = os.path.join(args.run, "model")
    if os.path.isdir(joint_model):
        raw, tensors = load_model(joint_model)
        heads = [h for h in HEADS if h in raw["nvlm_heads"]]
    else:
        raw, tensors = load_model(args.init)
        heads = [h for h in HEADS
                 if os.path.exists(os.path.join(args.run, "fusion_%s.safetensors" % h))]
        for head in heads:
            tensors.update(st_io.read_file(os.path.join(args.run, "fusion_%s.safetensors"
                                                        % head)))
            lm = st_io.read_file(os.path.join(args.run, "lm_%s.safetensors" % head))
            prefix = "" if head == "d" else head + "_"
            tensors.update({prefix + k: v for k, v in lm.items()})
    if not heads:
        raise SystemExit("cells export: %s holds no fusion_<head>.safetensors and no model/"
                         % args.run)
    raw["nvlm_cell_reader"] = CELL_READER
    raw["nvlm_heads"] = {h: raw["nvlm_heads"][h] for h in HEADS if h in raw["nvlm_heads"]}
    if args.drop_closed_gates:
        for head in heads:
            drop_closed_xattn(raw, tensors, head, args.drop_closed_gates)
    size = write_model_dir(args.out, raw, tensors, args.trained, args.warning)
    print("cells export: heads %s, %d bytes in %s" % (",".join(heads), size, args.out))
    return 0


def write_model_dir(out, raw, tensors, trained, warning):
    """config.json (model card set), model.safetensors (f16) and tokenizer.json in OUT;
    returns the directory's size in bytes."""
    card = raw.setdefault("nvlm_model_card", {})
    card["trained"] = trained
    if warning:
        card["warning"] = warning
    else:
        card.pop("warning", None)
    os.makedirs(out, exist_ok=True)
    tensors = {k: v.to(torch.float16).contiguous() for k, v in tensors.items()}
    st_io.write_file(os.path.join(out, "model.safetensors"), tensors,
                     {"format": "pt", "producer": "nvlm tools/train/cells.py"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(raw, f, indent=1)
        f.write("\n")
    NT.write_tokenizer(out)
    return sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))


def cmd_soup(args):
    """The weighted mean of the weights of model directories that were trained from one
    start (a "model soup", Wortsman et al. 2022; with the start among them, WiSE-FT): runs
    that each gained on one table set and lost on another can, averaged, keep both gains
    (docs/training.md, session 20). Every model must have the same config (model card
    aside) and the same tensors; the mean is taken in f32 and written in f16."""
    weights = [1.0] * len(args.models)
    if args.weights:
        weights = [float(v) for v in args.weights.split(",")]
        if len(weights) != len(args.models) or min(weights) < 0 or sum(weights) <= 0:
            raise SystemExit("cells soup: --weights needs one non-negative weight per model")
    def without_card(raw):
        return {k: v for k, v in raw.items() if k != "nvlm_model_card"}
    raw0, tensors = load_model(args.models[0])
    mean = {k: v.float() * weights[0] for k, v in tensors.items()}
    for path, wt in zip(args.models[1:], weights[1:]):
        raw, tensors = load_model(path)
        if without_card(raw) != without_card(raw0):
            raise SystemExit("cells soup: %s has another config than %s"
                             % (path, args.models[0]))
        if tensors.keys() != mean.keys() or any(tensors[k].shape != mean[k].shape
                                                 for k in mean):
            raise SystemExit("cells soup: %s holds other tensors than %s"
                             % (path, args.models[0]))
        for k, v in tensors.items():
            mean[k] += v.float() * wt
    total = sum(weights)
    mean = {k: v / total for k, v in mean.items()}
    trained = args.trained or "tools/train/cells.py soup of %s (weights %s)" % (
        ", ".join(args.models), ",".join("%g" % w for w in weights))
    size = write_model_dir(args.out, raw0, mean, trained, args.warning)
    print("cells soup: %d models, %d tensors, %d bytes in %s"
          % (len(args.models), len(mean), size, args.out))
    return 0


def blas_threads_reexec(args, argv):
    """Re-executes `cells.py joint` once with OPENBLAS_NUM_THREADS=--threads (cmd_joint then
    gives PyTorch's own pool one thread). Debian's PyTorch calls the pthread build of
    OpenBLAS, which starts threads of its own beside PyTorch's OpenMP pool: batched attention
    products (PyTorch parallel over the batch, each product threaded by OpenBLAS) put four
    threads on two cores. A joint step of 16 cells on the 2-core AVX2 EPYC of session 14:
    7.0 s with both pools at 2 threads, 4.5 s with OpenBLAS 1 / PyTorch 2, 4.0 s with OpenBLAS
    2 / PyTorch 1. The variable is read when OpenBLAS loads, hence the re-execution; one set
    by the caller is kept. With --bf16 on a CPU with AVX-512 BF16 the products run on
    PyTorch's own oneDNN kernels, not OpenBLAS, so PyTorch's pool gets the threads and
    OpenBLAS one."""
    if args.cmd != "joint" or "OPENBLAS_NUM_THREADS" in os.environ:
        return
    blas = 1 if args.bf16 and cpu_has_bf16() else args.threads
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas))
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + list(argv), env)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="cell tiles (C runtime) and their ViT features")
    d.add_argument("--nvlm", default=os.path.join(ROOT, "build", "cli", "nvlm"))
    d.add_argument("--init", default=BUNDLED)
    d.add_argument("--split", default="train")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--count", type=int, default=100, help="tables")
    d.add_argument("--chunk", type=int, default=50, help="tables per nvlm call")
    d.add_argument("--threads", type=int, default=1)
    d.add_argument("--keep-tiles", action="store_true", help="store the uint8 tiles too")
    d.add_argument("--no-feats", action="store_true",
                   help="no frozen-ViT features (train --train-vit reads the tiles)")
    d.add_argument("--out", required=True)
    t = sub.add_parser("train", help="train one head")
    t.add_argument("--head", required=True, choices=HEADS)
    t.add_argument("--init", default=BUNDLED)
    t.add_argument("--from-run", help="continue the head of an earlier run")
    t.add_argument("--data", required=True)
    t.add_argument("--val", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--lm-lr-scale", type=float, default=0.5)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--val-count", type=int, default=256, help="cells in the logged accuracy")
    t.add_argument("--greedy-every", type=int, default=0, help="greedy val exact every N steps")
    t.add_argument("--greedy-count", type=int, default=128)
    t.add_argument("--eval-count", type=int, default=300, help="val cells read greedily at the end")
    t.add_argument("--log-every", type=int, default=50)
    t.add_argument("--point", type=float, default=0.0, metavar="WEIGHT",
                   help="pointing loss weight (pointing.py): one attention head is "
                   "told which image tokens hold each glyph")
    t.add_argument("--point-layer", type=int, default=-1)
    t.add_argument("--max-minutes", type=float, default=0)
    j = sub.add_parser("joint", help="train the ViT and the heads together on fresh cells")
    j.add_argument("--nvlm", default=os.path.join(ROOT, "build", "cli", "nvlm"))
    j.add_argument("--init", default=BUNDLED, help="model directory to start from")
    j.add_argument("--heads", default="d,x,h")
    j.add_argument("--val", required=True, help="cells.py data --keep-tiles file")
    j.add_argument("--out", required=True)
    j.add_argument("--steps", type=int, default=3000)
    j.add_argument("--batch", type=int, default=8)
    j.add_argument("--lr", type=float, default=1e-3)
    j.add_argument("--lm-lr-scale", type=float, default=0.5)
    j.add_argument("--vit-lr-scale", type=float, default=0.3,
                   help="the ViT's learning rate as a fraction of --lr (0: frozen)")
    j.add_argument("--seed", type=int, default=1)
    j.add_argument("--data-seed", type=int, default=1, help="tablegen seed of the train split")
    j.add_argument("--start", type=int, default=0, help="first train table of the stream")
    j.add_argument("--chunk", type=int, default=40, help="tables per nvlm call")
    j.add_argument("--threads", type=int, default=2)
    j.add_argument("--val-count", type=int, default=128)
    j.add_argument("--eval-count", type=int, default=300)
    j.add_argument("--log-every", type=int, default=50)
    j.add_argument("--save-every", type=int, default=0, help="write OUT/model every N steps "
                   "(a multiple of --log-every)")
    j.add_argument("--point", type=float, default=0.5, metavar="WEIGHT")
    j.add_argument("--char-weight", type=float, default=1.0, metavar="WEIGHT",
                   help="weight of the ViT's character-slot loss (0: none)")
    j.add_argument("--from-chars", help="continue the character read-out of an earlier run "
                   "(its chars.safetensors)")
    j.add_argument("--point-layer", type=int, default=-1)
    j.add_argument("--max-minutes", type=float, default=0)
    j.add_argument("--bf16", action="store_true", help="forward pass in bf16 (CPU autocast "
                   "over f32 weights; ~5x faster steps on AVX-512 BF16 CPUs, ignored on others)")
    j.add_argument("--browser", metavar="DIR", help="mix in the cells of the browser-rendered "
                   "tables in DIR (tools/browser_tables.py --train)")
    j.add_argument("--browser-share", type=float, default=0.25, metavar="F",
                   help="share of each batch taken from --browser (default 0.25)")
    j.add_argument("--browser-val", metavar="DIR", help="browser-rendered tables whose cells' "
                   "byte accuracy is logged (made with another --seed than --browser)")
    j.add_argument("--shift", type=int, default=0, metavar="PX",
                   help="move a share of the training tiles by -1..PX px sideways, their "
                   "targets with them (0: off; shift_tile)")
    j.add_argument("--shift-share", type=float, default=0.5, metavar="F",
                   help="share of the tiles --shift moves (default 0.5)")
    j.add_argument("--open-vocab", type=float, default=0.0, metavar="F",
                   help="make up this share of the tablegen word, name and place cells "
                        "(content.open_vocabulary; val stays as generated)")
    j.add_argument("--line-heights", metavar="PX,PX,...", help="cut each chunk's tiles at "
                   "one of these text-line heights, drawn per chunk (e.g. 24,26,28; default: "
                   "the bundled model's 24 only); the runtime's re-read views use 26 and 28")
    j.add_argument("--x-layers", metavar="L,L,...", help="give head x cross-attention blocks "
                   "before these decoder layers (new blocks: copies of its first, gates 0)")
    pt = sub.add_parser("point", help="add pointing targets to a data file")
    pt.add_argument("--nvlm", default=os.path.join(ROOT, "build", "cli", "nvlm"))
    pt.add_argument("--data", required=True)
    sh = sub.add_parser("shifts", help="greedy exact per head on val tiles moved k px")
    sh.add_argument("--model", default=BUNDLED)
    sh.add_argument("--val", required=True, help="cells.py data --keep-tiles file")
    sh.add_argument("--count", type=int, default=150)
    sh.add_argument("--shifts", default="0,1,2,3,4,6,8,12")
    sh.add_argument("--heads", default="d,x,h")
    sh.add_argument("--threads", type=int, default=1)
    sh.add_argument("--json", metavar="FILE")
    c = sub.add_parser("check", help="C runtime = PyTorch on the cells of generated tables")
    c.add_argument("--nvlm", default=os.path.join(ROOT, "build", "cli", "nvlm"))
    c.add_argument("--model", default=BUNDLED)
    c.add_argument("--heads", default="d,x,h")
    c.add_argument("--split", default="test")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--count", type=int, default=100, help="tables")
    c.add_argument("--images", help="the PNG tables of this folder instead of generated ones")
    c.add_argument("--max-new", type=int, default=64)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--min-agree", type=float, default=0.99)
    e = sub.add_parser("export", help="write the model directory")
    e.add_argument("run")
    e.add_argument("--init", default=BUNDLED)
    e.add_argument("--out", required=True)
    e.add_argument("--trained", default="tools/train/cells.py (docs/training.md)")
    e.add_argument("--warning", default="")
    e.add_argument("--drop-closed-gates", type=float, default=0, metavar="EPS",
                   help="drop cross-attention blocks whose |tanh(gate)| stayed below EPS")
    so = sub.add_parser("soup", help="average the weights of runs from one start")
    so.add_argument("models", nargs="+", metavar="MODEL_DIR")
    so.add_argument("--weights", metavar="W,W,...", help="one weight per model (default: equal)")
    so.add_argument("--out", required=True)
    so.add_argument("--trained", default="", help="the model card's 'trained' (default: "
                    "the soup's recipe)")
    so.add_argument("--warning", default="")
    args = ap.parse_args(argv)
    blas_threads_reexec(args, sys.argv[1:] if argv is None else argv)
    return {"data": cmd_data, "train": cmd_train, "check": cmd_check, "point": cmd_point,
            "export": cmd_export, "joint": cmd_joint, "shifts": cmd_shifts,
            "soup": cmd_soup}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
