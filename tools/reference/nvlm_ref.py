"""nvlm_ref.py - plain-PyTorch float32 reference of the nvlm model format (docs/model-format.md).

InternViT (OpenGVLab and NVIDIA's 7-dummy-head variant), pixel shuffle v2, the mlp1-style
projectors, a Qwen2/Llama decoder (RMSNorm, RoPE default/linear/llama3/dynamic, GQA, SwiGLU,
optional qkv bias, tied or untied head), the gated cross-attention block, the D/X/H heads
and greedy generation with or without a KV cache. Written from the document, not from any
upstream modeling code; no transformers dependency.
"""
import json
import math
import os

import torch

import prompt as P
import st_io
from bpe import Tokenizer

NVIDIA_DUMMY_HEADS = 7


# ---------------------------------------------------------------- small ops

def rms_norm(x, w, eps, var_width=None):
    """x / sqrt(mean(x[..., :var_width]^2) + eps) * w (var_width None = whole row)."""
    part = x if var_width is None else x[..., :var_width]
    var = part.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(var + eps) * w


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = (x - mean).pow(2).mean(-1, keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def silu(x):
    return x * torch.sigmoid(x)


def linear(x, w, b=None):
    y = x @ w.t()
    return y if b is None else y + b


def attention(q, k, v, allowed):
    """q [Nq, heads, d], k/v [Nk, kv_heads, d], allowed [Nq, Nk] bool -> [Nq, heads*d].
    Rows with no allowed key give 0 (callers mask them anyway)."""
    heads, d = q.shape[1], q.shape[2]
    group = heads // k.shape[1]
    out = torch.zeros(q.shape[0], heads, d)
    live = allowed.any(-1)
    if not bool(live.any()):
        return out.reshape(q.shape[0], heads * d)
    for m in range(heads):
        km, vm = k[:, m // group, :], v[:, m // group, :]
        scores = (q[:, m, :] @ km.t()) / math.sqrt(d)
        scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores[live], dim=-1)
        out[live, m, :] = probs @ vm
    return out.reshape(q.shape[0], heads * d)


# ---------------------------------------------------------------- config

class Config:
    def __init__(self, raw):
        self.raw = raw
        vc, lc = raw["vision_config"], raw["llm_config"]
        arch = (raw.get("architectures") or [""])[0]
        self.nvidia_vit = arch == "NVLM_D_Model" or raw.get("model_type") == "NVLM_D"
        self.v_hidden = vc["hidden_size"]
        self.v_heads = vc["num_attention_heads"]
        self.v_layers = vc["num_hidden_layers"]
        self.patch = vc["patch_size"]
        self.image_size = vc["image_size"]
        self.v_norm = "rms_norm" if self.nvidia_vit else vc.get("norm_type", "layer_norm")
        self.v_eps = vc.get("layer_norm_eps", 1e-6)
        self.qk_norm = bool(vc.get("qk_normalization", False))
        self.qkv_bias = bool(vc.get("qkv_bias", False)) and not self.nvidia_vit
        self.dummy_heads = NVIDIA_DUMMY_HEADS if self.nvidia_vit else 0
        if raw.get("force_image_size", self.image_size) != self.image_size:
            raise ValueError("config.json: force_image_size differs from vision_config.image_size")
        if raw.get("downsample_ratio", 0.5) != 0.5 or raw.get("ps_version", "v2") != "v2":
            raise ValueError("config.json: only downsample_ratio 0.5 with ps_version v2")
        self.select_layer = raw.get("select_layer", -1)
        if not -self.v_layers <= self.select_layer <= -1:
            raise ValueError("config.json: select_layer out of range")
        self.template = raw.get("template", "chatml")
        self.grid = self.image_size // self.patch
        self.tokens_per_tile = (self.grid // 2) ** 2
        # Optional per-patch character probabilities beside the features (section 5.1).
        chars = raw.get("nvlm_char_probs")
        self.char_classes = self.char_slots = 0
        if chars is not None:
            self.char_classes, self.char_slots = chars.get("classes"), chars.get("slots")
            self.char_eps = chars.get("layer_norm_eps", 1e-5)
            if (not isinstance(self.char_classes, int) or not isinstance(self.char_slots, int)
                    or self.char_classes < 2 or self.char_slots < 1):
                raise ValueError("config.json: nvlm_char_probs needs classes >= 2 and slots >= 1")
        self.char_width = self.char_classes * self.char_slots

        self.hidden = lc["hidden_size"]
        self.layers = lc["num_hidden_layers"]
        self.heads = lc["num_attention_heads"]
        self.kv_heads = lc.get("num_key_value_heads") or self.heads
        self.head_dim = lc.get("head_dim") or self.hidden // self.heads
        self.vocab = lc["vocab_size"]
        self.eps = lc.get("rms_norm_eps", 1e-6)
        self.rope_theta = lc.get("rope_theta", 10000.0)
        self.rope_scaling = lc.get("rope_scaling")
        self.max_pos = lc.get("max_position_embeddings", 2048)
        self.tied = bool(lc.get("tie_word_embeddings", False))
        model_type = lc.get("model_type", "qwen2")
        self.lm_bias = model_type == "qwen2" or bool(lc.get("attention_bias", False))

        self.heads_cfg = raw.get("nvlm_heads") or {"d": {}}
        for name, settings in self.heads_cfg.items():
            if name not in ("d", "x", "h"):
                raise ValueError(f"config.json: unknown head {name!r}")
            if name != "d":
                xl = settings.get("xattn_layers")
                if (not xl or any(not 0 <= l < self.layers for l in xl)
                        or any(a >= b for a, b in zip(xl, xl[1:]))):
                    raise ValueError(f"config.json: head {name}: bad xattn_layers {xl}")
                if self.template != "chatml":
                    raise ValueError(f"config.json: head {name} needs template chatml")
        self.default_head = raw.get("nvlm_default_head") or (
            "d" if "d" in self.heads_cfg else next(iter(self.heads_cfg)))


# ---------------------------------------------------------------- vision

class Vision:
    def __init__(self, cfg, w):
        self.cfg = cfg
        self.w = w

    def hidden_states(self, pixel_values, all_layers=False):
        """Hidden states [x_0, after layer 0, ...] up to the selected layer (or all layers)."""
        cfg, w = self.cfg, self.w
        pre = "vision_model."
        n = pixel_values.shape[0]
        C, p, g = cfg.v_hidden, cfg.patch, cfg.grid
        # patch embedding as a matmul over flattened (channel, y, x) patches
        patches = pixel_values.reshape(n, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(n, g * g, 3 * p * p)
        pw = w[pre + "embeddings.patch_embedding.weight"].reshape(C, 3 * p * p)
        emb = linear(patches, pw, w[pre + "embeddings.patch_embedding.bias"])
        cls = w[pre + "embeddings.class_embedding"].reshape(1, 1, C).expand(n, 1, C)
        x = torch.cat([cls, emb], dim=1) + w[pre + "embeddings.position_embedding"].reshape(1, g * g + 1, C)
        states = [x]
        used_layers = cfg.v_layers if all_layers else cfg.v_layers + 1 + cfg.select_layer
        for i in range(used_layers):
            x = self._layer(x, f"{pre}encoder.layers.{i}.")
            states.append(x)
        return states

    def _norm(self, x, pre):
        cfg, w = self.cfg, self.w
        if cfg.v_norm == "layer_norm":
            return layer_norm(x, w[pre + "weight"], w[pre + "bias"], cfg.v_eps)
        return rms_norm(x, w[pre + "weight"], cfg.v_eps)

    def _layer(self, x, pre):
        w = self.w
        x = x + w[pre + "ls1"] * self._attn(self._norm(x, pre + "norm1."), pre + "attn.")
        y = self._norm(x, pre + "norm2.")
        y = linear(gelu(linear(y, w[pre + "mlp.fc1.weight"], w[pre + "mlp.fc1.bias"])),
                   w[pre + "mlp.fc2.weight"], w[pre + "mlp.fc2.bias"])
        return x + w[pre + "ls2"] * y

    def _attn(self, y, pre):
        cfg, w = self.cfg, self.w
        C = cfg.v_hidden
        dv = C // cfg.v_heads
        all_heads = cfg.v_heads + cfg.dummy_heads
        wide = all_heads * dv
        qkv = linear(y, w[pre + "qkv.weight"], w[pre + "qkv.bias"] if cfg.qkv_bias else None)
        q, k, v = qkv[..., :wide], qkv[..., wide:2 * wide], qkv[..., 2 * wide:]
        if cfg.qk_norm:
            var_width = C if cfg.nvidia_vit else None
            q = rms_norm(q, w[pre + "q_norm.weight"], cfg.v_eps, var_width)
            k = rms_norm(k, w[pre + "k_norm.weight"], cfg.v_eps, var_width)
        n, N = y.shape[0], y.shape[1]
        q = q.reshape(n, N, all_heads, dv).transpose(1, 2)
        k = k.reshape(n, N, all_heads, dv).transpose(1, 2)
        v = v.reshape(n, N, all_heads, dv).transpose(1, 2)
        probs = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(dv), dim=-1)
        o = (probs @ v).transpose(1, 2).reshape(n, N, wide)
        return linear(o, w[pre + "proj.weight"], w[pre + "proj.bias"])


def char_probabilities(cfg, w, features):
    """features [n, g*g+1, C] (CLS first) -> [n, g*g+1, C + S*K]: each patch row gets the
    softmax (per slot of K classes) of char_head.proj(LayerNorm(row)) appended; the CLS row
    gets zeros, which pixel_shuffle drops (section 5.1)."""
    pre = "vision_model.char_head."
    rows = layer_norm(features[:, 1:], w[pre + "norm.weight"], w[pre + "norm.bias"], cfg.char_eps)
    logits = linear(rows, w[pre + "proj.weight"], w[pre + "proj.bias"])
    n, N = logits.shape[0], logits.shape[1]
    probs = torch.softmax(logits.reshape(n, N, cfg.char_slots, cfg.char_classes), dim=-1)
    probs = torch.cat([torch.zeros(n, 1, cfg.char_width), probs.reshape(n, N, cfg.char_width)], 1)
    return torch.cat([features, probs], dim=-1)


def pixel_shuffle(features, grid):
    """features [n, g*g+1, C] (CLS first) -> [n, (g/2)^2, 4C], section 5."""
    n, C = features.shape[0], features.shape[2]
    f = features[:, 1:, :].reshape(n, grid, grid, C)
    half = grid // 2
    out = torch.empty(n, half, half, 4 * C)
    for i in range(half):
        for j in range(half):
            out[:, i, j, :] = torch.cat([f[:, 2 * i, 2 * j], f[:, 2 * i, 2 * j + 1],
                                         f[:, 2 * i + 1, 2 * j], f[:, 2 * i + 1, 2 * j + 1]], dim=-1)
    return out.reshape(n, half * half, 4 * C)


def projector(w, prefix, s):
    x = layer_norm(s, w[prefix + ".0.weight"], w[prefix + ".0.bias"], 1e-5)
    x = gelu(linear(x, w[prefix + ".1.weight"], w.get(prefix + ".1.bias")))
    return linear(x, w[prefix + ".3.weight"], w.get(prefix + ".3.bias"))


# ---------------------------------------------------------------- language model

class LM:
    """Decoder LM of one head: language_model.* with that head's per-tensor overrides."""

    def __init__(self, cfg, w, head):
        self.cfg = cfg
        base, over = "language_model.", head + "_language_model."
        self.w = {k[len(base):]: v for k, v in w.items() if k.startswith(base)}
        for k, v in w.items():
            if k.startswith(over):
                rest = k[len(over):]
                if rest not in self.w or self.w[rest].shape != v.shape:
                    raise ValueError(f"override {k} does not match a language_model tensor")
                self.w[rest] = v
        if "lm_head.weight" not in self.w:
            if not cfg.tied:
                raise ValueError("language_model.lm_head.weight missing and embeddings not tied")
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]

    def embed(self, ids):
        return self.w["model.embed_tokens.weight"][torch.as_tensor(ids, dtype=torch.long)]

    def inv_freq(self, seq_len):
        cfg = self.cfg
        d = cfg.head_dim
        base = cfg.rope_theta
        sc = cfg.rope_scaling or {}
        kind = sc.get("rope_type", sc.get("type", "default"))
        if kind == "dynamic" and seq_len > cfg.max_pos:
            f = sc["factor"]
            base = base * ((f * seq_len / cfg.max_pos) - (f - 1)) ** (d / (d - 2))
        inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        if kind == "linear":
            inv = inv / sc["factor"]
        elif kind == "llama3":
            f, lf, hf = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
            old = sc["original_max_position_embeddings"]
            wl = 2 * math.pi / inv
            smooth = (old / wl - lf) / (hf - lf)
            mid = (1 - smooth) * inv / f + smooth * inv
            inv = torch.where(wl < old / hf, inv, torch.where(wl > old / lf, inv / f, mid))
        elif kind not in ("default", "dynamic"):
            raise ValueError(f"unknown rope_scaling type {kind!r}")
        return inv.float()

    def rope(self, x, positions, inv):
        """x [N, heads, d]; rotate-half layout."""
        ang = torch.as_tensor(positions, dtype=torch.float32)[:, None] * inv[None, :]
        cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    def layer(self, l, h, positions, cache, inv):
        """One decoder layer on new rows h at positions; cache = (K, V) of earlier rows or None."""
        cfg, w = self.cfg, self.w
        pre = f"model.layers.{l}."
        a = rms_norm(h, w[pre + "input_layernorm.weight"], cfg.eps)
        bias = (lambda name: w[pre + name]) if cfg.lm_bias else (lambda name: None)
        q = linear(a, w[pre + "self_attn.q_proj.weight"], bias("self_attn.q_proj.bias"))
        k = linear(a, w[pre + "self_attn.k_proj.weight"], bias("self_attn.k_proj.bias"))
        v = linear(a, w[pre + "self_attn.v_proj.weight"], bias("self_attn.v_proj.bias"))
        N = h.shape[0]
        q = self.rope(q.reshape(N, cfg.heads, cfg.head_dim), positions, inv)
        k = self.rope(k.reshape(N, cfg.kv_heads, cfg.head_dim), positions, inv)
        v = v.reshape(N, cfg.kv_heads, cfg.head_dim)
        if cache is not None:
            k, v = torch.cat([cache[0], k]), torch.cat([cache[1], v])
        past = k.shape[0] - N
        allowed = torch.arange(k.shape[0])[None, :] <= (past + torch.arange(N))[:, None]
        o = attention(q, k, v, allowed)
        h = h + linear(o, w[pre + "self_attn.o_proj.weight"])
        b = rms_norm(h, w[pre + "post_attention_layernorm.weight"], cfg.eps)
        mlp = linear(silu(linear(b, w[pre + "mlp.gate_proj.weight"])) * linear(b, w[pre + "mlp.up_proj.weight"]),
                     w[pre + "mlp.down_proj.weight"])
        return h + mlp, (k, v)

    def logits(self, h):
        return linear(rms_norm(h, self.w["model.norm.weight"], self.cfg.eps), self.w["lm_head.weight"])


class XAttn:
    """Gated cross-attention block (section 6.2)."""

    def __init__(self, cfg, w, prefix):
        self.cfg = cfg
        self.w = {k[len(prefix):]: v for k, v in w.items() if k.startswith(prefix)}

    def memory_kv(self, memory):
        cfg, w = self.cfg, self.w
        M = memory.shape[0]
        k = linear(memory, w["k_proj.weight"]).reshape(M, cfg.kv_heads, cfg.head_dim)
        k = rms_norm(k, w["k_norm.weight"], cfg.eps)
        v = linear(memory, w["v_proj.weight"]).reshape(M, cfg.kv_heads, cfg.head_dim)
        return k, v

    def forward(self, h, kv, allowed):
        cfg, w = self.cfg, self.w
        row = allowed.any(-1).float()[:, None]
        a = rms_norm(h, w["input_layernorm.weight"], cfg.eps)
        q = linear(a, w["q_proj.weight"]).reshape(h.shape[0], cfg.heads, cfg.head_dim)
        q = rms_norm(q, w["q_norm.weight"], cfg.eps)
        o = attention(q, kv[0], kv[1], allowed)
        h = h + torch.tanh(w["attn_gate"]) * row * linear(o, w["o_proj.weight"])
        b = rms_norm(h, w["post_attention_layernorm.weight"], cfg.eps)
        mlp = linear(silu(linear(b, w["mlp.gate_proj.weight"])) * linear(b, w["mlp.up_proj.weight"]),
                     w["mlp.down_proj.weight"])
        return h + torch.tanh(w["mlp_gate"]) * row * mlp


# ---------------------------------------------------------------- model and heads

class Model:
    def __init__(self, directory, weights=None, tokenizer=None):
        with open(os.path.join(directory, "config.json")) as f:
            self.cfg = Config(json.load(f))
        self.w = weights if weights is not None else st_io.read_model(directory)
        self.w = {k: v.float() for k, v in self.w.items()}
        self.tok = tokenizer if tokenizer is not None else Tokenizer.load(directory)
        self.vision = Vision(self.cfg, self.w)

    def head_parts(self, head):
        if head not in self.cfg.heads_cfg:
            raise ValueError(f"head {head!r} not in this model")
        lm = LM(self.cfg, self.w, head)
        proj = {"d": "mlp1", "x": "x_mlp1", "h": "h_mlp1"}[head]
        layers = self.cfg.heads_cfg[head].get("xattn_layers", [])
        blocks = {l: XAttn(self.cfg, self.w, f"{head}_xattn.{j}.") for j, l in enumerate(layers)}
        return lm, proj, blocks

    def encode_image(self, pixel_values, head):
        """Returns dict with vision_features, pixel_shuffle_output, projector_output."""
        states = self.vision.hidden_states(pixel_values)
        feats = states[-1]
        out = {"vision_hidden_states": torch.stack(states), "vision_features": feats}
        if self.cfg.char_width:
            feats = char_probabilities(self.cfg, self.w, feats)
            out["char_probabilities"] = feats[:, 1:, self.cfg.v_hidden:]
        ps = pixel_shuffle(feats, self.cfg.grid)
        _, proj, _ = self.head_parts(head)
        out.update({"pixel_shuffle_output": ps, "projector_output": projector(self.w, proj, ps)})
        return out

    def build_prompt(self, head, n, question):
        T = self.cfg.tokens_per_tile
        if head == "d":
            return P.prompt_d(self.tok, self.cfg.template, n, T, question)
        if head == "x":
            return P.prompt_x(self.tok, n, question)
        return P.prompt_h(self.tok, n, T, question)

    def prepare(self, head, ids, prompt, image):
        """Input embeddings and cross-attention memory for a prompt (section 8 / 9)."""
        lm, _, _ = self.head_parts(head)
        h0 = lm.embed(ids)
        Z = image["projector_output"] if image is not None else None
        memory, tile_of_key = None, None
        if Z is not None and head == "d":
            h0[prompt.image_positions] = Z.reshape(-1, Z.shape[-1])
        elif Z is not None and head == "x":
            memory = Z.reshape(-1, Z.shape[-1])
            tile_of_key = torch.arange(Z.shape[0]).repeat_interleave(Z.shape[1])
        elif Z is not None and head == "h":
            h0[prompt.image_positions] = Z[-1]
            parts = []
            for k, tag_ids in enumerate(P.h_memory_tag_ids(self.tok, Z.shape[0])):
                parts += [lm.embed(tag_ids), Z[k]]
            memory = torch.cat(parts) if parts else None
        return h0, memory, tile_of_key

    def cross_mask(self, rules, memory, tile_of_key):
        M = memory.shape[0]
        rows = []
        for r in rules:
            if r == P.ROW_NONE:
                rows.append(torch.zeros(M, dtype=torch.bool))
            elif r == P.ROW_ALL:
                rows.append(torch.ones(M, dtype=torch.bool))
            else:
                rows.append(tile_of_key == r)
        return torch.stack(rows)


class Session:
    """One head run over one prompt: prefill, then greedy steps with or without a KV cache."""

    def __init__(self, model, head, prompt, image):
        self.model, self.head, self.prompt = model, head, prompt
        self.lm, _, self.blocks = model.head_parts(head)
        self.h0, self.memory, self.tile_of_key = model.prepare(head, prompt.ids, prompt, image)
        self.xkv = {}
        if self.memory is not None and self.memory.shape[0] > 0:
            self.xkv = {l: b.memory_kv(self.memory) for l, b in self.blocks.items()}

    def _run(self, h, positions, rules, caches):
        inv = self.lm.inv_freq(int(max(positions)) + 1)
        new_caches = []
        for l in range(self.model.cfg.layers):
            if l in self.xkv:
                allowed = self.model.cross_mask(rules, self.memory, self.tile_of_key)
                h = self.blocks[l].forward(h, self.xkv[l], allowed)
            h, kv = self.lm.layer(l, h, positions, caches[l] if caches else None, inv)
            new_caches.append(kv)
        return self.lm.logits(h), new_caches

    def prompt_rules(self):
        return self.prompt.row_rule or [P.ROW_NONE] * len(self.prompt.ids)

    def gen_rule(self):
        return P.ROW_ALL if self.xkv else P.ROW_NONE

    def prefill(self):
        ids = self.prompt.ids
        return self._run(self.h0, list(range(len(ids))), self.prompt_rules(), None)

    def generate(self, steps, use_cache=True):
        """Greedy ids after the prompt; also returns the prefill logits."""
        logits, caches = self.prefill()
        first_logits = logits
        ids = list(self.prompt.ids)
        h_all, rules = self.h0, self.prompt_rules()
        for _ in range(steps):
            nxt = int(torch.argmax(logits[-1]))
            ids.append(nxt)
            h_new = self.lm.embed([nxt])
            rules = rules + [self.gen_rule()]
            if use_cache:
                logits, caches = self._run(h_new, [len(ids) - 1], [self.gen_rule()], caches)
            else:
                h_all = torch.cat([h_all, h_new])
                logits, _ = self._run(h_all, list(range(len(ids))), rules, None)
        return ids, first_logits
