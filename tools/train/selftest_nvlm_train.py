"""Self-test of the batched training model (tools/train/nvlm_train.py) against the tiny_nvlm
fixture goldens: `/usr/bin/python3 tools/train/selftest_nvlm_train.py`.

For each head d/x/h the three fixture cases (1, 3, 7 tiles) run as ONE padded batch (so
padding, per-sample tile counts and memories are exercised) and must reproduce
`golden_{head}_{n}`: prompt ids exactly, logits within 1e-4 * max|logit| (docs/model-format.md
section 11); the 8 greedy ids of the batched no-cache decoder must equal `generated_ids`.
The same for tiny_nvlm_chars (per-patch character probabilities before the projector), its
one case per head. pointing.py: its FeatureRunner over cached ViT features gives the pixel
path's logits and greedy ids; point_rows names the stream position or memory slot of each
targeted image token for d, x and h, and pointing_loss is -log of the attention mass on
them. cells.py's pointing targets: glyph_tokens maps a glyph box through a hand-made tile
geometry (one strip and a second strip) to its tokens, and cell_points gives one target list
per answer byte of a generated table's cells (empty for spaces and <|im_end|>).
train_stages.train(stop_at=N) ends after N steps on the planned schedule. The bundled byte
tokenizer maps text to its UTF-8 bytes and has the special ids 256..259; table_metrics'
self-check passes.
The checks of the whole-table curriculum (curriculum.py: its stream of rendered batches in
a process pool, --oracle-chars labels and features, markdown_glyphs, log_marks,
body_cell_bytes) left with it, when the cell reader replaced the whole-table task
(docs/training.md).
Exit status 1 on any failure.
"""
import json
import math
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))

import nvlm_train as NT  # noqa: E402
import pointing as PT  # noqa: E402
import st_io  # noqa: E402
import table_metrics  # noqa: E402
from bpe import Tokenizer  # noqa: E402

TOL = 1e-4
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def check_cached_features(raw, tok, w, head, goldens, question, logits):
    """cells.py trains on ViT features computed once per image: the same batch through
    pointing.FeatureRunner must give the logits and greedy ids of the pixel path."""
    frun = PT.FeatureRunner(raw, tok, w, torch.device("cpu"))
    with torch.no_grad():
        feats = [NT.shuffled_features(w, frun.cfg, g["in_pixel_values"])
                 for g in goldens]
    samples = [(f, question, "") for f in feats]
    batch = NT.make_batch(frun.prompter, head, samples, with_answers=False)
    got = frun.logits(head, batch)
    err = float((got - logits).abs().max())
    check(err <= 1e-6 * float(logits.abs().max()),
          "%s cached-feature logits = pixel logits (max|diff| %.1e)" % (head, err))
    ids = frun.greedy(head, samples, 8)
    want = [g["generated_ids"][0].tolist()[len(g["in_input_ids"][0]):] for g in goldens]
    check(ids == want, "%s cached-feature greedy ids" % head)


def load_fixture(fixture):
    """(config, cases, tokenizer, weights, Runner) of a fixture directory."""
    with open(os.path.join(fixture, "config.json")) as f:
        raw = json.load(f)
    with open(os.path.join(fixture, "cases.json")) as f:
        cases = json.load(f)
    tok = Tokenizer.load(fixture)
    w = {k: v.float() for k, v in st_io.read_model(fixture).items()}
    return raw, cases, tok, w, NT.Runner(raw, tok, w, torch.device("cpu"))


def check_char_fixture(fixture):
    """tiny_nvlm_chars: each head's logits and greedy ids from pixels."""
    _, cases, _, _, run = load_fixture(fixture)
    for case in cases["cases"]:
        head, n = case["head"], case["tiles"]
        g = st_io.read_file(os.path.join(fixture, case["golden"]))
        samples = [(g["in_pixel_values"], cases["question"], "")]
        batch = NT.make_batch(run.prompter, head, samples, with_answers=False)
        L = len(g["in_input_ids"][0])
        logits = run.logits(head, batch, g["in_pixel_values"])[0, :L]
        ref = g["logits"][0]
        err = float((logits - ref).abs().max())
        scale = float(ref.abs().max())
        check(err <= TOL * scale, "chars %s n=%d logits max|err| %.2e <= %.2e"
              % (head, n, err, TOL * scale))
        got = run.greedy(head, samples, 8, g["in_pixel_values"])[0]
        check(got == g["generated_ids"][0].tolist()[L:], "chars %s n=%d 8 greedy ids" % (head, n))


def check_pointing():
    """pointing_loss is -log of the attention mass on the image tokens that point_rows names
    for each answer byte (spaces and <|im_end|> name none)."""
    # Sequence: 2 prompt ids, image tokens at 2 and 3, answer bytes at 4.. (labels from 3).
    ids = torch.tensor([[5, 6, 9, 9, 7, 8, 1]])
    labels = torch.tensor([[-100, -100, -100, 7, 8, 1, -100]])
    probs = torch.zeros(1, 1, 7, 7)
    probs[0, 0, 3, 2], probs[0, 0, 3, 3] = 0.5, 0.25   # predicts byte 0: glyph in token 1
    probs[0, 0, 4, 2] = 0.8                             # predicts byte 1: glyph in token 0
    batch = {"ids": ids, "labels": labels, "n_tiles": torch.tensor([1]),
             "point": [[[1], [0], []]]}
    rows = PT.point_rows(batch, "d", 9, 2, {})
    loss, mass = PT.pointing_loss({"self": [probs], "cross": []}, rows)
    want = -(math.log(0.25 + 1e-6) + math.log(0.8 + 1e-6)) / 2
    check(rows == {"self": [(0, 3, [3]), (0, 4, [2])], "cross": []}
          and abs(float(loss) - want) < 1e-6 and abs(mass - 0.525) < 1e-6,
          "pointing loss %.6f (want %.6f), mass %.3f" % (float(loss), want, mass))


def check_stop_at():
    """train_stages.train(stop_at=N) ends after N steps, the learning rate on the schedule
    of the planned steps, and says so in the log (gives another head exactly the steps of a
    run that a time limit cut)."""
    import io
    import train_stages as TS  # noqa: E402

    class Quadratic:
        device = torch.device("cpu")

        def __init__(self):
            self.w = {"p": torch.zeros(2, 2, requires_grad=True)}

        def loss(self, head, batch):
            return ((self.w["p"] - 1.0) ** 2).sum()

    run, log = Quadratic(), io.StringIO()
    loader = [{"ids": torch.zeros(4, 3)}] * 5
    done, samples, _ = TS.train(run, "d", [run.w["p"]], loader, 100, 1e-2, log, "finetune",
                                log_every=3, stop_at=7)
    lines = [json.loads(x) for x in log.getvalue().splitlines()]
    last_lr = [x["lr"] for x in lines if "lr" in x][-1]
    check(done == 7 and samples == 28 and lines[-1].get("stopped_at") == 7
          and lines[-1].get("reason") == "stop_at"
          and abs(last_lr - TS.cosine(5, 100, 5, 1e-2)) < 1e-12,
          "train(stop_at=7) of 100 planned: %d steps, %d samples, lr %.3g at step 6"
          % (done, samples, last_lr))


def check_point_layout(fixture):
    """point_rows names, for each head, the stream position or memory slot that holds the
    targeted image token: head_forward's own inputs (the first decoder layer's, the
    cross-attention's memory) hold the projector output of that token there."""
    raw, _, tok, w, run = load_fixture(fixture)
    cfg, T, n = run.cfg, run.cfg.tokens_per_tile, 3
    S = raw["force_image_size"]
    Z = torch.randn(n, T, cfg.hidden, generator=torch.Generator().manual_seed(7))
    targets = [1, T + 2, 2 * T + 3]   # a token of tile 0, of tile 1, of the last (T >= 4)
    seen = {}
    real_layer, real_xattn = NT.decoder_layer, NT.xattn_block

    def layer(lm, cfg_, l, h, *rest, **kw):
        if l == 0:
            seen["stream"] = h.detach().clone()
        return real_layer(lm, cfg_, l, h, *rest, **kw)

    def xattn(w_, cfg_, pre, h, memory, *rest, **kw):
        seen["memory"] = memory.detach().clone()
        return real_xattn(w_, cfg_, pre, h, memory, *rest, **kw)

    NT.decoder_layer, NT.xattn_block = layer, xattn
    try:
        for head in ("d", "x", "h"):
            samples = [(torch.zeros(n, S, S, 3, dtype=torch.uint8), "q", "abcd")]
            batch = NT.make_batch(run.prompter, head, samples)
            batch["point"] = [[[t] for t in targets]]
            rows = PT.point_rows(batch, head, cfg.imgc, T,
                                         {k: len(v) for k, v in run.tag_ids.items()})
            seen.clear()
            NT.head_forward(w, cfg, head, batch["ids"], batch["rules"], [n], Z, run.tag_ids)
            flat, ok = Z.reshape(n * T, -1), True
            for kind, where in (("self", "stream"), ("cross", "memory")):
                for b, q, keys in rows[kind]:
                    byte = q - int((batch["labels"][b] != -100).nonzero()[0])
                    ok &= int(batch["labels"][b, q]) == ord("abcd"[byte])
                    ok &= torch.allclose(seen[where][b, keys[0]], flat[targets[byte]])
            kinds = {k: len(v) for k, v in rows.items()}
            want = {"d": {"self": 3, "cross": 0}, "x": {"self": 0, "cross": 3},
                    "h": {"self": 1, "cross": 2}}[head]
            check(ok and kinds == want, "point rows of head %s: %s land on their tokens"
                  % (head, kinds))
    finally:
        NT.decoder_layer, NT.xattn_block = real_layer, real_xattn


def check_glyph_tokens():
    """cells.glyph_tokens: a glyph box of the image, through the tile geometry that nvlm
    --dump-cells records, names the tokens (8 x 8 grid of 28 px) its left edge, centre and
    right edge land on. Hand-made geometry: crop x 100..300, y 50..70 scaled 1.2 to 240 x 24,
    strip 0 holds scaled x 0..200 at tile y 2, strip 1 x 200..240 at tile y 30, both from
    tile x 1. Glyph centres sit at y 60: scaled y 12, tile y 14 (token row 0) in strip 0 and
    42 (token row 1) in strip 1."""
    import cells  # noqa: E402 (pulls in tools.tablegen)
    geom = {"crop": [100, 50, 300, 70], "scaled": [240, 24], "strip_left": 1,
            "strips": [[0, 200, 2], [200, 240, 30]]}
    cases = [
        # image x 110..118: scaled 12.6, 16.8, 21 -> tile x 13.6, 17.8, 22: column 0
        ((110, 52, 118, 68), [0]),
        # image x 120..130: scaled 24.6, 30, 35.4 -> tile x 25.6, 31, 36.4: columns 0, 1
        ((120, 52, 130, 68), [0, 1]),
        # image x 280..290: scaled 216.6, 222, 227.4 (strip 1, from 200) -> tile x 17.6,
        # 23, 28.4: columns 0, 1 of token row 1 (tokens 8, 9)
        ((280, 55, 290, 65), [8, 9]),
    ]
    got = [cells.glyph_tokens(box, geom) for box, _ in cases]
    check(got == [want for _, want in cases],
          "cells glyph_tokens on a two-strip geometry: %r" % got)


def check_cell_points():
    """cells.cell_points on generated table val/1/0 with geometries made here (each cell's
    box scaled to a 24 px line, strips of 222 px at y 2 + 28 k from x 1): per cell, one
    target list per answer byte (a multi-byte character's bytes share their glyph's), []
    for spaces and for the closing <|im_end|>; each glyph's list holds the token of its
    centre; a cell without a geometry gets no entry."""
    import cells  # noqa: E402
    from tools.tablegen import fonts, gen  # noqa: E402
    s = gen.make_sample("val", 1, 0)
    t = s["table"]
    rows = [t["header"]] + t["rows"]
    geoms, scale_of = {}, {}
    for r, line in enumerate(rows):
        for c, text in enumerate(line):
            x0, y0, x1, y1 = s["cells"][r][c]
            scale = 24 / (y1 - y0)
            sw = round((x1 - x0) * scale)
            strips = [[a, min(a + 222, sw), 2 + 28 * k] for k, a in enumerate(range(0, sw, 222))]
            name = "%s_r%02d_c%02d.ppm" % (s["id"], r, c)
            geoms[name] = {"crop": [x0, y0, x1, y1], "scaled": [sw, 24], "strip_left": 1,
                           "strips": strips}
            scale_of[(r, c)] = sw / (x1 - x0)  # the x scale the geometry implies
    missing = "%s_r%02d_c%02d.ppm" % (s["id"], 1, 0)
    del geoms[missing]
    points, slots = cells.cell_points(s, geoms, s["id"])
    want_keys = {"%s/%d/%d" % (s["id"], r, c) for r, line in enumerate(rows)
                 for c, text in enumerate(line) if text and (r, c) != (1, 0)}
    ok, spaces, multi, glyphs = set(points) == want_keys and set(slots) == want_keys, 0, 0, 0
    slot_ok = True
    for r, line in enumerate(rows):
        for c, text in enumerate(line):
            key = "%s/%d/%d" % (s["id"], r, c)
            if key not in points:
                continue
            point = points[key]
            ok &= len(point) == len(text.encode("utf-8")) + 1 and point[-1] == []
            x0, y0, x1, y1 = s["cells"][r][c]
            boxes = [b for _, b in s["glyphs"]
                     if x0 <= (b[0] + b[2]) / 2 < x1 and y0 <= (b[1] + b[3]) / 2 < y1]
            at, g = 0, 0
            marks = iter(slots[key])
            for ch in text:
                n = len(ch.encode("utf-8"))
                lists = point[at:at + n]
                at += n
                if ch.isspace():
                    ok &= lists == [[]] * n
                    spaces += 1
                    continue
                multi += n > 1
                ok &= all(x == lists[0] for x in lists) and bool(lists[0])
                ok &= all(0 <= tok < 64 for tok in lists[0])
                cx = ((boxes[g][0] + boxes[g][2]) / 2 - x0) * scale_of[(r, c)]
                mark = next(marks, None) if ch in fonts.CHARSET else None
                if cx < 222:  # strip 0: token row 0
                    ok &= int((1 + cx) // 28) in lists[0]
                    if ch in fonts.CHARSET:  # its slot: which third of the token
                        want = (int((1 + cx) // 28), int(((1 + cx) % 28) * 3 / 28),
                                fonts.CHARSET.index(ch) + 1)
                        slot_ok &= mark == want
                glyphs += 1
                g += 1
    check(ok and spaces >= 1 and multi >= 1,
          "cells cell_points on val/1/0: %d cells, %d glyphs, %d spaces, %d multi-byte "
          "characters, one list per byte + <|im_end|>" % (len(points), glyphs, spaces, multi))
    check(slot_ok, "cells cell_points: each glyph's (token, slot, class) from its centre")
    # The labels of the character loss: a cell's marks in place, 0 elsewhere, -100 for a
    # cell without marks; the loss ignores those and is finite.
    labels = cells.slot_labels([[(0, 1, 5), (9, 2, 7)], None], 64)
    check(labels.shape == (2, 64, 3) and int(labels[0, 0, 1]) == 5 and int(labels[0, 9, 2]) == 7
          and int((labels[0] != 0).sum()) == 2 and bool((labels[1] == -100).all()),
          "cells slot_labels")
    width = 16
    char_w = {"weight": torch.zeros(3 * cells.CHAR_CLASSES, width),
              "bias": torch.zeros(3 * cells.CHAR_CLASSES)}
    loss = cells.char_loss(char_w, torch.randn(2, 64, width), labels)
    check(abs(float(loss) - math.log(cells.CHAR_CLASSES)) < 1e-4,
          "cells char_loss of a uniform read-out = log(classes): %.4f" % float(loss))


def check_line_heights():
    """cells.line_height_models (--line-heights): a model folder per height whose config
    says that line height and nothing else changed, a height past the strip refused; and,
    with the C runtime at hand ($NVLM_BIN), the tiles of the same tables cut at 28 px hold
    taller ink than at 24, with a pointing target for every cell."""
    import numpy as np
    import cells  # noqa: E402
    with tempfile.TemporaryDirectory() as work:
        models = cells.line_height_models([24, 28], work)
        with open(os.path.join(cells.BUNDLED, "config.json")) as f:
            base = json.load(f)
        for h, d in models.items():
            with open(os.path.join(d, "config.json")) as f:
                cfg = json.load(f)
            want = dict(base, nvlm_cell_reader=dict(base["nvlm_cell_reader"], line_height=h))
            check(cfg == want and os.path.exists(os.path.join(d, "model.safetensors")),
                  "cells line_height_models: %d px folder" % h)
        try:
            cells.line_height_models([30], work)
            check(False, "cells line_height_models: 30 px (past the 28 px strip) refused")
        except SystemExit:
            check(True, "cells line_height_models: 30 px (past the 28 px strip) refused")
        nvlm = os.environ.get("NVLM_BIN")
        if not nvlm:
            return
        ink = {}
        for h in (24, 28):
            sub = os.path.join(work, "t%d" % h)
            os.makedirs(sub)
            tiles, texts, keys, _, points, _ = cells.cell_tiles(nvlm, "train", 1, 0, 2, sub,
                                                                None, models[h])
            rows = [(t[:, :, 0] < 128).any(axis=1).nonzero()[0] for t in tiles]
            ink[h] = float(np.mean([r[-1] - r[0] + 1 for r in rows if len(r)]))
            check(len(texts) > 0 and all(points.get(k) for k in keys),
                  "cells cell_tiles at %d px: %d cells, each with pointing targets"
                  % (h, len(texts)))
        check(ink[28] > ink[24], "cells cell_tiles: ink %.1f px tall at 28 against %.1f at 24"
              % (ink[28], ink[24]))


def check_shift_tile():
    """cells.shift_tile (training tiles moved sideways, --shift): the content moves by k
    whole pixels, k in -1..max and never so far that ink leaves the tile, no tile moves at
    share 0; cells.move_tile refuses a move that would cut ink; a glyph's character slot on
    a geometry moved by k is the one at its position + k."""
    import numpy as np
    import cells  # noqa: E402
    tile = np.full((224, 224, 3), 255, np.uint8)
    tile[10:30, 1:60] = 0      # ink from x = 1 to 59
    tile[40:60, 100:215] = 90  # and to x = 214: at most 9 px to the right
    rng = np.random.default_rng(5)
    ks, ok = set(), True
    for _ in range(300):
        moved, k = cells.shift_tile(tile, rng, 13, 0.7)
        ks.add(k)
        ok &= -1 <= k <= 9 and moved.shape == tile.shape
        ok &= bool((moved[:, max(0, k):224 + min(0, k)] == tile[:, max(0, -k):224 - max(0, k)]).all())
        ok &= int((moved < 255).sum()) == int((tile < 255).sum())
    check(ok and ks == set(range(-1, 10)), "cells shift_tile: moves %s, ink kept" % sorted(ks))
    check(all(cells.shift_tile(tile, rng, 13, 0.0)[1] == 0 for _ in range(50)),
          "cells shift_tile: share 0 moves nothing")
    check(cells.move_tile(tile, 10) is None and cells.move_tile(tile, -2) is None
          and cells.move_tile(tile, 9) is not None, "cells move_tile: refuses cutting ink")
    geom = {"crop": [0, 0, 100, 20], "scaled": [120, 24], "strip_left": 1,
            "strips": [[0, 120, 2]]}
    box = [40, 2, 48, 18]  # centre x 44 -> 52.8 px scaled
    for k in (0, 5, 13):
        got = cells.glyph_slot(box, dict(geom, strip_left=1 + k))
        tx = 1 + k + 52.8
        want = (int(tx // 28), int((tx % 28) * 3 / 28))
        check(got == want, "cells glyph_slot on a geometry moved %d px: %s" % (k, got))


def check_soup(fixture):
    """cells soup: the weighted mean of the models' weights in f16, the first model's config
    with the model card set; a model with another config or other tensors refused."""
    import shutil
    import cells  # noqa: E402
    _, a = cells.load_model(fixture)
    with tempfile.TemporaryDirectory() as work:
        other = os.path.join(work, "other")
        shutil.copytree(fixture, other)
        b = {k: v * -2.0 + 0.25 for k, v in a.items()}
        st_io.write_file(os.path.join(other, "model.safetensors"),
                         {k: v.contiguous() for k, v in b.items()}, {})
        out = os.path.join(work, "soup")
        cells.main(["soup", "--out", out, "--weights", "3,1", fixture, other])
        raw, got = cells.load_model(out)
        worst = max(float((got[k] - ((3 * a[k] + b[k]) / 4).half().float()).abs().max())
                    for k in a)
        check(worst == 0.0 and got.keys() == a.keys(),
              "cells soup: weights 3,1 give the f16 mean (max |diff| %.3g)" % worst)
        with open(os.path.join(fixture, "config.json")) as f:
            want = json.load(f)
        card = raw.pop("nvlm_model_card", {})
        want.pop("nvlm_model_card", None)
        check(raw == want and "soup" in card.get("trained", ""),
              "cells soup: the config kept, the card says how it was made")
        st_io.write_file(os.path.join(other, "model.safetensors"),
                         {k: v.contiguous() for k, v in list(b.items())[1:]}, {})
        for bad, says in (("tensors", "holds other tensors"), ("config", "has another config")):
            if bad == "config":
                with open(os.path.join(other, "config.json"), "w") as f:
                    json.dump(dict(want, llm_config={}), f)
            try:
                cells.main(["soup", "--out", os.path.join(work, "bad"), fixture, other])
                check(False, "cells soup: a model with other %s refused" % bad)
            except SystemExit as e:
                check(says in str(e), "cells soup: a model with other %s refused (%s)"
                      % (bad, e))


def main():
    torch.set_num_threads(1)
    root = os.environ.get("NV_FIXTURE_DIR", os.path.join(ROOT, "tests", "fixtures"))
    fixture = os.path.join(root, "tiny_nvlm")
    raw, cases, tok, w, run = load_fixture(fixture)
    question = cases["question"]
    for head in ("d", "x", "h"):
        goldens = [st_io.read_file(os.path.join(fixture, "golden_%s_%d.safetensors" % (head, n)))
                   for n in (1, 3, 7)]
        samples = [(g["in_pixel_values"], question, "") for g in goldens]
        batch = NT.make_batch(run.prompter, head, samples, with_answers=False)
        pixels = torch.cat([g["in_pixel_values"] for g in goldens])
        logits = run.logits(head, batch, pixels)
        for b, (n, g) in enumerate(zip((1, 3, 7), goldens)):
            want_ids = g["in_input_ids"][0].tolist()
            L = len(want_ids)
            check(batch["ids"][b, :L].tolist() == want_ids and int(batch["lengths"][b]) == L,
                  "%s n=%d prompt ids (%d)" % (head, n, L))
            ref = g["logits"][0]
            err = float((logits[b, :L] - ref).abs().max())
            scale = float(ref.abs().max())
            check(err <= TOL * scale, "%s n=%d logits max|err| %.2e <= %.2e" % (head, n, err, TOL * scale))
        got = run.greedy(head, samples, 8, pixels)
        for b, (n, g) in enumerate(zip((1, 3, 7), goldens)):
            want = g["generated_ids"][0].tolist()[len(g["in_input_ids"][0]):]
            check(got[b] == want, "%s n=%d 8 greedy ids %s" % (head, n, got[b]))
        check_cached_features(raw, tok, w, head, goldens, question, logits)
    check_char_fixture(os.path.join(root, "tiny_nvlm_chars"))
    check_pointing()
    check_stop_at()
    check_point_layout(os.path.join(root, "tiny_nvlm"))
    check_glyph_tokens()
    check_cell_points()
    check_shift_tile()
    check_line_heights()
    check_soup(fixture)
    with tempfile.TemporaryDirectory() as tmp:
        btok = NT.write_tokenizer(tmp)
        text = "| Name | Price |\n| --- | --- |\n| Ada | €1,200.50 |"
        ids = btok.encode(text)
        check(ids == list(text.encode("utf-8")), "byte tokenizer: ids are the UTF-8 bytes")
        check(btok.added["<|im_end|>"] == 258 and btok.added["<|vision_pad|>"] == 259,
              "byte tokenizer: special ids 256..259")
    check(table_metrics.selftest() == 0, "table metrics (cell accuracy, exact, TEDS) on known cases")
    if failures:
        print("selftest_nvlm_train: %d failure(s)" % len(failures))
        return 1
    print("selftest_nvlm_train: all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
