"""Stage-1 vision pre-training: a small InternViT reads the character under each patch.

Every ViT patch of every tile (InternVL dynamic tiling, as the runtime does it)
is labelled with the character whose glyph-box centre lies in it, or blank;
a per-patch classifier on the last layer learns them (blank down-weighted).
With --slots 2 each patch has two labels, the glyph centred in its left half and the
one in its right half (a quarter of the characters share a patch with another).
The ViT is saved as InternViT-named safetensors + an InternVL config.json.
--init-vit MODEL_DIR continues a model's ViT (e.g. the bundled one) with a fresh head.

Smoke test on CPU (see docs/training.md):
    /usr/bin/python3 tools/train/pretrain_vit.py --gen 300 --val-gen 40 --steps 60 \
        --batch 4 --dim 96 --layers 2 --heads 2 --out /tmp/vit_smoke
GPU run: add --device cuda (bf16 autocast) and --data DIR from tools.tablegen
(tools/train/run_pretrain.sh does both). A run cut off (device machines are
held 30 minutes at most) continues with --resume OUT and the same options:
train_state.pt is written every --save-every steps and at the end.
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

import safetensors_io  # noqa: E402
import tiling  # noqa: E402
import vit  # noqa: E402
from tools.tablegen import fonts  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLASSES = fonts.CHARSET  # class k+1 is CLASSES[k]; class 0 is blank


def char_classes(chars):
    return np.array([CLASSES.index(chr(c)) + 1 for c in chars], dtype=np.int64)


class TableTiles(torch.utils.data.Dataset):
    """Items: (uint8 tiles [T,S,S,3], labels [T,g,g] or [T,g,g,2]) of one table image."""

    def __init__(self, samples, tile_size, patch, max_tiles, thumbnail, slots=1):
        self.samples = samples  # [(image path or PIL image, chars uint32, boxes [N,4])]
        self.tile_size, self.patch = tile_size, patch
        self.max_tiles, self.thumbnail, self.slots = max_tiles, thumbnail, slots

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        image, chars, boxes = self.samples[i]
        if isinstance(image, str):
            image = Image.open(image).convert("RGB")
        tiles, cols, rows = tiling.tile_image(image, self.tile_size, self.max_tiles,
                                              self.thumbnail)
        labels = tiling.patch_labels(boxes.astype(np.float64), char_classes(chars),
                                     image.width, image.height, cols, rows,
                                     self.tile_size, self.patch, self.thumbnail, self.slots)
        return torch.from_numpy(tiles), torch.from_numpy(labels)


def collate(items):
    return torch.cat([t for t, _ in items]), torch.cat([l for _, l in items])


def load_folders(folders, limit):
    """Samples of tools.tablegen output folders (comma-separated)."""
    samples = []
    for folder in folders.split(","):
        with open(os.path.join(folder, "tables.jsonl")) as f:
            for line in f:
                if limit and len(samples) >= limit:
                    break
                row = json.loads(line)
                glyphs = np.load(os.path.join(folder, row["glyphs"]))
                samples.append((os.path.join(folder, row["image"]), glyphs["chars"],
                                glyphs["boxes"]))
    if not samples:
        raise SystemExit("pretrain_vit: %s holds no samples" % folders)
    return samples


def generate(split, seed, count):
    from tools.tablegen import gen
    samples = []
    for index in range(count):
        s = gen.make_sample(split, seed, index)
        chars, boxes, _ = gen.glyph_arrays(s)
        samples.append((s["image"], chars, boxes))
    return samples


def normalise(tiles, device):
    x = tiles.to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def run_model(model, head, tiles, device, bf16):
    """Logits [T, patches * slots, classes]: a head of `slots` labels per patch gives each
    slot its own classes, in the order of the labels' flatten(1)."""
    x = normalise(tiles, device)
    if bf16:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = head(model(x)[-1]).float()
    else:
        logits = head(model(x)[-1])
    return logits.reshape(logits.shape[0], -1, len(CLASSES) + 1)


def accuracy(logits, labels):
    """(correct on non-blank, non-blank count, correct on blank, blank count)."""
    pred = logits.argmax(-1)
    nonblank = labels > 0
    return (int((pred[nonblank] == labels[nonblank]).sum()), int(nonblank.sum()),
            int((pred[~nonblank] == 0).sum()), int((~nonblank).sum()))


def evaluate(model, head, loader, device, bf16):
    model.eval()
    head.eval()
    totals = np.zeros(4, dtype=np.int64)
    with torch.no_grad():
        for tiles, labels in loader:
            logits = run_model(model, head, tiles, device, bf16)
            totals += accuracy(logits, labels.to(device).flatten(1))
    model.train()
    head.train()
    return {"nonblank_acc": totals[0] / max(1, totals[1]),
            "blank_acc": totals[2] / max(1, totals[3]),
            "nonblank_patches": int(totals[1]), "patches": int(totals[1] + totals[3])}


def save(out_dir, model, head, args, loader, device):
    """Writes model.safetensors, char_head.safetensors, config.json; checks the export."""
    os.makedirs(out_dir, exist_ok=True)
    exported = model.export_state_dict()
    meta = {"format": "pt", "stage": "vit_pretrain", "seed": args.seed}
    safetensors_io.write(os.path.join(out_dir, "model.safetensors"), exported, meta)
    safetensors_io.write(os.path.join(out_dir, "char_head.safetensors"),
                         {"char_head." + k: v.float() for k, v in head.state_dict().items()},
                         meta)
    config = {
        "architectures": ["InternVisionModel"], "model_type": "internvl_chat",
        "force_image_size": args.tile_size, "downsample_ratio": 0.5, "ps_version": "v2",
        "select_layer": -1, "max_dynamic_patch": args.max_tiles, "min_dynamic_patch": 1,
        "use_thumbnail": args.thumbnail, "dynamic_image_size": True,
        "vision_config": model.vision_config(),
        "nvlm_char_classes": CLASSES, "nvlm_char_head": "char_head.safetensors",
        "nvlm_char_slots": args.slots,
        "nvlm_normalise": {"mean": IMAGENET_MEAN, "std": IMAGENET_STD},
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    # The written file, loaded into a plain InternViT (no BatchNorm), must
    # reproduce the trained model in eval mode.
    tensors, _ = safetensors_io.read(os.path.join(out_dir, "model.safetensors"))
    c = model.config
    plain = vit.VisionModel(c["image_size"], c["patch"], c["dim"], c["layers"], c["heads"],
                            c["mlp"] / c["dim"], c["eps"], stem_batchnorm=False)
    plain.load_internvit(tensors)
    plain.to(device).eval()
    model.eval()
    # TF32 convolutions/matmuls (CUDA's default for convolutions) alone differ by ~1e-3.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    tiles, _ = next(iter(loader))
    with torch.no_grad():
        x = normalise(tiles[:4], device)
        want, got = model(x)[-1].float(), plain(x)[-1].float()
    model.train()
    rel = float((want - got).abs().max() / want.abs().max())
    return rel


def save_state(out_dir, model, head, opt, step, images):
    """Full training state (BatchNorm, optimizer) for --resume; torch pickle."""
    path = os.path.join(out_dir, "train_state.pt")
    torch.save({"model": model.state_dict(), "head": head.state_dict(),
                "opt": opt.state_dict(), "step": step, "images": images,
                "config": model.config}, path + ".tmp")
    os.replace(path + ".tmp", path)  # a machine lost mid-write keeps the old one


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="tools.tablegen output folders, comma-separated (train)")
    p.add_argument("--val-data", help="tools.tablegen output folder (val)")
    p.add_argument("--heldout-data", help="tools.tablegen output folder (heldout split)")
    p.add_argument("--gen", type=int, default=0, help="generate N train samples in memory")
    p.add_argument("--val-gen", type=int, default=0, help="generate N val samples in memory")
    p.add_argument("--heldout-gen", type=int, default=0, help="generate N heldout samples")
    p.add_argument("--limit", type=int, default=0, help="use at most N samples per option")
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8, help="images per step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=0, help="default: steps/20")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--blank-weight", type=float, default=0.25)
    p.add_argument("--tile-size", type=int, default=224)
    p.add_argument("--patch", type=int, default=14)
    p.add_argument("--max-tiles", type=int, default=6)
    p.add_argument("--no-thumbnail", dest="thumbnail", action="store_false")
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--workers", type=int, default=0, help="data loader processes")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=0, help="stop after this wall time")
    p.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps")
    p.add_argument("--resume", help="folder with a train_state.pt to continue from")
    p.add_argument("--slots", type=int, default=1, choices=(1, 2),
                   help="labels per patch: 1 (the glyph nearest the centre) or 2 (the left "
                        "and the right half of the patch apart; docs/training.md)")
    p.add_argument("--init-vit", help="model directory whose vision_model.* start the ViT "
                   "(e.g. assets/models/nvlm-tables; its sizes replace --dim etc.; the stem "
                   "then trains without BatchNorm, which the export had folded); fresh head")
    args = p.parse_args(argv)
    init_tensors = None
    if args.init_vit:
        if args.resume:
            p.error("--init-vit and --resume exclude each other")
        with open(os.path.join(args.init_vit, "config.json")) as f:
            vc = json.load(f)["vision_config"]
        args.dim, args.layers = vc["hidden_size"], vc["num_hidden_layers"]
        args.heads, args.patch = vc["num_attention_heads"], vc["patch_size"]
        args.tile_size = vc["image_size"]
        init_tensors, _ = safetensors_io.read(os.path.join(args.init_vit, "model.safetensors"))

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bf16 = device.type == "cuda"
    t_start = time.time()

    train = (load_folders(args.data, args.limit) if args.data
             else generate("train", args.seed, args.gen))
    val = (load_folders(args.val_data, args.limit) if args.val_data
           else generate("val", args.seed, args.val_gen))
    heldout = (load_folders(args.heldout_data, args.limit) if args.heldout_data
               else generate("heldout", args.seed, args.heldout_gen))
    if not train:
        p.error("no training data: give --data DIR or --gen N")
    data_s = time.time() - t_start

    def loader(samples, shuffle):
        ds = TableTiles(samples, args.tile_size, args.patch, args.max_tiles, args.thumbnail,
                        args.slots)
        return torch.utils.data.DataLoader(
            ds, batch_size=args.batch, shuffle=shuffle, collate_fn=collate,
            num_workers=args.workers, drop_last=shuffle and len(samples) >= args.batch,
            persistent_workers=args.workers > 0,
            generator=torch.Generator().manual_seed(args.seed + start_step))

    start_step, start_images, state = 0, 0, None
    stem_batchnorm = init_tensors is None
    if args.resume:
        state_path = os.path.join(args.resume, "train_state.pt")
        if not os.path.isfile(state_path):
            p.error("--resume: %s not found" % state_path)
        state = torch.load(state_path, map_location="cpu")
        start_step, start_images = state["step"], state["images"]
        if start_step >= args.steps:
            p.error("--resume: the checkpoint is at step %d, --steps is %d" % (start_step, args.steps))
        c = state["config"]  # the run being resumed fixes the sizes and the stem
        args.tile_size, args.patch, args.dim = c["image_size"], c["patch"], c["dim"]
        args.layers, args.heads = c["layers"], c["heads"]
        stem_batchnorm = any(k.startswith("stem_norm.") for k in state["model"])
    train_loader = loader(train, True)
    val_loader = loader(val, False) if val else None
    heldout_loader = loader(heldout, False) if heldout else None

    model = vit.VisionModel(args.tile_size, args.patch, args.dim, args.layers, args.heads,
                            stem_batchnorm=stem_batchnorm)
    if init_tensors is not None:
        model.load_internvit(init_tensors)
    head = vit.CharHead(args.dim, (len(CLASSES) + 1) * args.slots)
    if state is not None:
        model.load_state_dict(state["model"])
        head.load_state_dict(state["head"])
    model.to(device)
    head.to(device)
    params = list(model.parameters()) + list(head.parameters())
    decay = [q for q in params if q.ndim >= 2]
    no_decay = [q for q in params if q.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))
    class_weight = torch.ones(len(CLASSES) + 1, device=device)
    class_weight[0] = args.blank_weight
    if state is not None:
        opt.load_state_dict(state["opt"])
        print("pretrain_vit: resumed from %s at step %d" % (args.resume, start_step))
    warmup = args.warmup or max(1, args.steps // 20)
    print("pretrain_vit: %d train / %d val / %d heldout images (%.1fs to load); ViT %d params, "
          "head %d; tile %d patch %d; device %s%s" % (
              len(train), len(val), len(heldout), data_s, vit.n_params(model),
              vit.n_params(head), args.tile_size, args.patch, device, " bf16" if bf16 else ""),
          flush=True)

    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "train_log.jsonl"), "a" if state else "w")
    step, seen_images, seen_tiles = start_step, start_images, 0
    window = np.zeros(4, dtype=np.int64)
    window_loss, window_n = 0.0, 0
    t_train = time.time()
    stop = False
    while not stop:
        for tiles, labels in train_loader:
            lr = vit.cosine_lr(step, args.steps, warmup, args.lr)
            for group in opt.param_groups:
                group["lr"] = lr
            labels = labels.to(device).flatten(1)
            logits = run_model(model, head, tiles, device, bf16)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                   weight=class_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            seen_images += args.batch
            seen_tiles += tiles.shape[0]
            window += accuracy(logits.detach(), labels)
            window_loss += float(loss)
            window_n += 1
            elapsed = time.time() - t_train
            out_of_time = args.max_minutes and elapsed > 60 * args.max_minutes
            if args.save_every and step % args.save_every == 0:
                save_state(args.out, model, head, opt, step, seen_images)
            last = step >= args.steps or out_of_time
            if step % args.log_every == 0 or last:
                record = {"step": step, "loss": window_loss / window_n,
                          "train_nonblank_acc": window[0] / max(1, window[1]),
                          "train_blank_acc": window[2] / max(1, window[3]), "lr": lr,
                          "images": seen_images, "tiles": seen_tiles, "wall_s": elapsed}
                print("step %5d loss %.4f patch acc non-blank %.3f blank %.3f lr %.2e "
                      "(%d images, %.1f images/s)" % (
                          step, record["loss"], record["train_nonblank_acc"],
                          record["train_blank_acc"], lr, seen_images,
                          (seen_images - start_images) / max(elapsed, 1e-9)), flush=True)
                log.write(json.dumps(record) + "\n")
                window[:] = 0
                window_loss, window_n = 0.0, 0
            if val_loader and args.eval_every and step % args.eval_every == 0 and not last:
                print("  val: %s" % evaluate(model, head, val_loader, device, bf16), flush=True)
            if last:
                stop = True
                break

    save_state(args.out, model, head, opt, step, seen_images)
    result = {"steps": step, "images": seen_images, "train_wall_s": time.time() - t_train}
    if val_loader:
        result["val"] = evaluate(model, head, val_loader, device, bf16)
    if heldout_loader:
        result["heldout"] = evaluate(model, head, heldout_loader, device, bf16)
    result["export_max_rel_diff"] = save(args.out, model, head, args, train_loader, device)
    result["total_wall_s"] = time.time() - t_start
    log.write(json.dumps({"final": result}) + "\n")
    log.close()
    print("pretrain_vit: final %s" % json.dumps(result), flush=True)
    if result["export_max_rel_diff"] > 1e-4:
        print("pretrain_vit: exported checkpoint does not reproduce the model", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
