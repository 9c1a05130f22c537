"""Stages 3-4 of one fusion head on a curriculum level, over cached ViT features, for CPU
runs (docs/training.md, "Curriculum runs").

Why a second driver beside train_stages.py: on two CPU cores a step of the full task (tables
of 2-8 rows, ~640 positions for head d) costs ~4 s at batch 8, of which the frozen ViT is
~20 %; the notes say grounding needs thousands of optimizer steps. This driver
  - renders its tables in memory with tools.tablegen (a level = ranges of body rows and
    columns; the same styles, fonts and tiling as the full task and the runtime),
  - runs the frozen ViT once per image and keeps the pixel-shuffled features (f16),
  - trains one head (d, x or h) per process, so that the three heads run side by side with
    the same data order, steps, batch and seed,
  - logs the teacher-forced answer-byte accuracy on a fixed validation batch with the loss,
    and ends with a greedy evaluation (cell accuracy, TEDS) on generated test and
    style-held-out tables of the same level.

  /usr/bin/python3 tools/train/curriculum.py train --head d --init assets/models/nvlm-tables \\
      --lm LM_BASE.safetensors --rows 1 3 --cols 2 3 --train-count 3000 --steps3 150 \\
      --steps4 1500 --out RUN
  /usr/bin/python3 tools/train/curriculum.py assemble RUN [--heads d,x,h] \\
      [--trained TEXT --warning TEXT]   # fusion.safetensors + summary.json (model card)
  /usr/bin/python3 tools/train/curriculum.py marks RUN/log_d.jsonl ...   # trajectory table
  /usr/bin/python3 tools/train/export.py RUN assets/models/nvlm-tables

--init MODEL takes the ViT and config (and, with --keep-head, the head's fusion weights and
LM) from a model directory; --from-run RUN continues the head from an earlier level's run;
--lm replaces the head's LM (the stage-2 LM for a fresh start). Outputs in
RUN: fusion_<head>.safetensors, lm_<head>.safetensors, vit.safetensors, log_<head>.jsonl,
result_<head>.json (metrics and predictions).
"""
import argparse
import json
import multiprocessing
import os
import random
import sys
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
import st_io  # noqa: E402
import table_metrics  # noqa: E402
import tiling  # noqa: E402
import train_stages as TS  # noqa: E402
from pretrain_vit import char_classes  # noqa: E402
from tools.tablegen import gen  # noqa: E402

HEADS = ("d", "x", "h")


class FeatureRunner(NT.Runner):
    """A Runner whose batches carry pixel-shuffled ViT features [n, T, 4C] in place of
    uint8 tiles: the ViT is frozen, so it runs once per image, not once per step.

    point_weight > 0 (--point): the loss adds point_weight times pointing_loss of the first
    attention head of decoder layer point_layer (image tokens in the stream: d, and h's
    last tile) and of cross-attention block 0 (tiles in the memory: x, and h's others)."""
    point_weight, point_layer = 0.0, -1

    def encode(self, head, features):
        return NT.projector(self.w, NT.PROJ[head], features.to(self.device).float())

    def pointing(self, head, batch):
        """(logits, pointing loss, mean mass) of a batch with "point" targets: the pointing
        heads' attention (see the class) against point_rows."""
        probe = {"layer": self.point_layer, "self": [], "xattn": 0, "cross": []}
        logits = self.logits(head, batch, probe=probe)
        rows = point_rows(batch, head, self.cfg.imgc, self.cfg.tokens_per_tile,
                          {k: len(v) for k, v in self.tag_ids.items()})
        return (logits,) + pointing_loss(probe, rows)

    def loss(self, head, batch):
        if not self.point_weight or not any(batch.get("point") or []):
            return super().loss(head, batch)
        logits, point_loss, _ = self.pointing(head, batch)
        labels = batch["labels"].to(self.device)
        text = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                               labels.reshape(-1), ignore_index=-100)
        return text + self.point_weight * point_loss


def point_rows(batch, head, imgc, per_tile, tag_len):
    """Where each transcribed glyph is, as the head sees it: {"self": [(sample, position,
    [key positions in the sequence])], "cross": [(sample, position, [memory indices])]}.
    position predicts the glyph's byte; batch["point"] holds render_one's image-token
    targets per answer byte (None: no targets). D has every tile in the stream, X every
    tile in the memory; H has its last tile (the thumbnail, or its only tile) in the
    stream and tiles 1..n-1 in the memory, each after its tag (nvlm_train.head_forward)."""
    ids, labels = batch["ids"], batch["labels"]
    rows = {"self": [], "cross": []}
    for b, point in enumerate(batch["point"]):
        if not point:
            continue
        n = int(batch["n_tiles"][b])
        image_at = (ids[b] == imgc).nonzero().flatten().tolist()
        first = int((labels[b] != -100).nonzero()[0])  # predicts the answer's first byte
        for i, tokens in enumerate(point):
            keys = {"self": [], "cross": []}
            for t in tokens:
                tile, j = divmod(t, per_tile)
                if head == "d":
                    keys["self"].append(image_at[t])
                elif head == "x":
                    keys["cross"].append(t)
                elif tile == n - 1:
                    keys["self"].append(image_at[j])
                else:
                    tags = sum(tag_len[m] for m in range(1, tile + 2))
                    keys["cross"].append(tags + tile * per_tile + j)
            for kind in rows:
                if keys[kind]:
                    rows[kind].append((b, first + i, keys[kind]))
    return rows


def pointing_loss(probe, rows):
    """(loss, mean mass): -log of the attention mass that the position predicting each
    transcribed glyph's byte puts on the image tokens holding that glyph, averaged over
    those positions, for the first head of each probed attention (probe["self"] /
    probe["cross"], [B,heads,N,keys]; rows from point_rows). Why: the notes' read-out
    needed thousands of steps before its decoder learned where in the image each character
    is; the generator knows, so the attention can be told (a training signal only: the
    runtime and the model format do not change)."""
    masses = []
    for kind in ("self", "cross"):
        if not rows[kind]:
            continue
        probs = probe[kind][0][:, 0]
        mask = torch.zeros(len(rows[kind]), probs.shape[-1], dtype=torch.bool)
        for r, (_, _, keys) in enumerate(rows[kind]):
            mask[r, keys] = True
        b_at = torch.tensor([b for b, _, _ in rows[kind]], device=probs.device)
        q_at = torch.tensor([q for _, q, _ in rows[kind]], device=probs.device)
        masses.append((probs[b_at, q_at] * mask.to(probs.device)).sum(-1))
    mass = torch.cat(masses).float()
    return -torch.log(mass + 1e-6).mean(), float(mass.mean())


def render_one(job):
    """One generated table, tiled as the runtime tiles it: a dict of uint8 "tiles"
    [n,S,S,3], "markdown", "qa" pairs, and
      - "labels": with `oracle_slots` > 0, the per-patch truth [n,g,g,slots]
        (pretrain_vit.py's targets), else None;
      - "point": with `point`, per byte of the markdown the image tokens that hold its
        glyph (glyph_tokens), else None.
    A top-level function so that a process pool can run it."""
    split, seed, index, rows, cols, tile, max_tiles, oracle_slots, patch, point = job
    s = gen.make_sample(split, seed, index, rows=tuple(rows), cols=tuple(cols))
    image = s["image"].convert("RGB")
    tiles, tile_cols, tile_rows = tiling.tile_image(image, tile, max_tiles, True)
    out = {"tiles": tiles, "markdown": s["markdown"], "qa": s["qa"], "labels": None,
           "point": None}
    chars, boxes, _ = gen.glyph_arrays(s)
    if oracle_slots:
        labels = tiling.patch_labels(boxes.astype(np.float64), char_classes(chars), image.width,
                                     image.height, tile_cols, tile_rows, tile, patch, True,
                                     oracle_slots)
        out["labels"] = labels.reshape(labels.shape[:3] + (oracle_slots,))
    if point:
        tokens = tiling.glyph_tokens(boxes.astype(np.float64), image.width, image.height,
                                     tile_cols, tile_rows, tile, patch, True)
        out["point"] = [tokens[g] if g >= 0 else []
                        for g in markdown_glyphs(s["table"], s["markdown"], len(tokens))]
    return out


def markdown_glyphs(table, markdown, n_glyphs):
    """Per byte of the table's markdown, the index of the rendered glyph it transcribes
    (render.py draws the cells row by row and boxes their non-space characters in order),
    or -1 (pipes, spaces, separator, escapes, newlines). Raises if the walk does not
    rebuild `markdown` exactly or does not use every glyph."""
    text, owner, glyph = [], [], 0

    def put(piece, index=-1):
        data = piece.encode("utf-8")
        text.append(data)
        owner.extend([index] * len(data))

    lines = [table["header"]] + table["rows"]
    for r, line in enumerate(lines):
        if r == 1:
            put("| " + " | ".join("---" for _ in table["header"]) + " |\n")
        put("| ")
        for c, cell in enumerate(line):
            if c:
                put(" | ")
            for ch in cell:
                if ch in "\\|":
                    put("\\")
                if ch.isspace():
                    put(ch)
                else:
                    put(ch, glyph)
                    glyph += 1
        put(" |\n")
    if b"".join(text) != markdown.encode("utf-8") or glyph != n_glyphs:
        raise ValueError("markdown_glyphs: the walk does not rebuild %r (%d of %d glyphs)"
                         % (markdown, glyph, n_glyphs))
    return owner


def render_jobs(split, seed, indices, args, cfg, tile):
    """render_one's jobs for tables `indices` of a split, with the oracle labels and the
    pointing targets that args ask for."""
    slots = cfg.char_width // cfg.char_classes if args.oracle_chars else 0
    return [(split, seed, i, args.rows, args.cols, tile, args.max_tiles, slots, cfg.patch,
             args.point > 0) for i in indices]


@torch.no_grad()
def encode_rendered(rendered, vit_w, cfg, device, blank=False):
    """Pixel-shuffled features [n_i, T, 4C'] of each of render_one's tables, through the
    frozen ViT in one batch (with their oracle labels when rendered with them). blank:
    white tiles (and blank labels) of the same count."""
    tiles = torch.from_numpy(np.concatenate([one["tiles"] for one in rendered]))
    labels = None
    if rendered[0]["labels"] is not None:
        labels = torch.from_numpy(np.concatenate([one["labels"] for one in rendered]))
    if blank:
        tiles = torch.full_like(tiles, 255)
        labels = None if labels is None else torch.zeros_like(labels)
    feats = features_of(vit_w, cfg, tiles, device, labels)
    return list(feats.split([one["tiles"].shape[0] for one in rendered]))


def features_of(vit_w, cfg, tiles, device, labels=None):
    """Pixel-shuffled features of uint8 tiles. labels (--oracle-chars): the per-patch truth
    as one-hot rows in place of the character head's probabilities, a diagnostic the
    runtime cannot reproduce: it says what a head learns when stage 1 reads perfectly."""
    pixels = NT.normalise_tiles(tiles, device)
    if labels is None:
        return NT.shuffled_features(vit_w, cfg, pixels)
    hidden = NT.vit_features(vit_w, cfg, pixels)
    n, K = hidden.shape[0], cfg.char_classes
    onehot = torch.nn.functional.one_hot(labels.to(hidden.device), K).to(hidden.dtype)
    onehot = onehot.reshape(n, -1, cfg.char_width)
    onehot = torch.cat([onehot.new_zeros(n, 1, cfg.char_width), onehot], 1)
    return NT.pixel_shuffle(torch.cat([hidden, onehot], -1), cfg.grid)


def render_level(split, seed, count, args, vit_w, cfg, tile, blank=False, chunk=32):
    """[(features f16 [n,T,4C] on the CPU, markdown, qa pairs, point)] of `count` generated
    tables of args' level (point: render_one's, with --point): Pillow renders in
    --workers processes, the frozen ViT runs on --device. blank: every tile white (the
    same tile count), so that a score shows what the text prior alone gets."""
    t0 = time.time()
    jobs = render_jobs(split, seed, range(count), args, cfg, tile)
    pool = multiprocessing.Pool(args.workers) if args.workers > 1 else None
    rendered = pool.imap(render_one, jobs, chunksize=16) if pool else map(render_one, jobs)
    items, pending = [], []

    def flush():
        if not pending:
            return
        feats = encode_rendered(pending, vit_w, cfg, args.device, blank)
        for f, one in zip(feats, pending):
            items.append((f.half().cpu(), one["markdown"], one["qa"], one["point"]))
        pending.clear()

    for one in rendered:
        pending.append(one)
        if sum(one["tiles"].shape[0] for one in pending) >= chunk:
            flush()
    flush()
    if pool:
        pool.close()
    print(json.dumps({"rendered": split, "count": count, "rows": args.rows,
                      "cols": args.cols, "tiles": sum(item[0].shape[0] for item in items),
                      "wall_s": round(time.time() - t0, 1)}), flush=True)
    return items


def task_of(item, seed, j, md_rate):
    """Sample j's task, as train_stages.ImageTasks draws it."""
    feats, truth, pairs = item[:3]
    rng = random.Random("nvlm-tasks/%d/%d" % (seed, j))
    if not pairs or rng.random() < md_rate:
        return (feats, TS.TASK_MD, truth)
    pair = rng.choice(pairs)
    return (feats, pair["question"], pair["answer"])


class Batches:
    """Endless shuffled batches of one head (same order for every head with the same seed)."""

    def __init__(self, items, prompter, head, batch, seed, md_rate):
        self.items, self.prompter, self.head = items, prompter, head
        self.batch, self.md_rate = batch, md_rate
        self.gen = torch.Generator().manual_seed(seed)
        self.seed, self.drawn = seed, 0

    def __iter__(self):
        order = torch.randperm(len(self.items), generator=self.gen).tolist()
        for start in range(0, len(order) - self.batch + 1, self.batch):
            samples = []
            for i in order[start:start + self.batch]:
                samples.append(task_of(self.items[i], self.seed, self.drawn, self.md_rate))
                self.drawn += 1
            yield NT.make_batch(self.prompter, self.head, samples)


class StreamBatches:
    """Endless batches of tables never seen before: sample j of the stream is table j of
    the train split (the same stream for every head with the same seed), rendered and run
    through the frozen ViT when its batch is drawn. Costs ~15 ms of one core per table,
    and a table never repeats, so the head cannot memorise its training images. With
    `workers` > 1 a process pool renders the next `ahead` batches while the head trains."""

    def __init__(self, args, prompter, head, vit_w, cfg, tile, device, workers=0, ahead=4):
        self.args, self.prompter, self.head = args, prompter, head
        self.vit_w, self.cfg, self.tile, self.device = vit_w, cfg, tile, device
        self.pool = multiprocessing.Pool(workers) if workers > 1 else None
        self.ahead = ahead
        self.drawn = 0  # stream index of the next batch's first table

    def jobs(self, start):
        a = self.args
        return render_jobs("train", a.seed, range(start, start + a.batch), a, self.cfg,
                           self.tile)

    @torch.no_grad()
    def __iter__(self):
        a = self.args
        pending, queued = [], self.drawn
        while True:
            while self.pool is not None and len(pending) < self.ahead:
                pending.append(self.pool.map_async(render_one, self.jobs(queued)))
                queued += a.batch
            if self.pool is not None:
                rendered = pending.pop(0).get()
            else:
                rendered = [render_one(job) for job in self.jobs(self.drawn)]
            feats = encode_rendered(rendered, self.vit_w, self.cfg, self.device)
            samples, points = [], []
            for i, (f, one) in enumerate(zip(feats, rendered)):
                item = (f.half(), one["markdown"], one["qa"])
                samples.append(task_of(item, a.seed, self.drawn + i, a.md_rate))
                # Pointing targets belong to the transcription task only.
                points.append(one["point"] if samples[-1][1] == TS.TASK_MD else None)
            self.drawn += a.batch
            batch = NT.make_batch(self.prompter, self.head, samples)
            batch["point"] = points
            yield batch

    def close(self):
        if self.pool is not None:
            self.pool.terminate()


def body_cell_bytes(answer):
    """Per answer byte, then the closing <|im_end|>: 2 for the first byte of a body cell's
    text, 1 for its other bytes, 0 for the rest (pipes, padding spaces, newlines, header and
    separator). The text prior guesses a cell's first byte; a head that reads the image
    gets it right."""
    mask = []
    for index, line in enumerate(answer.encode("utf-8").split(b"\n")):
        if index:
            mask.append(0)  # the newline
        line_mask = [0] * len(line)
        if index >= 2:
            start = 0
            for cell in line.split(b"|"):
                left = len(cell) - len(cell.lstrip(b" "))
                for k in range(start + left, start + len(cell.rstrip(b" "))):
                    line_mask[k] = 2 if k == start + left else 1
                start += len(cell) + 1
        mask += line_mask
    return mask + [0]


@torch.no_grad()
def answer_accuracy(runner, head, batch, answers):
    """Teacher-forced share of answer positions whose argmax is the truth, given the batch's
    Markdown answers: (all, body-cell bytes, first bytes of body cells)."""
    logits = runner.logits(head, batch)
    labels = batch["labels"]
    on = labels != -100
    right = logits.argmax(-1).cpu() == labels
    overall = float(right[on].float().mean())
    kind = torch.zeros_like(labels)
    for b, answer in enumerate(answers):
        positions = on[b].nonzero().flatten()
        mask = body_cell_bytes(answer)
        if len(mask) == len(positions):  # else not a byte-per-id answer: left out
            kind[b, positions] = torch.tensor(mask)

    def share(where):
        return float(right[where].float().mean()) if where.any() else float("nan")
    return overall, share(kind >= 1), share(kind == 2)


def greedy_eval(runner, head, items, batch, max_new):
    preds = []
    for start in range(0, len(items), batch):
        chunk = [(f, TS.TASK_MD, "") for f, *_ in items[start:start + batch]]
        for ids in runner.greedy(head, chunk, max_new):
            preds.append(runner.decode(ids))
    return table_metrics.summarise(preds, [item[1] for item in items]), preds


def head_weights(model_w, head):
    """The head's fusion tensors and its LM (override or shared), LM under the shared names."""
    proj = NT.PROJ[head]
    fusion = {k: v for k, v in model_w.items()
              if k.startswith(proj + ".") or k.startswith(head + "_xattn.")}
    lm = {k: v for k, v in model_w.items() if k.startswith("language_model.")}
    if head != "d":
        over = {k[len(head) + 1:]: v for k, v in model_w.items()
                if k.startswith(head + "_language_model.")}
        lm.update(over)
    return fusion, lm


def cmd_train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    head = args.head
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.init, "config.json")) as f:
        raw = json.load(f)
    raw["max_dynamic_patch"] = args.max_tiles
    if args.oracle_chars and not args.char_head:
        raise SystemExit("curriculum: --oracle-chars replaces the probabilities of a "
                         "--char-head: give one")
    if args.point and not args.stream:
        raise SystemExit("curriculum: --point needs --stream")
    char_head = load_char_head(args.char_head) if args.char_head else {}
    if char_head:
        if args.keep_head and not args.from_run and "nvlm_char_probs" not in raw:
            raise SystemExit("curriculum: --char-head widens the projector: %s's heads do "
                             "not fit it (drop --keep-head)" % args.init)
        raw["nvlm_char_probs"] = char_head.pop("config")
    cfg = NT.Cfg(raw)
    tile = raw["force_image_size"]
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model_w = {k: v.float().to(device) for k, v in st_io.read_file(
        os.path.join(args.init, "model.safetensors")).items()}
    if args.vit:  # a ViT continued in stage 1 (pretrain_vit.py --init-vit) replaces --init's
        new_vit = st_io.read_file(args.vit)
        if set(new_vit) != {k for k in model_w if k.startswith("vision_model.")}:
            raise SystemExit("curriculum: %s does not hold the tensors of %s's ViT"
                             % (args.vit, args.init))
        model_w.update({k: v.float().to(device) for k, v in new_vit.items()})
    model_w.update({k: v.float().to(device) for k, v in char_head.items()})
    vit_w = {k: v for k, v in model_w.items() if k.startswith("vision_model.")}
    fusion, lm = head_weights(model_w, head)
    if not args.keep_head:
        width = args.proj_width_d if head == "d" else args.proj_width
        fusion = NT.init_head(cfg, head, width, torch.Generator().manual_seed(args.seed),
                              args.gate)
    if args.from_run:
        fusion = st_io.read_file(os.path.join(args.from_run, "fusion_%s.safetensors" % head))
        lm = st_io.read_file(os.path.join(args.from_run, "lm_%s.safetensors" % head))
    if args.lm:
        lm = st_io.read_file(args.lm)
    fusion = {k: v.float().to(device) for k, v in fusion.items()}
    lm = {k: v.float().to(device) for k, v in lm.items()}
    log = open(os.path.join(args.out, "log_%s.jsonl" % head), "a")
    tok = NT.write_tokenizer(os.path.join(args.out, "tokenizer"))
    runner = FeatureRunner(raw, tok, {}, device)
    runner.point_weight = args.point
    runner.point_layer = args.point_layer % cfg.layers
    TS.log_line(log, {"head": head, "args": vars(args),
                      "fusion_params": sum(v.numel() for v in fusion.values())})
    sets = load_or_render(args, vit_w, cfg, tile)
    if args.render_only:
        return 0
    train_items, val_items = sets["train"], sets["val"]
    val_tasks = [task_of(it, args.seed + 7, j, 1.0) for j, it in enumerate(val_items)]
    val_batch = NT.make_batch(runner.prompter, head, val_tasks)
    val_answers = [answer for _, _, answer in val_tasks]
    val_batch["point"] = [item[3] if len(item) > 3 else None for item in val_items]
    runner.w = {**fusion, **lm}
    result = {"head": head, "fusion_params": sum(v.numel() for v in fusion.values())}

    def on_log(step):
        overall, body, first = answer_accuracy(runner, head, val_batch, val_answers)
        rec = {"val_answer_acc": round(overall, 4), "val_body_acc": round(body, 4),
               "val_first_acc": round(first, 4)}
        if args.point:
            with torch.no_grad():
                rec["val_point_mass"] = round(runner.pointing(head, val_batch)[2], 4)
        return rec

    result.update({k + "_start": v for k, v in on_log(0).items()})
    stream = StreamBatches(args, runner.prompter, head, vit_w, cfg, tile, device,
                           args.workers if args.stream else 0)
    for stage, steps, lr in (("align", args.steps3, args.lr3), ("finetune", args.steps4, args.lr4)):
        if steps <= 0:
            continue
        torch.manual_seed(args.seed)
        params = list(fusion.values())
        scale = None
        if stage == "finetune":
            params += list(lm.values())
            scale = {id(v): args.lm_lr_scale for v in lm.values()}
        for v in params:
            v.requires_grad_(True)
        batches = stream if args.stream else Batches(train_items, runner.prompter, head,
                                                     args.batch, args.seed, args.md_rate)
        done, samples, wall = TS.train(runner, head, params, batches, steps, lr, log, stage,
                                       args.max_minutes * 60, scale, on_log, args.log_every,
                                       args.stop4 if stage == "finetune" else 0)
        for v in params:
            v.requires_grad_(False)
        result[stage] = {"steps": done, "planned_steps": steps, "samples": samples,
                         "wall_s": round(wall, 1)}
        save(args.out, head, fusion, lm, vit_w)
    stream.close()
    result.update({k + "_end": v for k, v in on_log(0).items()})
    runner.w = TS.rounded({**fusion, **lm})
    for split in args.eval_splits:
        items = sets[split]
        if not items:  # --eval-count 0: the weights are scored elsewhere (nvlm eval)
            continue
        t0 = time.time()
        metrics, preds = greedy_eval(runner, head, items, args.eval_batch, args.max_new)
        metrics["wall_s"] = round(time.time() - t0, 1)
        result["eval_" + split] = metrics
        result["preds_" + split] = preds[:8]
        TS.log_line(log, {"eval": split, "head": head, **metrics, "first_pred": preds[0]})
    result["config"] = raw
    with open(os.path.join(args.out, "result_%s.json" % head), "w") as f:
        json.dump(result, f, indent=1)
    return 0


def load_char_head(directory):
    """pretrain_vit.py's per-patch character head (char_head.safetensors + config.json of its
    output folder) under the model's names (vision_model.char_head.*), and under "config"
    the model config's nvlm_char_probs (docs/model-format.md section 5.1)."""
    with open(os.path.join(directory, "config.json")) as f:
        classes = len(json.load(f)["nvlm_char_classes"]) + 1  # + blank
    w = st_io.read_file(os.path.join(directory, "char_head.safetensors"))
    head = {"vision_model." + k: v for k, v in w.items()}
    outputs = head["vision_model.char_head.proj.weight"].shape[0]
    if outputs % classes:
        raise SystemExit("curriculum: %s: %d outputs are not slots of %d classes"
                         % (directory, outputs, classes))
    head["config"] = {"classes": classes, "slots": outputs // classes, "layer_norm_eps": 1e-5}
    return head


def load_or_render(args, vit_w, cfg, tile):
    """The level's train / val / eval sets as features: from --cache when it exists (the
    three heads' processes share one rendering), else rendered (and written to --cache)."""
    key = (tuple(args.rows), tuple(args.cols), args.seed, args.eval_seed, args.max_tiles,
           args.vit, args.char_head, args.blank, args.oracle_chars, args.point > 0)
    if args.cache and os.path.exists(args.cache):
        sets = torch.load(args.cache)
        if sets.get("key") != key:
            raise SystemExit("curriculum: %s holds another level %r (asked %r)"
                             % (args.cache, sets.get("key"), key))
        return sets
    sets = {"key": key}
    for split, seed, count in (("train", args.seed, args.train_count),
                               ("val", args.seed, args.val_count)) + tuple(
                                   (split, args.eval_seed, args.eval_count)
                                   for split in args.eval_splits):
        sets[split] = render_level(split, seed, count, args, vit_w, cfg, tile,
                                   blank=args.blank and split != "train")
    if args.cache:
        torch.save(sets, args.cache + ".tmp")
        os.replace(args.cache + ".tmp", args.cache)
    return sets


def save(out, head, fusion, lm, vit_w):
    TS.write_part(out, "fusion_%s.safetensors" % head, fusion, "curriculum")
    TS.write_part(out, "lm_%s.safetensors" % head, lm, "curriculum")
    if not os.path.exists(os.path.join(out, "vit.safetensors")):
        TS.write_part(out, "vit.safetensors", vit_w, "curriculum")


def cmd_assemble(args):
    """fusion.safetensors of the heads and summary.json (config) for export.py. --heads
    gives a model of fewer heads (nvlm_heads and the default head follow it); --trained and
    --warning replace the model card that the config inherited from --init."""
    heads = args.heads.split(",")
    if not heads or any(h not in HEADS for h in heads) or len(set(heads)) != len(heads):
        raise SystemExit("assemble: --heads wants distinct names of d, x, h, got %r" % args.heads)
    fusion, summary = {}, {}
    for head in heads:
        fusion.update(st_io.read_file(os.path.join(args.run, "fusion_%s.safetensors" % head)))
        with open(os.path.join(args.run, "result_%s.json" % head)) as f:
            result = json.load(f)
        summary["config"] = result.pop("config")
        summary[head] = {k: v for k, v in result.items() if not k.startswith("preds_")}
    config = summary["config"]
    config["nvlm_heads"] = {h: config["nvlm_heads"][h] for h in heads}
    if config.get("nvlm_default_head") not in heads:
        config["nvlm_default_head"] = heads[0]
    card = config.setdefault("nvlm_model_card", {})
    for key in ("trained", "warning"):
        if getattr(args, key):
            card[key] = getattr(args, key)
    TS.write_part(args.run, "fusion.safetensors", fusion, "curriculum")
    with open(os.path.join(args.run, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({h: summary[h] for h in heads}, indent=1))
    return 0


def log_marks(records, marks, window):
    """{mark: (first byte, body bytes, pointing mass)} of stage 4's log lines: the mean of
    the lines within `window` steps of each mark, so that one noisy validation does not
    make the row (docs/training.md's trajectory tables). Marks with no line that near are
    left out; a run without --point has mass None."""
    lines = [r for r in records if r.get("stage") == "finetune" and "val_first_acc" in r]
    out = {}
    for mark in marks:
        near = [r for r in lines if abs(r["step"] - mark) <= window]
        if not near:
            continue
        mean = lambda key: sum(r[key] for r in near) / len(near)  # noqa: E731
        mass = mean("val_point_mass") if all("val_point_mass" in r for r in near) else None
        out[mark] = (mean("val_first_acc"), mean("val_body_acc"), mass)
    return out


def cmd_marks(args):
    marks = [int(m) for m in args.marks.split(",")]
    print("| log | " + " | ".join(str(m) for m in marks) + " |")
    print("| --- |" + " --- |" * len(marks))
    for path in args.logs:
        with open(path) as f:
            got = log_marks([json.loads(line) for line in f if line.strip()], marks,
                            args.window)
        cells = []
        for m in marks:
            if m not in got:
                cells.append("")
                continue
            first, body, mass = got[m]
            cells.append("%.2f / %.2f" % (first, body) + ("" if mass is None else " (%.2f)" % mass))
        print("| %s | %s |" % (path, " | ".join(cells)))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("train", help="stages 3-4 of one head on one curriculum level")
    s.add_argument("--head", required=True, choices=HEADS)
    s.add_argument("--init", required=True, help="model directory (ViT, config, and the head "
                   "with --keep-head)")
    s.add_argument("--lm", help="LM safetensors (language_model.* names) to start the head from")
    s.add_argument("--vit", help="ViT safetensors (vision_model.* names, the sizes of --init's) "
                   "to use instead of --init's")
    s.add_argument("--char-head", metavar="DIR",
                   help="give the projector stage 1's per-patch character probabilities too "
                   "(config nvlm_char_probs): DIR/char_head.safetensors of a pretrain_vit.py "
                   "run (use with --vit DIR/model.safetensors); fresh heads need it, a run "
                   "continued with --from-run needs it again")
    s.add_argument("--keep-head", action="store_true",
                   help="continue from --init's fusion weights (default: fresh, gates --gate)")
    s.add_argument("--out", required=True)
    s.add_argument("--rows", type=int, nargs=2, default=[1, 3], help="body rows, inclusive")
    s.add_argument("--cols", type=int, nargs=2, default=[2, 3], help="columns, inclusive")
    s.add_argument("--max-tiles", type=int, default=4)
    s.add_argument("--cache", help="file of the rendered features, shared by the heads' runs")
    s.add_argument("--render-only", action="store_true", help="fill --cache and stop")
    s.add_argument("--blank", action="store_true",
                   help="validation and evaluation tables as white tiles (the text prior's "
                   "score; with --steps3 0 --steps4 0 to score a head)")
    s.add_argument("--oracle-chars", action="store_true",
                   help="diagnostic (needs --char-head): the per-patch truth labels, one-hot, "
                   "in place of the character head's probabilities, in training and "
                   "evaluation; what a head learns when stage 1 reads perfectly")
    s.add_argument("--point", type=float, default=0.0, metavar="WEIGHT",
                   help="with --stream: add WEIGHT x the pointing loss (one attention head "
                   "of --point-layer and one of the first cross-attention block told which "
                   "image tokens hold the glyph of each transcribed byte; pointing_loss); "
                   "logs val_point_mass")
    s.add_argument("--point-layer", type=int, default=-1,
                   help="decoder layer of the pointing head (default: the last)")
    s.add_argument("--stream", action="store_true",
                   help="train on fresh tables (rendered as drawn) instead of the cached "
                        "--train-count ones")
    s.add_argument("--train-count", type=int, default=3000)
    s.add_argument("--val-count", type=int, default=16)
    s.add_argument("--eval-count", type=int, default=32)
    s.add_argument("--eval-seed", type=int, default=1)
    s.add_argument("--eval-splits", nargs="*", default=["test", "heldout"])
    s.add_argument("--eval-batch", type=int, default=32)
    s.add_argument("--max-new", type=int, default=200)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast in training)")
    s.add_argument("--workers", type=int, default=0, help="processes rendering tables")
    s.add_argument("--from-run", help="continue the head from a curriculum run's "
                   "fusion_<head> / lm_<head> (the next level)")
    s.add_argument("--batch", type=int, default=8)
    s.add_argument("--md-rate", type=float, default=0.7)
    s.add_argument("--steps3", type=int, default=150)
    s.add_argument("--steps4", type=int, default=1500)
    s.add_argument("--lr3", type=float, default=1e-3)
    s.add_argument("--lr4", type=float, default=5e-4)
    s.add_argument("--lm-lr-scale", type=float, default=0.5)
    s.add_argument("--gate", type=float, default=0.1, help="initial xattn gates (x, h)")
    s.add_argument("--proj-width", type=int, default=512)
    s.add_argument("--proj-width-d", type=int, default=1408)
    s.add_argument("--stop4", type=int, default=0, metavar="STEPS",
                   help="end stage 4 after STEPS steps, the learning rate still on the "
                        "schedule of --steps4: gives another head exactly the steps of a run "
                        "that --max-minutes cut")
    s.add_argument("--max-minutes", type=float, default=0, help="per stage; 0 = no bound")
    s.add_argument("--log-every", type=int, default=50)
    s = sub.add_parser("assemble", help="join the heads' parts of a run for export.py")
    s.add_argument("run", help="a run directory with fusion_, lm_ and result_<head> of each head "
                   "(symbolic links to other runs' files will do) and vit.safetensors")
    s.add_argument("--heads", default="d,x,h", help="comma-separated heads to put in the model")
    s.add_argument("--trained", help="model card: how the model was trained")
    s.add_argument("--warning", help="model card: what it cannot do")
    s = sub.add_parser("marks", help="first byte / body bytes (pointing mass) of stage 4's "
                       "validation at step marks, from log_<head>.jsonl files")
    s.add_argument("logs", nargs="+")
    s.add_argument("--marks", default="250,500,750,1000,1250,1500,1750")
    s.add_argument("--window", type=int, default=50, help="mean of the lines this near a mark")
    args = p.parse_args(argv)
    return {"train": cmd_train, "assemble": cmd_assemble, "marks": cmd_marks}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
