"""Pointing: the decoder is told which image tokens hold each glyph it transcribes.

A training signal only (the runtime and the model format do not change). Without it a head
needed thousands of steps before its decoder learned where in the image each character is;
the generator knows where every glyph is, so the attention can be told: the loss adds
point_weight times -log of the attention mass that the position predicting a glyph's byte
puts on the image tokens holding that glyph (docs/training.md). cells.py builds the targets
(per answer byte, the image tokens of its glyph on the cell's tile) and trains with them.

  FeatureRunner   a Runner over cached ViT features, whose loss adds the pointing loss
  point_rows      the targets of a batch as the head sees them (stream or memory)
  pointing_loss   the loss and mean mass of probed attention against point_rows
"""
import torch
import torch.nn.functional as F

import nvlm_train as NT


class FeatureRunner(NT.Runner):
    """A Runner whose batches carry pixel-shuffled ViT features [n, T, 4C] in place of
    uint8 tiles: the ViT is frozen, so it runs once per image, not once per step.

    point_weight > 0: the loss adds point_weight times pointing_loss of the first
    attention head of decoder layer point_layer (image tokens in the stream: d, and h's
    last tile) and of cross-attention block 0 (tiles in the memory: x, and h's others),
    when the batch has "point" targets."""
    point_weight, point_layer = 0.0, -1

    def encode(self, head, features):
        return NT.projector(self.w, NT.PROJ[head], features.to(self.device).float())

    def pointing(self, head, batch):
        """(logits, pointing loss, mean mass) of a batch with "point" targets: the pointing
        heads' attention (see the class) against point_rows."""
        probe = {"layer": self.point_layer, "self": [], "xattn": 0, "cross": []}
        logits = self.logits(head, batch, probe=probe)
        rows = point_rows(batch, head, self.cfg.imgc, self.cfg.tokens_per_tile,
                          {k: len(v) for k, v in self.tag_ids.items()})
        return (logits,) + pointing_loss(probe, rows)

    def loss(self, head, batch):
        if not self.point_weight or not any(batch.get("point") or []):
            return super().loss(head, batch)
        logits, point_loss, _ = self.pointing(head, batch)
        labels = batch["labels"].to(self.device)
        text = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                               labels.reshape(-1), ignore_index=-100)
        return text + self.point_weight * point_loss


def point_rows(batch, head, imgc, per_tile, tag_len):
    """Where each transcribed glyph is, as the head sees it: {"self": [(sample, position,
    [key positions in the sequence])], "cross": [(sample, position, [memory indices])]}.
    position predicts the glyph's byte; batch["point"] holds, per sample, the image-token
    targets per answer byte (token indices over the sample's tiles in order; None: no
    targets). D has every tile in the stream, X every tile in the memory; H has its last
    tile (the thumbnail, or its only tile) in the stream and tiles 1..n-1 in the memory,
    each after its tag (nvlm_train.head_forward)."""
    ids, labels = batch["ids"], batch["labels"]
    rows = {"self": [], "cross": []}
    for b, point in enumerate(batch["point"]):
        if not point:
            continue
        n = int(batch["n_tiles"][b])
        image_at = (ids[b] == imgc).nonzero().flatten().tolist()
        first = int((labels[b] != -100).nonzero()[0])  # predicts the answer's first byte
        for i, tokens in enumerate(point):
            keys = {"self": [], "cross": []}
            for t in tokens:
                tile, j = divmod(t, per_tile)
                if head == "d":
                    keys["self"].append(image_at[t])
                elif head == "x":
                    keys["cross"].append(t)
                elif tile == n - 1:
                    keys["self"].append(image_at[j])
                else:
                    tags = sum(tag_len[m] for m in range(1, tile + 2))
                    keys["cross"].append(tags + tile * per_tile + j)
            for kind in rows:
                if keys[kind]:
                    rows[kind].append((b, first + i, keys[kind]))
    return rows


def pointing_loss(probe, rows):
    """(loss, mean mass): -log of the attention mass that the position predicting each
    transcribed glyph's byte puts on the image tokens holding that glyph, averaged over
    those positions, for the first head of each probed attention (probe["self"] /
    probe["cross"], [B,heads,N,keys]; rows from point_rows)."""
    masses = []
    for kind in ("self", "cross"):
        if not rows[kind]:
            continue
        probs = probe[kind][0][:, 0]
        mask = torch.zeros(len(rows[kind]), probs.shape[-1], dtype=torch.bool)
        for r, (_, _, keys) in enumerate(rows[kind]):
            mask[r, keys] = True
        b_at = torch.tensor([b for b, _, _ in rows[kind]], device=probs.device)
        q_at = torch.tensor([q for _, q, _ in rows[kind]], device=probs.device)
        masses.append((probs[b_at, q_at] * mask.to(probs.device)).sum(-1))
    mass = torch.cat(masses).float()
    return -torch.log(mass + 1e-6).mean(), float(mass.mean())
