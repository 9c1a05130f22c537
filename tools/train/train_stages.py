"""Stages 2-4 of the bundled model's training (docs/training.md), on the batched model of
nvlm_train.py:

  lm      stage 2: the decoder LM alone on table text (Markdown tables, questions with the
          table in the context, answers), prompts as the runtime builds them without image.
  fusion  stages 3 and 4 for heads d, x and h over a frozen stage-1 ViT and the stage-2 LM:
          3 = only the head's fusion module trains (D: mlp1; X: x_mlp1 + gated
          cross-attention; H: h_mlp1 + gated cross-attention), 4 = the fusion module and the
          head's own copy of the LM train together. Same data order, steps, batch and seed
          for the three heads. Then greedy evaluation (f16-rounded weights, f32 maths) on the
          test and style-held-out images, and the parts of the model written to --out.

Examples (repository root, Debian python on CPU; see docs/training.md for the real runs):
  /usr/bin/python3 tools/train/train_stages.py lm --out /tmp/lm --steps 20 --batch 4
  /usr/bin/python3 tools/train/train_stages.py fusion --vit VITDIR --lm /tmp/lm/lm.safetensors \
      --data DIR --eval-data TESTDIR,HELDOUTDIR --out /tmp/fusion --steps3 5 --steps4 5
"""
import argparse
import contextlib
import functools
import json
import math
import os
import random
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))

import nvlm_train as NT  # noqa: E402
import st_io  # noqa: E402
import table_metrics  # noqa: E402
import tiling  # noqa: E402
from tools.tablegen import content, markdown, qa  # noqa: E402

TASK_MD = "Convert the table to Markdown."
HEADS = ("d", "x", "h")


def log_line(log, record):
    print(json.dumps(record), flush=True)
    if log is not None:
        log.write(json.dumps(record) + "\n")
        log.flush()


def cosine(step, total, warmup, peak):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


# ---------------------------------------------------------------- data

def text_sample(seed, index, md_rate=0.5):
    """Stage-2 sample (no image): the Markdown task's prior, or a QA pair with the table."""
    rng = random.Random("nvlm-lmtext/%d/%d" % (seed, index))
    table = content.make_table(rng, rng.randint(2, 8), rng.randint(2, 5),
                               rng.choice((0.0, 0.0, 0.05, 0.15)))
    md = markdown.to_markdown(table["header"], table["rows"])
    if rng.random() < md_rate:
        return (None, TASK_MD, md)
    pair = rng.choice(qa.make_qa(rng, table, 6))
    return (None, md + "\n" + pair["question"], pair["answer"])


class TextTasks(torch.utils.data.Dataset):
    def __init__(self, seed, length):
        self.seed, self.length = seed, length

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        return text_sample(self.seed, i)


def load_table_folder(folder):
    """[(image path, markdown truth, [qa pairs])] of a tools.tablegen output folder."""
    qa_of = {}
    with open(os.path.join(folder, "qa.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            qa_of.setdefault(row["id"], []).append(row)
    items = []
    with open(os.path.join(folder, "tables.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            with open(os.path.join(folder, row["truth"])) as t:
                truth = t.read()
            items.append((os.path.join(folder, row["image"]), truth, qa_of.get(row["id"], [])))
    return items


def image_tiles(path, tile_size, max_tiles):
    image = Image.open(path).convert("RGB")
    tiles, _, _ = tiling.tile_image(image, tile_size, max_tiles, True)
    return torch.from_numpy(np.ascontiguousarray(tiles))


class ImageTasks(torch.utils.data.Dataset):
    """Item j: image j mod n, task drawn from Random(seed/j): the Markdown transcription
    (probability md_rate) or one of the image's QA pairs."""

    def __init__(self, items, tile_size, max_tiles, seed, repeats, md_rate=0.6):
        self.items, self.tile_size, self.max_tiles = items, tile_size, max_tiles
        self.seed, self.repeats, self.md_rate = seed, repeats, md_rate

    def __len__(self):
        return len(self.items) * self.repeats

    def __getitem__(self, j):
        path, truth, pairs = self.items[j % len(self.items)]
        rng = random.Random("nvlm-tasks/%d/%d" % (self.seed, j))
        tiles = image_tiles(path, self.tile_size, self.max_tiles)
        if not pairs or rng.random() < self.md_rate:
            return (tiles, TASK_MD, truth)
        pair = rng.choice(pairs)
        return (tiles, pair["question"], pair["answer"])


def collate(prompter, head, samples):
    return NT.make_batch(prompter, head, samples)


def make_loader(dataset, prompter, head, batch, seed, workers):
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
        collate_fn=functools.partial(collate, prompter, head),
        generator=torch.Generator().manual_seed(seed), persistent_workers=False)


# ---------------------------------------------------------------- training loop

def train(runner, head, params, loader, steps, lr, log, tag, max_seconds=0, lr_scale=None,
          on_log=None, log_every=0, stop_at=0, cpu_bf16=False):
    """AdamW (betas 0.9/0.95, weight decay 0.01 on matrices), warm-up 5 % then cosine,
    gradient clipping 1.0, bf16 autocast on CUDA (and on the CPU with cpu_bf16: the
    forward pass in bf16 over f32 master weights). lr_scale: {id(param): factor}.
    on_log(step) -> dict of extra fields for each log line (e.g. a validation score);
    log_every: steps between log lines (default steps / 20). stop_at: end after this many
    steps with the schedule still that of `steps` (so another run can stop exactly where a
    time-bounded one did)."""
    groups = []
    for decay in (True, False):
        for scale in sorted(set((lr_scale or {}).values()) | {1.0}):
            ps = [p for p in params if (p.ndim >= 2) == decay
                  and (lr_scale or {}).get(id(p), 1.0) == scale]
            if ps:
                groups.append({"params": ps, "weight_decay": 0.01 if decay else 0.0, "scale": scale})
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))
    cuda = runner.device.type == "cuda"
    warmup = max(1, steps // 20)
    t0 = time.time()
    step, samples, window = 0, 0, []
    while step < steps:
        for batch in loader:
            cur = cosine(step, steps, warmup, lr)
            for g in opt.param_groups:
                g["lr"] = cur * g["scale"]
            amp = (torch.autocast(runner.device.type, dtype=torch.bfloat16)
                   if cuda or cpu_bf16 else contextlib.nullcontext())
            with amp:
                loss = runner.loss(head, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            samples += batch["ids"].shape[0]
            window.append(float(loss))
            if step % (log_every or max(1, steps // 20)) == 0 or step == steps:
                rec = {"stage": tag, "head": head, "step": step, "loss": sum(window) / len(window),
                       "lr": cur, "samples": samples, "wall_s": round(time.time() - t0, 1)}
                if on_log is not None:
                    rec.update(on_log(step))
                gates = {k: round(float(torch.tanh(v)), 4) for k, v in runner.w.items()
                         if k.startswith(head + "_xattn") and k.endswith("_gate")}
                if gates:
                    rec["tanh_gates"] = gates
                log_line(log, rec)
                window = []
            cut = stop_at and step >= stop_at
            if step >= steps or cut or (max_seconds and time.time() - t0 > max_seconds):
                if step < steps:
                    log_line(log, {"stage": tag, "head": head, "stopped_at": step,
                                   "reason": "stop_at" if cut else "max_seconds"})
                return step, samples, time.time() - t0
    return step, samples, time.time() - t0


# ---------------------------------------------------------------- evaluation

def evaluate(runner, head, items, tile_size, max_tiles, batch, max_new):
    """Greedy Markdown transcription of each image; metrics of table_metrics."""
    preds = []
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        samples = [(image_tiles(p, tile_size, max_tiles), TASK_MD, "") for p, _, _ in chunk]
        for ids in runner.greedy(head, samples, max_new):
            preds.append(runner.decode(ids))
    return table_metrics.summarise(preds, [t for _, t, _ in items]), preds


def rounded(w, dtype=torch.float16):
    """The weights as shipped (f16), back in f32: what the runtime computes with."""
    return {k: v.detach().to(dtype).float() for k, v in w.items()}


# ---------------------------------------------------------------- stages

def stage_lm(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    os.makedirs(args.out, exist_ok=True)
    tok = NT.write_tokenizer(args.out)
    lm_dims = dict(hidden=args.hidden, intermediate=args.intermediate, layers=args.layers,
                   heads=args.heads, kv_heads=args.kv_heads)
    raw = NT.make_config({"hidden_size": 8, "num_attention_heads": 1, "num_hidden_layers": 1,
                          "patch_size": 14, "image_size": 224}, lm_dims, {"d": {}}, 4, 224)
    cfg = NT.Cfg(raw)
    if args.init:
        w = {k: v.float() for k, v in st_io.read_file(args.init).items()}
    else:
        w = NT.init_lm(cfg, torch.Generator().manual_seed(args.seed))
    w = {k: v.to(device).requires_grad_(True) for k, v in w.items()}
    runner = NT.Runner(raw, tok, w, device)
    loader = make_loader(TextTasks(args.seed, 10 ** 7), runner.prompter, "d", args.batch,
                         args.seed, args.workers)
    log = open(os.path.join(args.out, "lm_log.jsonl"), "a")
    t0 = time.time()
    steps, samples, wall = train(runner, "d", list(w.values()), loader, args.steps, args.lr, log,
                                 "lm", args.max_minutes * 60)
    st_io.write_file(os.path.join(args.out, "lm.safetensors"),
                     {k: v.detach().float().cpu().contiguous() for k, v in w.items()})
    with open(os.path.join(args.out, "lm_dims.json"), "w") as f:
        json.dump(lm_dims, f)
    # A look at what it writes for the Markdown task from the prior alone.
    runner.w = {k: v.detach() for k, v in w.items()}
    sample = runner.decode(runner.greedy("d", [(None, TASK_MD, "")], 200)[0])
    log_line(log, {"stage": "lm", "done": True, "steps": steps, "samples": samples,
                   "train_wall_s": round(wall, 1), "total_wall_s": round(time.time() - t0, 1),
                   "greedy_markdown_prior": sample})
    return 0


def stage_fusion(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "log.jsonl"), "a")
    t_all = time.time()
    with open(os.path.join(args.vit, "config.json")) as f:
        vit_raw = json.load(f)
    with open(os.path.join(os.path.dirname(args.lm), "lm_dims.json")) as f:
        lm_dims = json.load(f)
    tile = vit_raw["force_image_size"]
    heads_cfg = {"d": {}, "x": {"xattn_layers": args.xattn_layers},
                 "h": {"xattn_layers": args.xattn_layers}}
    raw = NT.make_config(vit_raw["vision_config"], lm_dims, heads_cfg, args.max_tiles, tile)
    cfg = NT.Cfg(raw)
    tok = NT.write_tokenizer(tempfile.mkdtemp(prefix="nvlm_tok_"))
    vit_w = {k: v.float().to(device) for k, v in st_io.read_file(
        os.path.join(args.vit, "model.safetensors")).items()}
    lm_w = {k: v.float().to(device) for k, v in st_io.read_file(args.lm).items()}
    gen = torch.Generator().manual_seed(args.seed)
    fusion = {}
    for head in HEADS:
        width = args.proj_width_d if head == "d" else args.proj_width
        fusion[head] = {k: v.to(device) for k, v in NT.init_head(cfg, head, width, gen).items()}
    counts = {h: sum(v.numel() for v in fusion[h].values()) for h in HEADS}
    items = []
    for folder in args.data.split(","):
        items += load_table_folder(folder)
    dataset = ImageTasks(items, tile, args.max_tiles, args.seed, repeats=1000)
    log_line(log, {"config": raw, "train_images": len(items), "fusion_params": counts,
                   "vit_params": sum(v.numel() for v in vit_w.values()),
                   "lm_params": sum(v.numel() for v in lm_w.values()), "args": vars(args)})
    runner = NT.Runner(raw, tok, {}, device)
    write_part(args.out, "lm_base.safetensors", lm_w, "lm")

    def weights_for(head, lm):
        return {**vit_w, **lm, **fusion[head]}

    lm_of = {h: lm_w for h in HEADS}
    summary = {"params": counts}
    if args.seconds3 or args.seconds4:
        # One step count for all three heads, from head d's speed (the costliest per sample).
        runner.w = weights_for("d", lm_w)
        loader = make_loader(dataset, runner.prompter, "d", args.batch, args.seed + 99, args.workers)
        for v in fusion["d"].values():
            v.requires_grad_(True)
        t3 = calibrate(runner, "d", list(fusion["d"].values()), loader)
        for v in lm_w.values():
            v.requires_grad_(True)
        t4 = calibrate(runner, "d", list(fusion["d"].values()) + list(lm_w.values()), loader)
        for v in list(lm_w.values()) + list(fusion["d"].values()):
            v.requires_grad_(False)
        if args.seconds3:
            args.steps3 = max(1, int(args.seconds3 / t3))
        if args.seconds4:
            args.steps4 = max(1, int(args.seconds4 / t4))
        summary["calibration"] = {"s_per_step_align": t3, "s_per_step_finetune": t4,
                                  "steps3": args.steps3, "steps4": args.steps4}
        log_line(log, summary["calibration"])
    for stage, steps, lr in (("align", args.steps3, args.lr3), ("finetune", args.steps4, args.lr4)):
        if steps <= 0:
            continue
        for head in HEADS:
            torch.manual_seed(args.seed)
            for v in fusion[head].values():
                v.requires_grad_(True)
            params = list(fusion[head].values())
            scale = None
            if stage == "finetune":
                lm_of[head] = {k: v.detach().clone().requires_grad_(True) for k, v in lm_w.items()}
                params += list(lm_of[head].values())
                scale = {id(v): args.lm_lr_scale for v in lm_of[head].values()}
            runner.w = weights_for(head, lm_of[head])
            loader = make_loader(dataset, runner.prompter, head, args.batch, args.seed, args.workers)
            done, samples, wall = train(runner, head, params, loader, steps, lr, log, stage,
                                        args.max_seconds_per_head, scale)
            for v in params:
                v.requires_grad_(False)
            summary["%s_%s" % (stage, head)] = {"steps": done, "samples": samples,
                                                "wall_s": round(wall, 1)}
        save_parts(args.out, fusion, lm_of, stage)
        log_line(log, {"saved": stage, "wall_s": round(time.time() - t_all, 1)})
    eval_sets = [f for f in (args.eval_data or "").split(",") if f]
    for folder in eval_sets:
        items_e = load_table_folder(folder)[:args.eval_count]
        name = os.path.basename(folder.rstrip("/"))
        for head in HEADS:
            runner.w = rounded(weights_for(head, lm_of[head]))
            t0 = time.time()
            metrics, preds = evaluate(runner, head, items_e, tile, args.max_tiles, args.eval_batch,
                                      args.max_new)
            metrics["wall_s"] = round(time.time() - t0, 1)
            summary["eval_%s_%s" % (name, head)] = metrics
            log_line(log, {"eval": name, "head": head, **metrics, "first_pred": preds[0]})
    summary["total_wall_s"] = round(time.time() - t_all, 1)
    summary["config"] = raw
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    log_line(log, {"summary": summary})
    return 0


def write_part(out, name, tensors, stage):
    """One safetensors file of f16 tensors, written atomically (each stays under the device
    run's 16 MB per returned file)."""
    path = os.path.join(out, name)
    st_io.write_file(path + ".tmp", {k: v.detach().half().cpu().contiguous()
                                     for k, v in tensors.items()}, {"stage": stage})
    os.replace(path + ".tmp", path)


def save_parts(out, fusion, lm_of, stage):
    """fusion.safetensors (all heads) and, after fine-tuning, lm_<head>.safetensors."""
    write_part(out, "fusion.safetensors", {k: v for h in HEADS for k, v in fusion[h].items()}, stage)
    if stage == "finetune":
        for head in HEADS:
            write_part(out, "lm_%s.safetensors" % head, lm_of[head], stage)


def calibrate(runner, head, params, loader, steps=12):
    """Seconds per training step of `head` (the last steps - 4 of a short throw-away run on
    copies of the weights)."""
    saved = {k: v.detach().clone() for k, v in runner.w.items()}
    marks = []
    class Timed:
        def __iter__(self):
            for i, batch in enumerate(loader):
                marks.append(time.time())
                yield batch
    train(runner, head, params, Timed(), steps, 1e-4, None, "calibrate")
    marks.append(time.time())
    with torch.no_grad():
        for k, v in runner.w.items():
            v.copy_(saved[k])
    return (marks[-1] - marks[4]) / (len(marks) - 5)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="stage", required=True)
    for name in ("lm", "fusion"):
        s = sub.add_parser(name)
        s.add_argument("--out", required=True)
        s.add_argument("--device", default="cpu")
        s.add_argument("--seed", type=int, default=1)
        s.add_argument("--threads", type=int, default=1)
        s.add_argument("--workers", type=int, default=0)
        s.add_argument("--batch", type=int, default=16)
    s = sub.choices["lm"]
    s.add_argument("--steps", type=int, default=1000)
    s.add_argument("--lr", type=float, default=2e-3)
    s.add_argument("--max-minutes", type=float, default=0)
    s.add_argument("--init", help="lm.safetensors to continue from (fresh optimizer)")
    s.add_argument("--hidden", type=int, default=256)
    s.add_argument("--intermediate", type=int, default=768)
    s.add_argument("--layers", type=int, default=4)
    s.add_argument("--heads", type=int, default=4)
    s.add_argument("--kv-heads", type=int, default=4)
    s = sub.choices["fusion"]
    s.add_argument("--vit", required=True, help="stage-1 output folder (pretrain_vit.py)")
    s.add_argument("--lm", required=True, help="stage-2 lm.safetensors (lm_dims.json beside)")
    s.add_argument("--data", required=True, help="tablegen folders, comma-separated")
    s.add_argument("--eval-data", help="tablegen folders to evaluate on, comma-separated")
    s.add_argument("--eval-count", type=int, default=100)
    s.add_argument("--eval-batch", type=int, default=50)
    s.add_argument("--max-new", type=int, default=600)
    s.add_argument("--max-tiles", type=int, default=4)
    s.add_argument("--xattn-layers", type=int, nargs="+", default=[2])
    s.add_argument("--proj-width", type=int, default=512, help="M of x_mlp1 / h_mlp1")
    s.add_argument("--proj-width-d", type=int, default=1408, help="M of mlp1 (parameter match)")
    s.add_argument("--steps3", type=int, default=500)
    s.add_argument("--steps4", type=int, default=500)
    s.add_argument("--lr3", type=float, default=1e-3)
    s.add_argument("--lr4", type=float, default=5e-4)
    s.add_argument("--lm-lr-scale", type=float, default=0.5)
    s.add_argument("--seconds3", type=float, default=0,
                   help="set --steps3 from this many seconds of head d (calibrated; measured 3-4x "
                        "the real step time on the H200: prefer --steps3)")
    s.add_argument("--seconds4", type=float, default=0, help="same for --steps4")
    s.add_argument("--max-seconds-per-head", type=float, default=0)
    args = p.parse_args(argv)
    return stage_lm(args) if args.stage == "lm" else stage_fusion(args)


if __name__ == "__main__":
    sys.exit(main())
