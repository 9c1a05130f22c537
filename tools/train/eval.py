"""Evaluates a model directory on tools.tablegen images with the PyTorch reference
(tools/reference/nvlm_ref.py, KV cache) and, with --nvlm, with the C runtime
(`nvlm ask --json`), per head: cell accuracy, exact match and TEDS of the Markdown
transcription (tools/train/table_metrics.py), and how often the C runtime's greedy ids equal
PyTorch's. Usage (repository root):
  /usr/bin/python3 tools/train/eval.py -m assets/models/nvlm-tables --data DIR[,DIR] \
      --count 20 --heads d,x,h --nvlm build/cli/nvlm --out result.json
Exit status 0 (the numbers are the result; the targets are judged by the reader).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))

import nvlm_ref  # noqa: E402
import table_metrics  # noqa: E402
import tiling  # noqa: E402
import train_stages  # noqa: E402

MEAN = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
STD = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)


def pixel_values(path, cfg, max_tiles):
    tiles, _, _ = tiling.tile_image(Image.open(path).convert("RGB"), cfg.image_size, max_tiles)
    x = torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN) / STD


def reference_answer(model, head, path, question, max_new, max_tiles):
    """Greedy ids after the prompt, up to and including <|im_end|> (or max_new ids)."""
    pv = pixel_values(path, model.cfg, max_tiles)
    image = model.encode_image(pv, head)
    prompt = model.build_prompt(head, pv.shape[0], question)
    sess = nvlm_ref.Session(model, head, prompt, image)
    im_end = model.tok.added["<|im_end|>"]
    logits, caches = sess.prefill()
    out = []
    for _ in range(max_new):
        nxt = int(torch.argmax(logits[-1]))
        out.append(nxt)
        if nxt == im_end:
            break
        pos = len(prompt.ids) + len(out) - 1
        logits, caches = sess._run(sess.lm.embed([nxt]), [pos], [sess.gen_rule()], caches)
    return out


def runtime_answer(nvlm, model_dir, head, path, question, max_new):
    res = subprocess.run([nvlm, "ask", "-m", model_dir, "--fusion", head, "--image", path,
                          "-p", question, "--json", "-n", str(max_new), "-t", "1"],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout)["generated_ids"]


def decode(ids):
    return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-m", "--model", required=True)
    p.add_argument("--data", required=True, help="tablegen folders, comma-separated")
    p.add_argument("--count", type=int, default=20, help="images per folder")
    p.add_argument("--heads", default="d,x,h")
    p.add_argument("--nvlm", help="the C runtime binary (compare its greedy ids)")
    p.add_argument("--max-new", type=int, default=600)
    p.add_argument("--out", help="write per-image results + metrics here (JSON)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model = nvlm_ref.Model(args.model)
    max_tiles = model.cfg.raw.get("max_dynamic_patch", 4)
    task = train_stages.TASK_MD
    report = {"model": args.model, "task": task, "sets": {}}
    for folder in args.data.split(","):
        items = train_stages.load_table_folder(folder)[:args.count]
        name = os.path.basename(folder.rstrip("/"))
        for head in args.heads.split(","):
            t0 = time.time()
            rows = []
            for path, truth, _ in items:
                ref = reference_answer(model, head, path, task, args.max_new, max_tiles)
                row = {"image": path, "ref_ids": ref, "ref_text": decode(ref)}
                if args.nvlm:
                    row["c_ids"] = runtime_answer(args.nvlm, args.model, head, path, task, args.max_new)
                    row["agree"] = row["c_ids"] == ref
                rows.append(row)
            metrics = table_metrics.summarise([r["ref_text"] for r in rows], [t for _, t, _ in items])
            if args.nvlm:
                metrics["c_equals_pytorch"] = sum(r["agree"] for r in rows) / max(1, len(rows))
                c_metrics = table_metrics.summarise([decode(r["c_ids"]) for r in rows],
                                                    [t for _, t, _ in items])
                metrics["c_cell_accuracy"] = c_metrics["cell_accuracy"]
                metrics["c_teds"] = c_metrics["teds"]
            metrics["wall_s"] = round(time.time() - t0, 1)
            report["sets"]["%s/%s" % (name, head)] = {"metrics": metrics, "rows": rows}
            print(json.dumps({"set": name, "head": head, **metrics}), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
