"""Batched training model of the nvlm format: the reference's math (tools/reference/nvlm_ref.py,
docs/model-format.md sections 4-9) over a padded batch, with trainable tensors named exactly
as in model.safetensors, so what is trained is what the C runtime runs.

Functional style: `weights` is a dict name -> tensor (Parameters while training). A batch is
built by `make_batch` from per-sample (tiles, question, answer) with the prompt of
tools/reference/prompt.py (the runtime's prompt), the answer's ids and `<|im_end|>` appended.
Checked by tools/train/selftest_nvlm_train.py against the tiny_nvlm fixture goldens.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))

import prompt as P  # noqa: E402
from bpe import Tokenizer, bytes_to_unicode, qwen2_tokenizer_json  # noqa: E402
from nvlm_ref import Config  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_pad|>"]
PROJ = {"d": "mlp1", "x": "x_mlp1", "h": "h_mlp1"}


# ---------------------------------------------------------------- config

class Cfg(Config):
    """nvlm_ref.Config (the same parsing and checks of config.json), plus what only training
    needs: the MLP width, and a refusal of rope scaling, which the batched RoPE here lacks."""

    def __init__(self, raw):
        super().__init__(raw)
        if self.rope_scaling:
            raise ValueError("nvlm_train: rope_scaling is not supported for training")
        self.intermediate = raw["llm_config"]["intermediate_size"]


# ---------------------------------------------------------------- small ops

def rms_norm(x, w, eps, var_width=None):
    part = x if var_width is None else x[..., :var_width]
    return x * torch.rsqrt(part.pow(2).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def gelu(x):
    return F.gelu(x)  # exact erf form (approximate="none")


def attend(q, k, v, allowed, probe=None):
    """q [B,h,Nq,d], k/v [B,h,Nk,d], allowed [B,1|h,Nq,Nk] bool or None (=all) -> [B,h,Nq,d].
    Every row must allow at least one key (callers see to it). probe: a list that gets the
    probabilities [B,h,Nq,Nk] appended (the fused kernel does not expose them)."""
    if probe is None and hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    # Scaling q (N x d) rather than the scores (N x N): the same maths, and on torch 1.13's
    # CPU build the N x N division was 11 % of a training step.
    scores = (q * (1.0 / math.sqrt(q.shape[-1]))) @ k.transpose(-1, -2)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    if probe is not None:
        probe.append(probs)
    return probs @ v


# ---------------------------------------------------------------- vision

def vit_features(w, cfg, pixels):
    """pixels [n,3,S,S] (normalised) -> hidden state at select_layer [n, g*g+1, C]."""
    pre = "vision_model."
    n, C, p, g = pixels.shape[0], cfg.v_hidden, cfg.patch, cfg.grid
    emb = F.conv2d(pixels, w[pre + "embeddings.patch_embedding.weight"],
                   w[pre + "embeddings.patch_embedding.bias"], stride=p)
    emb = emb.flatten(2).transpose(1, 2)
    cls = w[pre + "embeddings.class_embedding"].reshape(1, 1, C).expand(n, 1, C)
    x = torch.cat([cls, emb], 1) + w[pre + "embeddings.position_embedding"].reshape(1, g * g + 1, C)
    for i in range(cfg.v_layers + 1 + cfg.select_layer):
        lp = "%sencoder.layers.%d." % (pre, i)
        x = x + w[lp + "ls1"] * _vit_attn(w, cfg, _vit_norm(w, cfg, x, lp + "norm1."), lp + "attn.")
        y = _vit_norm(w, cfg, x, lp + "norm2.")
        y = F.linear(gelu(F.linear(y, w[lp + "mlp.fc1.weight"], w[lp + "mlp.fc1.bias"])),
                     w[lp + "mlp.fc2.weight"], w[lp + "mlp.fc2.bias"])
        x = x + w[lp + "ls2"] * y
    return x


def _vit_norm(w, cfg, x, pre):
    if cfg.v_norm == "layer_norm":
        return layer_norm(x, w[pre + "weight"], w[pre + "bias"], cfg.v_eps)
    return rms_norm(x, w[pre + "weight"], cfg.v_eps)


def _vit_attn(w, cfg, y, pre):
    C = cfg.v_hidden
    dv = C // cfg.v_heads
    heads = cfg.v_heads + cfg.dummy_heads
    wide = heads * dv
    qkv = F.linear(y, w[pre + "qkv.weight"], w[pre + "qkv.bias"] if cfg.qkv_bias else None)
    q, k, v = qkv[..., :wide], qkv[..., wide:2 * wide], qkv[..., 2 * wide:]
    if cfg.qk_norm:
        width = C if cfg.nvidia_vit else None
        q = rms_norm(q, w[pre + "q_norm.weight"], cfg.v_eps, width)
        k = rms_norm(k, w[pre + "k_norm.weight"], cfg.v_eps, width)
    n, N = y.shape[0], y.shape[1]
    q, k, v = (t.reshape(n, N, heads, dv).transpose(1, 2) for t in (q, k, v))
    o = attend(q, k, v, None).transpose(1, 2).reshape(n, N, wide)
    return F.linear(o, w[pre + "proj.weight"], w[pre + "proj.bias"])


def pixel_shuffle(features, grid):
    """[n, g*g+1, C] (CLS first) -> [n, (g/2)^2, 4C]: token (i,j) = f[2i,2j], f[2i,2j+1],
    f[2i+1,2j], f[2i+1,2j+1] concatenated (section 5)."""
    n, C, half = features.shape[0], features.shape[2], grid // 2
    f = features[:, 1:].reshape(n, half, 2, half, 2, C).permute(0, 1, 3, 2, 4, 5)
    return f.reshape(n, half * half, 4 * C)


def char_probabilities(w, cfg, hidden):
    """hidden [n, g*g+1, C] -> [n, g*g+1, C + S*K]: stage 1's per-patch character
    probabilities (config nvlm_char_probs, tensors vision_model.char_head.*; softmax per
    slot of K classes) appended to each patch row; the CLS row gets zeros, which
    pixel_shuffle drops (docs/model-format.md section 5.1)."""
    pre = "vision_model.char_head."
    C, K, SK = hidden.shape[-1], cfg.char_classes, cfg.char_width
    y = F.layer_norm(hidden[:, 1:], (C,), w[pre + "norm.weight"], w[pre + "norm.bias"],
                     cfg.char_eps)
    logits = F.linear(y, w[pre + "proj.weight"], w[pre + "proj.bias"])
    n, N = logits.shape[0], logits.shape[1]
    probs = torch.softmax(logits.reshape(n, N, SK // K, K), -1).reshape(n, N, SK)
    probs = torch.cat([probs.new_zeros(n, 1, SK), probs], 1)
    return torch.cat([hidden, probs.to(hidden.dtype)], -1)


def shuffled_features(vit_w, cfg, pixels):
    """What a projector takes: pixel-shuffled ViT features [n, (g/2)^2, 4C'], C' = C plus
    the character probabilities when the config has them."""
    hidden = vit_features(vit_w, cfg, pixels)
    if cfg.char_width:
        hidden = char_probabilities(vit_w, cfg, hidden)
    return pixel_shuffle(hidden, cfg.grid)


def projector(w, prefix, s):
    x = layer_norm(s, w[prefix + ".0.weight"], w[prefix + ".0.bias"], 1e-5)
    x = gelu(F.linear(x, w[prefix + ".1.weight"], w.get(prefix + ".1.bias")))
    return F.linear(x, w[prefix + ".3.weight"], w.get(prefix + ".3.bias"))


def normalise_tiles(tiles_uint8, device):
    """uint8 [n,S,S,3] -> float [n,3,S,S] with ImageNet mean/std (section 7)."""
    x = tiles_uint8.to(device).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


# ---------------------------------------------------------------- language model

def lm_weights(w, head):
    """language_model.<rest> with the head's k_language_model.<rest> overrides, keyed by rest."""
    base, over = "language_model.", head + "_language_model."
    lm = {k[len(base):]: v for k, v in w.items() if k.startswith(base)}
    lm.update({k[len(over):]: v for k, v in w.items() if k.startswith(over)})
    if "lm_head.weight" not in lm:
        lm["lm_head.weight"] = lm["model.embed_tokens.weight"]
    return lm


def rope_tables(cfg, length, device):
    d = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = torch.arange(length, dtype=torch.float32, device=device)[:, None] * inv.float().to(device)[None]
    return torch.cos(ang), torch.sin(ang)


def rope(x, cos, sin):
    """x [B,h,N,d], rotate-half."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def swiglu(w, pre, b):
    return F.linear(F.silu(F.linear(b, w[pre + "gate_proj.weight"])) * F.linear(b, w[pre + "up_proj.weight"]),
                    w[pre + "down_proj.weight"])


def decoder_layer(lm, cfg, l, h, cos, sin, causal, probe=None):
    """probe: a list that gets this layer's attention probabilities [B,heads,N,N] appended
    (pointing.py supervises them)."""
    pre = "model.layers.%d." % l
    B, N, _ = h.shape
    a = rms_norm(h, lm[pre + "input_layernorm.weight"], cfg.eps)
    bias = (lambda name: lm[pre + name]) if cfg.lm_bias else (lambda name: None)
    q = F.linear(a, lm[pre + "self_attn.q_proj.weight"], bias("self_attn.q_proj.bias"))
    k = F.linear(a, lm[pre + "self_attn.k_proj.weight"], bias("self_attn.k_proj.bias"))
    v = F.linear(a, lm[pre + "self_attn.v_proj.weight"], bias("self_attn.v_proj.bias"))
    q = rope(q.reshape(B, N, cfg.heads, cfg.head_dim).transpose(1, 2), cos, sin)
    k = rope(k.reshape(B, N, cfg.kv_heads, cfg.head_dim).transpose(1, 2), cos, sin)
    v = v.reshape(B, N, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
    group = cfg.heads // cfg.kv_heads
    if group > 1:  # GQA: head m uses kv head m // group
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    o = attend(q, k, v, causal, probe).transpose(1, 2).reshape(B, N, cfg.heads * cfg.head_dim)
    h = h + F.linear(o, lm[pre + "self_attn.o_proj.weight"])
    b = rms_norm(h, lm[pre + "post_attention_layernorm.weight"], cfg.eps)
    return h + swiglu(lm, pre + "mlp.", b)


def xattn_block(w, cfg, pre, h, memory, allowed, probe=None):
    """Gated cross-attention (section 6.2). h [B,N,H], memory [B,M,H], allowed [B,N,M].
    probe: a list that gets the attention probabilities [B,heads,N,M] appended."""
    B, N, _ = h.shape
    M = memory.shape[1]
    row = allowed.any(-1)
    # A row that sees nothing attends to key 0 (finite output) and is masked out by `row`.
    safe = allowed | ((~row)[:, :, None] & (torch.arange(M, device=h.device) == 0)[None, None])
    a = rms_norm(h, w[pre + "input_layernorm.weight"], cfg.eps)
    q = F.linear(a, w[pre + "q_proj.weight"]).reshape(B, N, cfg.heads, cfg.head_dim)
    q = rms_norm(q, w[pre + "q_norm.weight"], cfg.eps).transpose(1, 2)
    k = F.linear(memory, w[pre + "k_proj.weight"]).reshape(B, M, cfg.kv_heads, cfg.head_dim)
    k = rms_norm(k, w[pre + "k_norm.weight"], cfg.eps).transpose(1, 2)
    v = F.linear(memory, w[pre + "v_proj.weight"]).reshape(B, M, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
    group = cfg.heads // cfg.kv_heads
    if group > 1:
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    o = attend(q, k, v, safe[:, None], probe)
    o = o.transpose(1, 2).reshape(B, N, cfg.heads * cfg.head_dim)
    rowf = row.to(h.dtype)[:, :, None]
    h = h + torch.tanh(w[pre + "attn_gate"]) * rowf * F.linear(o, w[pre + "o_proj.weight"])
    b = rms_norm(h, w[pre + "post_attention_layernorm.weight"], cfg.eps)
    return h + torch.tanh(w[pre + "mlp_gate"]) * rowf * swiglu(w, pre + "mlp.", b)


# ---------------------------------------------------------------- tokenizer and prompts

def byte_tokenizer_json():
    """tokenizer.json: ids 0..255 = bytes (GPT-2 byte-level alphabet), no merges, then the
    four special tokens; Qwen2 pre-tokeniser and NFC normaliser like tiny_nvlm's."""
    alphabet = bytes_to_unicode()
    return qwen2_tokenizer_json({alphabet[b]: b for b in range(256)}, [], SPECIALS)


def write_tokenizer(directory):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "tokenizer.json"), "w") as f:
        json.dump(byte_tokenizer_json(), f, ensure_ascii=False)
    return Tokenizer.load(directory)


class Prompter:
    """Prompt ids + per-row cross rules of each head, cached by (head, tiles, question)."""

    def __init__(self, tok, cfg):
        self.tok, self.cfg = tok, cfg
        self.cache = {}
        self.im_end = tok.added["<|im_end|>"]
        self.imgc = tok.added["<|vision_pad|>"]

    def prompt(self, head, n, question):
        key = (head, n, question)
        if key not in self.cache:
            T = self.cfg.tokens_per_tile
            if n == 0:
                pr = P.prompt_text_only(self.tok, question)
            elif head == "d":
                pr = P.prompt_d(self.tok, self.cfg.template, n, T, question)
            elif head == "x":
                pr = P.prompt_x(self.tok, n, question)
            else:
                pr = P.prompt_h(self.tok, n, T, question)
            rules = pr.row_rule or [P.ROW_NONE] * len(pr.ids)
            self.cache[key] = (pr.ids, rules)
        return self.cache[key]

    def answer_ids(self, answer):
        return self.tok.encode(answer) + [self.im_end]


def make_batch(prompter, head, samples, with_answers=True):
    """samples: list of (tiles uint8 [n,S,S,3] tensor or None, question, answer).
    Returns a dict of CPU tensors: ids [B,N] (right-padded with 0), labels [B,N] (-100 off
    target), rules [B,N] (cross rule of each row), n_tiles [B], tiles (all tiles stacked)."""
    rows, rules, labels, n_tiles, tiles = [], [], [], [], []
    for image, question, answer in samples:
        n = 0 if image is None else image.shape[0]
        ids, rule = prompter.prompt(head, n, question)
        target = prompter.answer_ids(answer) if with_answers else []
        seq = list(ids) + target
        gen_rule = P.ROW_NONE
        if n > 0 and (head == "x" or (head == "h" and n > 1)):
            gen_rule = P.ROW_ALL
        rows.append(seq)
        rules.append(list(rule) + [gen_rule] * len(target))
        lab = [-100] * len(seq)
        for t in range(len(ids) - 1, len(seq) - 1):
            lab[t] = seq[t + 1]
        labels.append(lab)
        n_tiles.append(n)
        if n:
            tiles.append(image)
    N = max(len(r) for r in rows)
    pad = lambda xs, v: [x + [v] * (N - len(x)) for x in xs]  # noqa: E731
    return {"ids": torch.tensor(pad(rows, 0)), "labels": torch.tensor(pad(labels, -100)),
            "rules": torch.tensor(pad(rules, P.ROW_NONE)), "n_tiles": torch.tensor(n_tiles),
            "lengths": torch.tensor([len(r) for r in rows]),
            "tiles": torch.cat(tiles) if tiles else None}


# ---------------------------------------------------------------- the whole head

def encode_tiles(w, cfg, head, pixels):
    """Projector output Z [n_all, T, H] of the head for normalised tiles."""
    return projector(w, PROJ[head], shuffled_features(w, cfg, pixels))


def head_forward(w, cfg, head, ids, rules, n_tiles, Z, tag_ids=None, probe=None):
    """Logits [B,N,V]. ids/rules [B,N] (device), n_tiles list of ints, Z [sum n, T, H] or None.
    tag_ids: for head h, {k: ids of "<tile_k>"}. probe: {"layer": l, "self": [], "xattn": j,
    "cross": []}: decoder layer l's attention probabilities are appended to "self", cross-
    attention block j's (x, h) to "cross" (pointing.py)."""
    lm = lm_weights(w, head)
    B, N = ids.shape
    dev = ids.device
    h = F.embedding(ids, lm["model.embed_tokens.weight"])
    memory, key_tile = None, None
    starts = [0]
    for n in n_tiles:
        starts.append(starts[-1] + n)
    if Z is not None and head == "d":
        mask = (ids == cfg.imgc)[:, :, None].expand_as(h)
        h = h.masked_scatter(mask, Z.reshape(-1, Z.shape[-1]).to(h.dtype))
    elif Z is not None and head == "h":
        thumbs = torch.stack([Z[starts[b + 1] - 1] for b in range(B) if n_tiles[b] > 0])
        mask = (ids == cfg.imgc)[:, :, None].expand_as(h)
        h = h.masked_scatter(mask, thumbs.reshape(-1, Z.shape[-1]).to(h.dtype))
    if Z is not None and head in ("x", "h"):
        parts, tiles_of = [], []
        for b in range(B):
            n = n_tiles[b]
            if head == "x":
                mem = Z[starts[b]:starts[b + 1]].reshape(-1, Z.shape[-1])
                kt = torch.arange(n, device=dev).repeat_interleave(Z.shape[1])
            else:
                pieces, kts = [], []
                for k in range(1, n):
                    tag = torch.tensor(tag_ids[k], device=dev)
                    pieces += [F.embedding(tag, lm["model.embed_tokens.weight"]), Z[starts[b] + k - 1]]
                    kts.append(torch.zeros(len(tag_ids[k]) + Z.shape[1], dtype=torch.long, device=dev))
                mem = torch.cat(pieces) if pieces else Z.new_zeros(0, Z.shape[-1])
                kt = torch.cat(kts) if kts else torch.zeros(0, dtype=torch.long, device=dev)
            parts.append(mem)
            tiles_of.append(kt)
        M = max(p.shape[0] for p in parts)
        if M > 0:
            memory = torch.stack([F.pad(p, (0, 0, 0, M - p.shape[0])) for p in parts])
            key_tile = torch.stack([F.pad(t, (0, M - t.shape[0]), value=-1) for t in tiles_of])
    allowed = None
    if memory is not None:
        valid = key_tile >= 0
        r = rules[:, :, None]
        allowed = ((r == P.ROW_ALL) & valid[:, None, :]) | ((r >= 0) & (r == key_tile[:, None, :]))
    cos, sin = rope_tables(cfg, N, dev)
    causal = torch.ones(N, N, dtype=torch.bool, device=dev).tril()[None, None]
    blocks = {l: j for j, l in enumerate(cfg.heads_cfg.get(head, {}).get("xattn_layers", []))}
    for l in range(cfg.layers):
        if l in blocks and allowed is not None:
            h = xattn_block(w, cfg, "%s_xattn.%d." % (head, blocks[l]), h, memory.to(h.dtype),
                            allowed, probe["cross"] if probe is not None
                            and probe["xattn"] == blocks[l] else None)
        h = decoder_layer(lm, cfg, l, h, cos.to(h.dtype), sin.to(h.dtype), causal,
                          probe["self"] if probe is not None and probe["layer"] == l else None)
    return F.linear(rms_norm(h, lm["model.norm.weight"], cfg.eps), lm["lm_head.weight"])


class Runner:
    """Binds config, tokenizer and weights; runs batches of one head."""

    def __init__(self, cfg_raw, tok, weights, device):
        self.cfg = Cfg(cfg_raw)
        self.tok = tok
        self.cfg.imgc = tok.added["<|vision_pad|>"]
        self.prompter = Prompter(tok, self.cfg)
        self.w = weights
        self.device = device
        self.tag_ids = {k: tok.encode("<tile_%d>" % k) for k in range(1, 64)}

    def logits(self, head, batch, pixels=None, probe=None):
        """pixels: normalised tiles [sum n,3,S,S] on device (None: from batch['tiles']).
        probe: see head_forward."""
        dev = self.device
        Z = None
        if pixels is not None:
            Z = encode_tiles(self.w, self.cfg, head, pixels)
        elif batch["tiles"] is not None:
            Z = self.encode(head, batch["tiles"])
        return head_forward(self.w, self.cfg, head, batch["ids"].to(dev), batch["rules"].to(dev),
                            [int(n) for n in batch["n_tiles"]], Z, self.tag_ids, probe)

    def encode(self, head, tiles):
        """Projector output of the batch's uint8 tiles (a subclass may hold cached ViT
        features there instead: tools/train/pointing.py)."""
        return encode_tiles(self.w, self.cfg, head, normalise_tiles(tiles, self.device))

    def loss(self, head, batch):
        logits = self.logits(head, batch)
        labels = batch["labels"].to(self.device)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                               ignore_index=-100)

    @torch.no_grad()
    def greedy(self, head, samples, max_new, pixels=None):
        """Greedy answers (ids, stopping after <|im_end|>) of samples (uint8 tiles, question, _);
        pixels: already normalised tiles instead. Recomputes the whole sequence each step
        (exact math, no KV cache) for the sequences not yet finished."""
        batch = make_batch(self.prompter, head, [(t, q, "") for t, q, _ in samples], False)
        dev = self.device
        Z = None
        if pixels is not None:
            Z = encode_tiles(self.w, self.cfg, head, pixels)
        elif batch["tiles"] is not None:
            Z = self.encode(head, batch["tiles"])
        n_tiles = [int(n) for n in batch["n_tiles"]]
        lengths = batch["lengths"].tolist()
        seqs = [batch["ids"][b, :lengths[b]].tolist() for b in range(len(samples))]
        rules = [batch["rules"][b, :lengths[b]].tolist() for b in range(len(samples))]
        gen_rule = []
        for n in n_tiles:
            live = n > 0 and (head == "x" or (head == "h" and n > 1))
            gen_rule.append(P.ROW_ALL if live else P.ROW_NONE)
        out = [[] for _ in samples]
        done = [False] * len(samples)
        starts = [0]
        for n in n_tiles:
            starts.append(starts[-1] + n)
        for _ in range(max_new):
            # only the unfinished sequences run again (padding comes after
            # each sequence, so under causal attention it changes nothing)
            live = [b for b in range(len(samples)) if not done[b]]
            N = max(len(seqs[b]) for b in live)
            ids = torch.tensor([seqs[b] + [0] * (N - len(seqs[b])) for b in live], device=dev)
            rl = torch.tensor([rules[b] + [P.ROW_NONE] * (N - len(rules[b])) for b in live],
                              device=dev)
            Zl = None if Z is None else torch.cat([Z[starts[b]:starts[b + 1]] for b in live])
            if Zl is not None and Zl.shape[0] == 0:
                Zl = None  # the live sequences have no image
            logits = head_forward(self.w, self.cfg, head, ids, rl, [n_tiles[b] for b in live],
                                  Zl, self.tag_ids)
            for i, b in enumerate(live):
                nxt = int(torch.argmax(logits[i, len(seqs[b]) - 1]))
                out[b].append(nxt)
                seqs[b].append(nxt)
                rules[b].append(gen_rule[b])
                done[b] = nxt == self.prompter.im_end
            if all(done):
                break
        return out

    def decode(self, ids):
        ids = [i for i in ids if i < 256]
        return bytes(ids).decode("utf-8", errors="replace")


# ---------------------------------------------------------------- building a model

def make_config(vit_config, lm, heads, max_tiles, tile_size):
    """config.json of the bundled model: OpenGVLab InternViT + Qwen2 LM + heads d/x/h."""
    return {
        "architectures": ["InternVLChatModel"], "model_type": "internvl_chat",
        "template": "chatml", "force_image_size": tile_size, "downsample_ratio": 0.5,
        "ps_version": "v2", "select_layer": -1, "max_dynamic_patch": max_tiles,
        "min_dynamic_patch": 1, "use_thumbnail": True, "dynamic_image_size": True,
        "vision_config": vit_config,
        "llm_config": {
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            "hidden_size": lm["hidden"], "intermediate_size": lm["intermediate"],
            "num_hidden_layers": lm["layers"], "num_attention_heads": lm["heads"],
            "num_key_value_heads": lm["kv_heads"], "vocab_size": 256 + len(SPECIALS),
            "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None,
            "max_position_embeddings": 4096, "tie_word_embeddings": False, "hidden_act": "silu",
            "bos_token_id": 256, "eos_token_id": 258},
        "nvlm_heads": heads, "nvlm_default_head": "d",
    }


def init_lm(cfg, gen):
    """Fresh Qwen2 weights (matrices N(0, 0.02), output projections scaled by depth)."""
    H, I, V = cfg.hidden, cfg.intermediate, cfg.vocab
    qd, kd = cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim
    rnd = lambda *shape, std=0.02: torch.randn(*shape, generator=gen) * std  # noqa: E731
    out_std = 0.02 / math.sqrt(2 * cfg.layers)
    w = {"model.embed_tokens.weight": rnd(V, H), "lm_head.weight": rnd(V, H),
         "model.norm.weight": torch.ones(H)}
    for l in range(cfg.layers):
        p = "model.layers.%d." % l
        w.update({p + "input_layernorm.weight": torch.ones(H),
                  p + "post_attention_layernorm.weight": torch.ones(H),
                  p + "self_attn.q_proj.weight": rnd(qd, H), p + "self_attn.q_proj.bias": torch.zeros(qd),
                  p + "self_attn.k_proj.weight": rnd(kd, H), p + "self_attn.k_proj.bias": torch.zeros(kd),
                  p + "self_attn.v_proj.weight": rnd(kd, H), p + "self_attn.v_proj.bias": torch.zeros(kd),
                  p + "self_attn.o_proj.weight": rnd(H, qd, std=out_std),
                  p + "mlp.gate_proj.weight": rnd(I, H), p + "mlp.up_proj.weight": rnd(I, H),
                  p + "mlp.down_proj.weight": rnd(H, I, std=out_std)})
    return {"language_model." + k: v for k, v in w.items()}


def init_head(cfg, head, proj_width, gen, gate=0.0):
    """Fresh fusion weights of one head: its projector and (x/h) cross-attention blocks.
    Gates start at `gate` (NVLM: 0, so the pre-trained LM's output is unchanged at step 0).
    The projector takes the ViT features and, if the config has them, the per-patch
    character probabilities (char_probabilities)."""
    H, I, C4 = cfg.hidden, cfg.intermediate, 4 * (cfg.v_hidden + cfg.char_width)
    qd, kd = cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim
    rnd = lambda *shape, std=0.02: torch.randn(*shape, generator=gen) * std  # noqa: E731
    p = PROJ[head]
    w = {p + ".0.weight": torch.ones(C4), p + ".0.bias": torch.zeros(C4),
         p + ".1.weight": rnd(proj_width, C4), p + ".1.bias": torch.zeros(proj_width),
         p + ".3.weight": rnd(H, proj_width), p + ".3.bias": torch.zeros(H)}
    for j, _ in enumerate(cfg.heads_cfg.get(head, {}).get("xattn_layers", [])):
        b = "%s_xattn.%d." % (head, j)
        w.update({b + "input_layernorm.weight": torch.ones(H),
                  b + "post_attention_layernorm.weight": torch.ones(H),
                  b + "q_proj.weight": rnd(qd, H), b + "k_proj.weight": rnd(kd, H),
                  b + "v_proj.weight": rnd(kd, H), b + "o_proj.weight": rnd(H, qd),
                  b + "q_norm.weight": torch.ones(cfg.head_dim),
                  b + "k_norm.weight": torch.ones(cfg.head_dim),
                  b + "attn_gate": torch.full((1,), gate), b + "mlp_gate": torch.full((1,), gate),
                  b + "mlp.gate_proj.weight": rnd(I, H), b + "mlp.up_proj.weight": rnd(I, H),
                  b + "mlp.down_proj.weight": rnd(H, I)})
    return w
