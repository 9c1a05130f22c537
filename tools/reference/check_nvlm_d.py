"""check_nvlm_d.py - checks the reference's D path against NVIDIA / OpenGVLab goldens.

For hf/internvl_tiles, internvl_tiles_wide (NVLM-D, NVIDIA ViT) and internvl_single (OpenGVLab
InternVL) under $NV_GOLDEN_DIR: rebuilds the prompt ids from the question (must equal
in_input_ids), feeds in_pixel_values, and compares every vision hidden state, the pixel shuffle,
mlp1 and the logits (max |err| <= 1e-4 * max |golden|), then the 8 greedy ids with and without
a KV cache (exact). Also runs the text-only hf/llama (llama3 RoPE, tied) and hf/qwen2 goldens
through the same decoder, and the gated cross-attention block against hf/mllama(_wide)'s layers. Exits non-zero on any miss and prints every measured error.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvlm_ref as R  # noqa: E402
import st_io  # noqa: E402
from bpe import Tokenizer  # noqa: E402

REL_TOL = 1e-4
failures = []


def compare(case, name, got, want):
    want = want.float()
    got = got.reshape(want.shape).float()
    err = (got - want).abs().max().item()
    scale = max(1.0, want.abs().max().item()) if name != "logits" else want.abs().max().item()
    ok = err <= REL_TOL * scale
    print(f"  {case:20s} {name:26s} max|err| {err:.3e}  tol {REL_TOL * scale:.3e}  {'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(f"{case}/{name}")


def check_ids(case, name, got, want):
    ok = list(got) == list(want)
    print(f"  {case:20s} {name:26s} {'ok' if ok else 'FAIL'}  {list(got)[-8:]}")
    if not ok:
        failures.append(f"{case}/{name}")


def check_vlm(golden_dir, case):
    d = os.path.join(golden_dir, "hf", case)
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    g = st_io.read_file(os.path.join(d, "golden.safetensors"))
    model = R.Model(os.path.join(d, "model"))
    n = meta["tile_grid"]["num_tiles"]
    pv = g["in_pixel_values"].float()
    golden_ids = g["in_input_ids"][0].tolist()
    prompt = model.build_prompt("d", n, meta["question"])
    check_ids(case, "prompt ids", prompt.ids, golden_ids)
    prompt.ids = golden_ids  # test the model on the given ids even if the prompt differed

    states = model.vision.hidden_states(pv, all_layers=True)
    compare(case, "vision_hidden_states", torch.stack(states), g["vision_hidden_states"])
    image = model.encode_image(pv, "d")
    selected = "vision_selected_layer" if "vision_selected_layer" in g else "vision_last_hidden_state"
    compare(case, selected, image["vision_features"], g[selected])
    compare(case, "pixel_shuffle_output", image["pixel_shuffle_output"], g["pixel_shuffle_output"])
    compare(case, "mlp1_output", image["projector_output"], g["mlp1_output"])

    session = R.Session(model, "d", prompt, image)
    ids_cache, logits = session.generate(8, use_cache=True)
    compare(case, "logits", logits, g["logits"][0])
    check_ids(case, "generated (kv cache)", ids_cache, g["generated_ids"][0].tolist())
    ids_full, _ = session.generate(8, use_cache=False)
    check_ids(case, "generated (no cache)", ids_full, g["generated_ids"][0].tolist())


def check_text(golden_dir, case):
    d = os.path.join(golden_dir, "hf", case)
    with open(os.path.join(d, "model", "config.json")) as f:
        llm = json.load(f)
    raw = {"vision_config": {"hidden_size": 4, "num_attention_heads": 1, "num_hidden_layers": 1,
                             "patch_size": 2, "image_size": 4},
           "llm_config": llm}
    cfg = R.Config(raw)
    w = {"language_model." + k: v.float() for k, v in st_io.read_model(os.path.join(d, "model")).items()}
    lm = R.LM(cfg, w, "d")
    g = st_io.read_file(os.path.join(d, "golden.safetensors"))
    ids = g["in_input_ids"][0].tolist()

    def run(seq):
        h = lm.embed(seq)
        inv = lm.inv_freq(len(seq))
        for layer in range(cfg.layers):
            h, _ = lm.layer(layer, h, list(range(len(seq))), None, inv)
        return lm.logits(h)

    compare(case, "logits", run(ids), g["logits"][0])
    seq = list(ids)
    for _ in range(8):
        seq.append(int(torch.argmax(run(seq)[-1])))
    check_ids(case, "generated (no cache)", seq, g["generated_ids"][0].tolist())


def check_mllama_xattn(golden_dir, case):
    """The gated cross-attention block (section 6.2) against Llama 3.2 Vision's own layers:
    hidden_states[l] -> block -> hidden_states[l+1] for its cross-attention layers l = 1, 3
    (the last one through the final norm). Mllama lets rows with no visible tile attend to
    everything; here every prompt row sees at least one tile, so the two agree."""
    d = os.path.join(golden_dir, "hf", case)
    with open(os.path.join(d, "model", "config.json")) as f:
        text_cfg = json.load(f)["text_config"]
    eps = text_cfg.get("rms_norm_eps") or 1e-5
    raw = {"vision_config": {"hidden_size": 4, "num_attention_heads": 1, "num_hidden_layers": 1,
                             "patch_size": 2, "image_size": 4},
           "llm_config": dict(text_cfg, rms_norm_eps=eps, model_type="llama")}
    cfg = R.Config(raw)
    w = st_io.read_model(os.path.join(d, "model"))
    g = st_io.read_file(os.path.join(d, "golden.safetensors"))
    states = g["hidden_states"][:, 0].float()
    cross = g["cross_attention_states"].float()  # [1, images, tiles, tokens, H]
    tiles, per_tile = cross.shape[2], cross.shape[3]
    memory = cross.reshape(tiles * per_tile, -1)
    tile_mask = g["in_cross_attention_mask"][0, :, 0, :].bool()  # [T, tiles]
    allowed = tile_mask.repeat_interleave(per_tile, dim=1)
    if not bool(allowed.any(-1).all()):
        print(f"  {case}: a row sees no tile; the comparison below would not hold")
        failures.append(f"{case}/mask")
        return
    for layer in text_cfg["cross_attention_layers"]:
        pre = f"language_model.model.layers.{layer}."
        block_w = {}
        for k, v in w.items():
            if k.startswith(pre):
                rest = k[len(pre):].replace("cross_attn_attn_gate", "attn_gate")
                rest = rest.replace("cross_attn_mlp_gate", "mlp_gate").replace("cross_attn.", "")
                block_w["blk." + rest] = v.float()
        block = R.XAttn(cfg, block_w, "blk.")
        out = block.forward(states[layer], block.memory_kv(memory), allowed)
        want = states[layer + 1]
        if layer + 1 == states.shape[0] - 1:  # last hidden state is after the final norm
            out = R.rms_norm(out, w["language_model.model.norm.weight"].float(), eps)
        compare(case, f"xattn block layer {layer}", out, want)


def main():
    torch.set_num_threads(1)
    golden_dir = os.environ.get("NV_GOLDEN_DIR")
    if not golden_dir or not os.path.isdir(os.path.join(golden_dir, "hf")):
        # The reference data is laid beside the checkout, not shipped with
        # it: without it this check cannot run, which meson reports as a skip.
        print(f"SKIP: check_nvlm_d: reference data not found at {golden_dir!r} "
              "(NV_GOLDEN_DIR; ../shared/golden beside the checkout, see README.md)")
        return 77
    tok_check = Tokenizer.load(os.path.join(golden_dir, "hf", "internvl_tiles", "model"))
    assert tok_check.added["<|vision_pad|>"] == 267
    for case in ("internvl_tiles", "internvl_tiles_wide", "internvl_single"):
        check_vlm(golden_dir, case)
    for case in ("llama", "qwen2"):
        check_text(golden_dir, case)
    for case in ("mllama", "mllama_wide"):
        check_mllama_xattn(golden_dir, case)
    if failures:
        print("check_nvlm_d: FAILED: " + ", ".join(failures))
        return 1
    print("check_nvlm_d: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
