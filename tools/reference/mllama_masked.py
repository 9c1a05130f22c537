"""mllama_masked.py - a PyTorch reference of Llama 3.2 Vision's text model for prompts with text
BEFORE the <|image|> token, which the transformers goldens (hf/mllama, hf/mllama_wide: image
first) never exercise.

Mllama (transformers v4.47.1, _prepare_cross_attention_mask + MllamaCrossAttentionDecoderLayer):
a token before the image sees no tile, so its whole mask row is reset to 0: it attends to EVERY
key (padding tiles included) and that attention output is added; only its MLP output is zeroed
(full_text_row_masked_out_mask). Tokens from the image token on see the real tiles only.
Generated tokens take the last prompt row's mask. Cross-attention layers replace the decoder
layers listed in cross_attention_layers.

1. Checks the reference itself against transformers' goldens (memory = golden
   cross_attention_states; logits within 1e-4 * max|logit|, the 8 greedy ids exact).
2. For the prompt below (BOS, text, <|image|>, text) computes the logits of every position and 8
   greedy ids, and either writes them (--write: tests/fixtures/mllama_masked/<case>.safetensors,
   read by tests/model/test_family_mllama.c) or checks the shipped fixture against them.
Exits non-zero on any miss.
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nvlm_ref as R  # noqa: E402
import st_io  # noqa: E402

REL_TOL = 1e-4
BOS, IMAGE = 256, 300
# Raw prompt "Look at this:<image> what is it?" as MllamaProcessor expands it (BOS first since
# the text does not start with the image); the byte-level vocabulary maps bytes to ids 0..255.
PROMPT_IDS = [BOS] + list(b"Look at this:") + [IMAGE] + list(b" what is it?")
CASES = ("mllama", "mllama_wide")
failures = []


class Cfg:
    def __init__(self, tc):
        self.hidden = tc["hidden_size"]
        self.layers = tc["num_hidden_layers"]
        self.heads = tc["num_attention_heads"]
        self.kv_heads = tc.get("num_key_value_heads") or self.heads
        self.head_dim = self.hidden // self.heads
        self.vocab = tc["vocab_size"]
        self.eps = tc.get("rms_norm_eps", 1e-5)
        self.rope_theta = tc.get("rope_theta", 500000.0)
        self.rope_scaling = tc.get("rope_scaling")
        self.max_pos = tc.get("max_position_embeddings", 131072)
        self.tied = False
        self.lm_bias = False
        self.cross = tc["cross_attention_layers"]


def all_key_attention(q, k, v):
    """Attention of every row over every key (the reset mask row)."""
    allowed = torch.ones(q.shape[0], k.shape[0], dtype=torch.bool)
    return R.attention(q, k, v, allowed)


def cross_layer(cfg, w, l, h, memory, sees):
    """MllamaCrossAttentionDecoderLayer on rows h; sees [N, M] bool (real tiles of rows that
    see the image; all False for rows before it)."""
    pre = f"language_model.model.layers.{l}."
    g = lambda n: w[pre + n]  # noqa: E731
    M = memory.shape[0]
    k = R.linear(memory, g("cross_attn.k_proj.weight")).reshape(M, cfg.kv_heads, cfg.head_dim)
    k = R.rms_norm(k, g("cross_attn.k_norm.weight"), cfg.eps)
    v = R.linear(memory, g("cross_attn.v_proj.weight")).reshape(M, cfg.kv_heads, cfg.head_dim)
    a = R.rms_norm(h, g("input_layernorm.weight"), cfg.eps)
    q = R.linear(a, g("cross_attn.q_proj.weight")).reshape(h.shape[0], cfg.heads, cfg.head_dim)
    q = R.rms_norm(q, g("cross_attn.q_norm.weight"), cfg.eps)
    row = sees.any(-1)
    o = torch.where(row[:, None], R.attention(q, k, v, sees), all_key_attention(q, k, v))
    h = h + torch.tanh(g("cross_attn_attn_gate")) * R.linear(o, g("cross_attn.o_proj.weight"))
    b = R.rms_norm(h, g("post_attention_layernorm.weight"), cfg.eps)
    mlp = R.linear(R.silu(R.linear(b, g("mlp.gate_proj.weight"))) * R.linear(b, g("mlp.up_proj.weight")),
                   g("mlp.down_proj.weight"))
    return h + torch.tanh(g("cross_attn_mlp_gate")) * row.float()[:, None] * mlp


def forward(cfg, lm, w, ids, memory, real_keys):
    """Logits [N, V] of the whole sequence (no cache)."""
    N = len(ids)
    positions = list(range(N))
    inv = lm.inv_freq(N)
    first = ids.index(IMAGE) if IMAGE in ids else N
    sees = torch.zeros(N, memory.shape[0], dtype=torch.bool)
    sees[first:, :real_keys] = True
    h = lm.embed(ids)
    for l in range(cfg.layers):
        if l in cfg.cross:
            h = cross_layer(cfg, w, l, h, memory, sees)
        else:
            h, _ = lm.layer(l, h, positions, None, inv)
    return lm.logits(h)


def greedy(cfg, lm, w, ids, memory, real_keys, steps=8):
    seq = list(ids)
    for _ in range(steps):
        seq.append(int(torch.argmax(forward(cfg, lm, w, seq, memory, real_keys)[-1])))
    return seq


def compare(label, got, want):
    err = (got - want).abs().max().item()
    tol = REL_TOL * want.abs().max().item()
    ok = err <= tol
    print(f"  {label:40s} max|err| {err:.3e}  tol {tol:.3e}  {'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(label)


def run_case(golden_dir, case, write_dir, fixture_dir):
    import json
    d = os.path.join(golden_dir, "hf", case)
    with open(os.path.join(d, "model", "config.json")) as f:
        cfg = Cfg(json.load(f)["text_config"])
    w = {k: v.float() for k, v in st_io.read_model(os.path.join(d, "model")).items()}
    lm = R.LM(cfg, w, "d")
    g = st_io.read_file(os.path.join(d, "golden.safetensors"))
    cross = g["cross_attention_states"].float()
    tiles, per_tile = cross.shape[2], cross.shape[3]
    memory = cross.reshape(tiles * per_tile, -1)
    real_keys = int(g["in_aspect_ratio_mask"].sum()) * per_tile
    # 1. the reference against transformers
    ids = g["in_input_ids"][0].tolist()
    compare(f"{case} golden prompt logits", forward(cfg, lm, w, ids, memory, real_keys),
            g["logits"][0].float())
    if greedy(cfg, lm, w, ids, memory, real_keys) != g["generated_ids"][0].tolist():
        failures.append(f"{case} golden greedy ids")
        print(f"  {case} golden greedy ids FAIL")
    # 2. text before the image
    logits = forward(cfg, lm, w, PROMPT_IDS, memory, real_keys)
    gen = greedy(cfg, lm, w, PROMPT_IDS, memory, real_keys)
    out = {"input_ids": torch.tensor(PROMPT_IDS, dtype=torch.int64),
           "logits": logits.float().contiguous(),
           "generated_ids": torch.tensor(gen, dtype=torch.int64)}
    path_name = f"{case}.safetensors"
    if write_dir:
        os.makedirs(write_dir, exist_ok=True)
        st_io.write_file(os.path.join(write_dir, path_name), out)
        print(f"  wrote {path_name}: ids {gen}")
        return
    shipped = st_io.read_file(os.path.join(fixture_dir, path_name))
    compare(f"{case} text-before-image logits", out["logits"], shipped["logits"].float())
    for name in ("input_ids", "generated_ids"):
        if shipped[name].tolist() != out[name].tolist():
            failures.append(f"{case} {name}")
            print(f"  {case} {name} differ from the fixture")


def main():
    torch.set_num_threads(1)
    golden_dir = os.environ.get("NV_GOLDEN_DIR")
    write_dir = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--write" else None
    if not golden_dir or not os.path.isdir(os.path.join(golden_dir, "hf")):
        # As a test (no --write) this is a skip: the reference data is laid
        # beside the checkout, not shipped with it.
        print(f"{'' if write_dir else 'SKIP: '}mllama_masked: reference data not found at "
              f"{golden_dir!r} (NV_GOLDEN_DIR; ../shared/golden beside the checkout, see README.md)")
        return 1 if write_dir else 77
    fixture_dir = os.path.join(HERE, "..", "..", "tests", "fixtures", "mllama_masked")
    for case in CASES:
        run_case(golden_dir, case, write_dir, fixture_dir)
    if failures:
        print("mllama_masked: FAILED: " + ", ".join(failures))
        return 1
    print("mllama_masked: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
