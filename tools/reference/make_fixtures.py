"""make_fixtures.py - writes tests/fixtures/tiny_nvlm/: a tiny random NVLM checkpoint with all
three heads (d, x, h), its byte-level BPE tokenizer.json, and golden outputs of the reference
for every head x tiling case (1 tile, 2x1 + thumbnail, 3x2 + thumbnail).
With --char-probs it writes tests/fixtures/tiny_nvlm_chars/ instead: the same sizes plus a
per-patch character head (config nvlm_char_probs, docs/model-format.md section 5.1), whose
probabilities widen the projectors' input; one tiling case (2x1 + thumbnail) per head.

Usage: /usr/bin/python3 tools/reference/make_fixtures.py [--char-probs] [OUT_DIR]
Deterministic: a fixed seed, one torch thread, sorted safetensors; a rerun gives the same bytes.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvlm_ref as R  # noqa: E402
import st_io  # noqa: E402
from bpe import bytes_to_unicode, qwen2_tokenizer_json  # noqa: E402

SEED = 20240917
QUESTION = "Describe the tiles."
NEW_TOKENS = 8
# (tiles incl. thumbnail, grid cols, grid rows)
CASES = [(1, 1, 1), (3, 2, 1), (7, 3, 2)]
CHAR_PROBS = {"classes": 5, "slots": 2, "layer_norm_eps": 1e-5}  # --char-probs variant
CHAR_CASES = [(3, 2, 1)]
XATTN_LAYERS = [1, 3]
# Merges chosen so that the tags and the template split into several multi-byte pieces.
MERGES = [("t", "i"), ("ti", "l"), ("til", "e"), ("<", "tile"), ("I", "m"), ("a", "g"),
          ("ag", "e"), ("Im", "age"), ("<", "Image"), ("h", "e"), ("Ġ", "t"), ("Ġt", "he"),
          ("e", "s"), (">", "Ċ"), ("<", "/"), ("</", "Image")]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_pad|>"]
VOCAB = 280

VISION = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
          "num_hidden_layers": 2, "patch_size": 7, "image_size": 28, "num_channels": 3,
          "norm_type": "rms_norm", "layer_norm_eps": 1e-6, "qk_normalization": True,
          "qkv_bias": False, "hidden_act": "gelu", "model_type": "intern_vit_6b",
          "architectures": ["InternVisionModel"]}
LLM = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64,
       "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
       "num_key_value_heads": 2, "vocab_size": VOCAB, "rms_norm_eps": 1e-6,
       "rope_theta": 1000000.0, "rope_scaling": None, "max_position_embeddings": 4096,
       "tie_word_embeddings": False, "hidden_act": "silu", "bos_token_id": 256 + len(MERGES),
       "eos_token_id": 256 + len(MERGES) + 2}


def make_config(char_probs=None):
    extra = {"nvlm_char_probs": char_probs} if char_probs else {}
    return {**extra,"architectures": ["NVLM_D_Model"], "model_type": "NVLM_D",
            "vision_config": VISION, "llm_config": LLM,
            "downsample_ratio": 0.5, "ps_version": "v2", "select_layer": -1,
            "template": "chatml", "force_image_size": VISION["image_size"],
            "dynamic_image_size": True, "max_dynamic_patch": 6, "min_dynamic_patch": 1,
            "use_thumbnail": True,
            "nvlm_heads": {"d": {}, "x": {"xattn_layers": XATTN_LAYERS},
                           "h": {"xattn_layers": XATTN_LAYERS}},
            "nvlm_default_head": "d"}


def make_tokenizer_json():
    chars = bytes_to_unicode()
    vocab = {chars[b]: b for b in range(256)}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    return qwen2_tokenizer_json(vocab, MERGES, SPECIALS)


def shapes(cfg):
    """name -> shape of every tensor of the fixture (docs/model-format.md section 3)."""
    C, Iv, Lv = VISION["hidden_size"], VISION["intermediate_size"], VISION["num_hidden_layers"]
    p, g = VISION["patch_size"], VISION["image_size"] // VISION["patch_size"]
    wide = (VISION["num_attention_heads"] + R.NVIDIA_DUMMY_HEADS) * (C // VISION["num_attention_heads"])
    H, I, L, V = LLM["hidden_size"], LLM["intermediate_size"], LLM["num_hidden_layers"], VOCAB
    d = H // LLM["num_attention_heads"]
    qd, kvd = LLM["num_attention_heads"] * d, LLM["num_key_value_heads"] * d
    chars = cfg.get("nvlm_char_probs")
    F = C + (chars["classes"] * chars["slots"] if chars else 0)  # per-patch feature width
    s = {"vision_model.embeddings.class_embedding": [1, 1, C],
         "vision_model.embeddings.patch_embedding.weight": [C, 3, p, p],
         "vision_model.embeddings.patch_embedding.bias": [C],
         "vision_model.embeddings.position_embedding": [1, g * g + 1, C]}
    for i in range(Lv):
        pre = f"vision_model.encoder.layers.{i}."
        s.update({pre + "norm1.weight": [C], pre + "norm2.weight": [C],
                  pre + "attn.qkv.weight": [3 * wide, C],
                  pre + "attn.q_norm.weight": [wide], pre + "attn.k_norm.weight": [wide],
                  pre + "attn.proj.weight": [C, wide], pre + "attn.proj.bias": [C],
                  pre + "ls1": [C], pre + "ls2": [C],
                  pre + "mlp.fc1.weight": [Iv, C], pre + "mlp.fc1.bias": [Iv],
                  pre + "mlp.fc2.weight": [C, Iv], pre + "mlp.fc2.bias": [C]})
    if chars:
        SK = chars["classes"] * chars["slots"]
        s.update({"vision_model.char_head.norm.weight": [C],
                  "vision_model.char_head.norm.bias": [C],
                  "vision_model.char_head.proj.weight": [SK, C],
                  "vision_model.char_head.proj.bias": [SK]})
    for proj in ("mlp1", "x_mlp1", "h_mlp1"):  # NVLM-D style: M = I, no biases
        s.update({proj + ".0.weight": [4 * F], proj + ".0.bias": [4 * F],
                  proj + ".1.weight": [I, 4 * F], proj + ".3.weight": [H, I]})
    lm = "language_model."
    s.update({lm + "model.embed_tokens.weight": [V, H], lm + "model.norm.weight": [H],
              lm + "lm_head.weight": [V, H]})
    for l in range(L):
        pre = f"{lm}model.layers.{l}."
        s.update({pre + "input_layernorm.weight": [H], pre + "post_attention_layernorm.weight": [H],
                  pre + "self_attn.q_proj.weight": [qd, H], pre + "self_attn.q_proj.bias": [qd],
                  pre + "self_attn.k_proj.weight": [kvd, H], pre + "self_attn.k_proj.bias": [kvd],
                  pre + "self_attn.v_proj.weight": [kvd, H], pre + "self_attn.v_proj.bias": [kvd],
                  pre + "self_attn.o_proj.weight": [H, qd],
                  pre + "mlp.gate_proj.weight": [I, H], pre + "mlp.up_proj.weight": [I, H],
                  pre + "mlp.down_proj.weight": [H, I]})
    for head in ("x", "h"):
        for j in range(len(XATTN_LAYERS)):
            pre = f"{head}_xattn.{j}."
            s.update({pre + "input_layernorm.weight": [H], pre + "post_attention_layernorm.weight": [H],
                      pre + "q_proj.weight": [qd, H], pre + "k_proj.weight": [kvd, H],
                      pre + "v_proj.weight": [kvd, H], pre + "o_proj.weight": [H, qd],
                      pre + "q_norm.weight": [d], pre + "k_norm.weight": [d],
                      pre + "attn_gate": [1], pre + "mlp_gate": [1],
                      pre + "mlp.gate_proj.weight": [I, H], pre + "mlp.up_proj.weight": [I, H],
                      pre + "mlp.down_proj.weight": [H, I]})
    # per-head LM overrides (section 3.3)
    s["x_language_model.model.norm.weight"] = [H]
    s["h_language_model.model.embed_tokens.weight"] = [V, H]
    return s


def init(name, shape, gen):
    """Gates U(-1,1); norm weights 1 + 0.1 N; embeddings N(0,1); other 1-D 0.1 N;
    matrices N(0, 1/fan_in)."""
    if name.endswith("_gate"):
        return torch.rand(shape, generator=gen) * 2 - 1
    if "norm" in name and name.endswith(".bias"):
        return 0.1 * torch.randn(shape, generator=gen)
    if "norm" in name or name.endswith(".0.weight"):
        return 1 + 0.1 * torch.randn(shape, generator=gen)
    if "embed_tokens" in name or name.endswith("_embedding"):
        return torch.randn(shape, generator=gen)
    if len(shape) == 1:
        return 0.1 * torch.randn(shape, generator=gen)
    fan_in = 1
    for dim in shape[1:]:
        fan_in *= dim
    return torch.randn(shape, generator=gen) / fan_in ** 0.5


def golden_for(model, head, n, pixel_values):
    image = model.encode_image(pixel_values, head)
    prompt = model.build_prompt(head, n, QUESTION)
    session = R.Session(model, head, prompt, image)
    ids_cache, logits = session.generate(NEW_TOKENS, use_cache=True)
    ids_full, logits_full = session.generate(NEW_TOKENS, use_cache=False)
    if ids_cache != ids_full:
        raise RuntimeError(f"{head}/{n}: KV-cache generation differs from no-cache")
    out = {"in_pixel_values": pixel_values,
           "in_input_ids": torch.tensor([prompt.ids], dtype=torch.int64),
           "vision_features": image["vision_features"],
           "pixel_shuffle_output": image["pixel_shuffle_output"],
           "projector_output": image["projector_output"],
           "logits": logits[None],
           "generated_ids": torch.tensor([ids_cache], dtype=torch.int64)}
    if "char_probabilities" in image:
        out["char_probabilities"] = image["char_probabilities"]
    if session.xkv:
        first = min(session.xkv)
        k, v = session.xkv[first]
        allowed = model.cross_mask(session.prompt_rules(), session.memory, session.tile_of_key)
        out.update({"xattn_memory": session.memory, "xattn_mask": allowed.to(torch.uint8),
                    "xattn0_k": k, "xattn0_v": v})
    return out, prompt, session


def build_model(out_dir, char_probs=None):
    """Writes config.json, tokenizer.json and model.safetensors; returns the loaded Model."""
    os.makedirs(out_dir, exist_ok=True)
    cfg = make_config(char_probs)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(make_tokenizer_json(), f, indent=1, ensure_ascii=False)
        f.write("\n")
    gen = torch.Generator().manual_seed(SEED)
    weights = {name: init(name, shape, gen) for name, shape in sorted(shapes(cfg).items())}
    st_io.write_file(os.path.join(out_dir, "model.safetensors"), weights, {"format": "pt"})
    return R.Model(out_dir)


def main():
    torch.set_num_threads(1)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = sys.argv[1:]
    chars = "--char-probs" in args
    args = [a for a in args if a != "--char-probs"]
    name = "tiny_nvlm_chars" if chars else "tiny_nvlm"
    out_dir = args[0] if args else os.path.join(root, "tests", "fixtures", name)
    model = build_model(out_dir, CHAR_PROBS if chars else None)
    gen = torch.Generator().manual_seed(SEED + 1)
    cases = []
    for n, cols, rows in (CHAR_CASES if chars else CASES):
        S = VISION["image_size"]
        pixel_values = torch.randn(n, 3, S, S, generator=gen)
        for head in ("d", "x", "h"):
            out, prompt, session = golden_for(model, head, n, pixel_values)
            name = f"golden_{head}_{n}.safetensors"
            st_io.write_file(os.path.join(out_dir, name), out, {"format": "pt"})
            cases.append({"head": head, "tiles": n, "grid_cols": cols, "grid_rows": rows,
                          "thumbnail": n > 1, "golden": name, "prompt": prompt.text,
                          "segments": prompt.segments, "num_prompt_ids": len(prompt.ids),
                          "memory_rows": 0 if session.memory is None else int(session.memory.shape[0]),
                          "new_tokens": NEW_TOKENS})
            print(f"{name}: {len(prompt.ids)} prompt ids, generated {out['generated_ids'][0, -NEW_TOKENS:].tolist()}")
    with open(os.path.join(out_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"question": QUESTION, "tokens_per_tile": model.cfg.tokens_per_tile,
                   "xattn_layers": XATTN_LAYERS, "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
