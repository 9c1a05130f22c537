"""How much of the characters reaches the fusion heads: a linear probe on the frozen ViT.

The bundled heads read a table's shape but guess its cells (docs/training.md). This asks
the first question of why: do the frozen ViT's patch features, as the projector receives
them, still say which character lies under each patch? It

  - generates tables with tools.tablegen (their glyph boxes come with them) and tiles them
    as the runtime does (InternVL dynamic tiling + thumbnail),
  - labels every patch with the character whose glyph centre lies in it (stage 1's labels,
    tiling.patch_labels) and counts how many of the table's characters own a patch at all
    (two centres in one patch: only the nearer one is a label); --slots 2 labels the left
    and the right half of each patch apart, and the probe reads both from the patch,
  - runs the model's frozen ViT once (the layer the projector takes, select_layer) and
    fits one linear layer, patch feature -> character class, on the train tables,
  - reports the non-blank and blank patch accuracy on test and style-held-out tables, for
    the tiles and the thumbnail apart.

  /usr/bin/python3 tools/train/probe_vit.py -m assets/models/nvlm-tables --train 300 \\
      --eval 60 --steps 1500 --out probe.json

A probe that reads well means the characters reach the projector and what is missing is
the read-out; one that reads poorly points at stage 1. Runs on the CPU in minutes.
"""
import argparse
import json
import os
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
import pretrain_vit as PV  # noqa: E402
import st_io  # noqa: E402


@torch.no_grad()
def features(vit_w, cfg, split, seed, count, tile, max_tiles, slots):
    """Patch features [P, C] (f32), labels [P, slots], is-thumbnail flags [P], and the glyph
    coverage (characters owning a patch or half-patch of the tiles, characters) of `count`
    tables, tiled and labelled as stage 1 does it (pretrain_vit.TableTiles)."""
    samples = PV.generate(split, seed, count)
    tables = PV.TableTiles(samples, tile, cfg.patch, max_tiles, True, slots)
    feats, labels, thumb = [], [], []
    owned = total = 0
    for (_, chars, _), (tiles, lab) in zip(samples, tables):
        x = NT.vit_features(vit_w, cfg, NT.normalise_tiles(tiles, "cpu"))
        feats.append(x[:, 1:].reshape(-1, x.shape[-1]))
        labels.append(lab.reshape(-1, slots))
        n_tiles = tiles.shape[0] - 1 if tiles.shape[0] > 1 else 1  # the thumbnail is last
        is_thumb = torch.zeros(lab.shape[:3], dtype=torch.bool)
        is_thumb[n_tiles:] = True
        thumb.append(is_thumb.reshape(-1))
        owned += int((lab[:n_tiles] > 0).sum())
        total += len(chars)
    return torch.cat(feats), torch.cat(labels), torch.cat(thumb), (owned, total)


def logits_of(probe, x, slots):
    """[P, C] -> [P * slots, classes]: one class per slot of each patch."""
    return probe(x).reshape(x.shape[0] * slots, -1)


def accuracy(probe, x, y, mask, slots):
    with torch.no_grad():
        pred = logits_of(probe, x[mask], slots).argmax(-1)
    y = y[mask].reshape(-1)
    nonblank = y > 0
    return {"nonblank_acc": round(float((pred[nonblank] == y[nonblank]).float().mean()), 4),
            "blank_acc": round(float((pred[~nonblank] == 0).float().mean()), 4),
            "nonblank_labels": int(nonblank.sum()), "labels": int(mask.sum()) * slots}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-m", "--model", default=os.path.join(ROOT, "assets", "models", "nvlm-tables"))
    p.add_argument("--vit", help="ViT safetensors (vision_model.*) to probe instead of --model's")
    p.add_argument("--train", type=int, default=300, help="train-split tables for the fit")
    p.add_argument("--eval", type=int, default=60, help="test and held-out tables each")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=4096, help="patches per step")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--blank-weight", type=float, default=0.25, help="as in stage 1")
    p.add_argument("--slots", type=int, default=1, choices=(1, 2),
                   help="labels per patch: 1 as stage 1 trained, 2 = left and right half")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="JSON of the results")
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "config.json")) as f:
        raw = json.load(f)
    cfg = NT.Cfg(raw)
    tile, max_tiles = raw["force_image_size"], raw["max_dynamic_patch"]
    vit_w = {k: v.float() for k, v in st_io.read_file(
        os.path.join(args.model, "model.safetensors")).items() if k.startswith("vision_model.")}
    if args.vit:  # e.g. pretrain_vit.py --init-vit's output, the sizes of --model's ViT
        new_vit = {k: v.float() for k, v in st_io.read_file(args.vit).items()}
        if set(new_vit) != set(vit_w):
            raise SystemExit("probe_vit: %s does not hold the tensors of %s's ViT"
                             % (args.vit, args.model))
        vit_w = new_vit
    t0 = time.time()
    sets = {name: features(vit_w, cfg, split, args.seed, count, tile, max_tiles, args.slots)
            for name, split, count in (("train", "train", args.train),
                                       ("test", "test", args.eval),
                                       ("heldout", "heldout", args.eval))}
    print(json.dumps({"features_s": round(time.time() - t0, 1),
                      "labels": {k: int(v[1].numel()) for k, v in sets.items()}}), flush=True)
    x, y, _, _ = sets["train"]
    classes = len(PV.CLASSES) + 1
    probe = torch.nn.Linear(x.shape[1], classes * args.slots)
    weight = torch.ones(classes)
    weight[0] = args.blank_weight
    opt = torch.optim.AdamW(probe.parameters(), lr=args.lr, weight_decay=1e-4)
    gen_ = torch.Generator().manual_seed(args.seed)
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, x.shape[0], (args.batch,), generator=gen_)
        loss = F.cross_entropy(logits_of(probe, x[idx], args.slots), y[idx].reshape(-1),
                               weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 * (1 + np.cos(np.pi * step / args.steps))
        opt.step()
        if step % max(1, args.steps // 5) == 0:
            print(json.dumps({"step": step, "loss": round(float(loss), 4)}), flush=True)
    result = {"model": args.model, "vit": args.vit, "args": vars(args),
              "wall_s": round(time.time() - t0, 1)}
    for name, (xs, ys, thumb, (owned, total)) in sets.items():
        result[name] = {"tiles": accuracy(probe, xs, ys, ~thumb, args.slots),
                        "thumbnail": accuracy(probe, xs, ys, thumb, args.slots),
                        "chars_owning_a_patch": round(owned / max(1, total), 4),
                        "chars": total}
    print(json.dumps({k: v for k, v in result.items() if k != "args"}, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
