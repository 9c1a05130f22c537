"""A small ViT in the InternViT layout, so the C runtime loads its weights.

Tensor names follow OpenGVLab's InternVisionModel (LayerNorm variant, qkv
bias, layer scales ls1/ls2, exact-erf GELU, no final norm). For training the
patch embedding is followed by a BatchNorm (a fast-learning stem, see
shared/notes/training-feasibility.md); export_state_dict() folds it into the
convolution, so the exported model is plain InternViT.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

PREFIX = "vision_model."


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        scores = (q * (q.shape[-1] ** -0.5)) @ k.transpose(-2, -1)
        out = scores.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Layer(nn.Module):
    def __init__(self, dim, heads, hidden, eps, layer_scale):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.ls1 = nn.Parameter(torch.full((dim,), layer_scale))
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, hidden)
        self.ls2 = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x):
        x = x + self.attn(self.norm1(x)) * self.ls1
        return x + self.mlp(self.norm2(x)) * self.ls2


class VisionModel(nn.Module):
    """forward(pixels [B,3,S,S] normalised) -> list of hidden states [B,1+g*g,C]."""

    def __init__(self, image_size=224, patch=14, dim=192, layers=6, heads=3, mlp_ratio=4.0,
                 eps=1e-6, layer_scale=0.1, stem_batchnorm=True):
        super().__init__()
        if image_size % patch or dim % heads:
            raise ValueError("vit: image_size %% patch and dim %% heads must be 0")
        self.config = dict(image_size=image_size, patch=patch, dim=dim, layers=layers,
                           heads=heads, mlp=int(dim * mlp_ratio), eps=eps)
        grid = image_size // patch
        self.patch_embedding = nn.Conv2d(3, dim, patch, stride=patch)
        self.stem_norm = nn.BatchNorm2d(dim) if stem_batchnorm else None
        self.class_embedding = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.position_embedding = nn.Parameter(torch.randn(1, 1 + grid * grid, dim) * 0.02)
        self.layers = nn.ModuleList(Layer(dim, heads, self.config["mlp"], eps, layer_scale)
                                    for _ in range(layers))
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, pixels):
        patches = self.patch_embedding(pixels)
        if self.stem_norm is not None:
            patches = self.stem_norm(patches)
        patches = patches.flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(patches.shape[0], -1, -1).to(patches.dtype)
        x = torch.cat([cls, patches], dim=1) + self.position_embedding.to(patches.dtype)
        states = [x]
        for layer in self.layers:
            x = layer(x)
            states.append(x)
        return states

    def export_state_dict(self):
        """InternViT-named float32 tensors, BatchNorm folded into the conv.

        Folding uses the running statistics, so it equals this model in eval().
        """
        weight = self.patch_embedding.weight.detach().float()
        bias = self.patch_embedding.bias.detach().float()
        if self.stem_norm is not None:
            bn = self.stem_norm
            scale = bn.weight.detach().float() / torch.sqrt(bn.running_var.float() + bn.eps)
            weight = weight * scale[:, None, None, None]
            bias = (bias - bn.running_mean.float()) * scale + bn.bias.detach().float()
        out = {
            PREFIX + "embeddings.patch_embedding.weight": weight,
            PREFIX + "embeddings.patch_embedding.bias": bias,
            PREFIX + "embeddings.class_embedding": self.class_embedding.detach().float(),
            PREFIX + "embeddings.position_embedding": self.position_embedding.detach().float(),
        }
        for n, layer in enumerate(self.layers):
            for name, tensor in layer.state_dict().items():
                out["%sencoder.layers.%d.%s" % (PREFIX, n, name)] = tensor.detach().float()
        return {k: v.cpu().contiguous() for k, v in out.items()}

    def load_internvit(self, tensors):
        """Loads InternViT-named arrays (e.g. from safetensors_io.read); no stem norm."""
        if self.stem_norm is not None:
            raise ValueError("vit: load_internvit needs stem_batchnorm=False")
        own = {
            "patch_embedding.weight": "embeddings.patch_embedding.weight",
            "patch_embedding.bias": "embeddings.patch_embedding.bias",
            "class_embedding": "embeddings.class_embedding",
            "position_embedding": "embeddings.position_embedding",
        }
        state = {}
        for name in self.state_dict():
            source = own.get(name, "encoder." + name)
            if PREFIX + source not in tensors:
                raise KeyError("vit: checkpoint lacks %s%s" % (PREFIX, source))
            state[name] = torch.from_numpy(tensors[PREFIX + source].astype("float32"))
        self.load_state_dict(state)

    def vision_config(self):
        """The vision_config object of an InternVL config.json."""
        c = self.config
        return {
            "architectures": ["InternVisionModel"], "model_type": "intern_vit_6b",
            "hidden_size": c["dim"], "intermediate_size": c["mlp"],
            "num_attention_heads": c["heads"], "num_hidden_layers": c["layers"],
            "patch_size": c["patch"], "image_size": c["image_size"], "num_channels": 3,
            "norm_type": "layer_norm", "layer_norm_eps": c["eps"], "qkv_bias": True,
            "qk_normalization": False, "hidden_act": "gelu", "drop_path_rate": 0.0,
            "dropout": 0.0, "attention_dropout": 0.0, "use_flash_attn": False,
        }


class CharHead(nn.Module):
    """Per-patch character classifier on the last layer (training only)."""

    def __init__(self, dim, n_classes):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, n_classes)

    def forward(self, hidden):
        return self.proj(self.norm(hidden[:, 1:]))  # drop CLS


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def cosine_lr(step, total, warmup, peak):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
