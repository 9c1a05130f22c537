"""Visual style of one table image, drawn from a per-split distribution.

Train, val and test draw from the same distribution; the "heldout" split uses
fonts never seen in training (fonts.HELD_OUT_FAMILIES) and, each with
probability 1/2, a rule style and a fill style that training never uses.
"""
from dataclasses import asdict, dataclass

from . import fonts

RULES = ("grid", "none", "horizontal", "outer")
HELD_OUT_RULES = ("booktabs",)
FILLS = ("plain", "zebra", "shaded_header", "zebra_shaded_header")
HELD_OUT_FILLS = ("dark_header",)
ALIGNS = ("left", "centre", "right", "auto")
SPLITS = ("train", "val", "test", "heldout")


@dataclass
class Style:
    family: str
    bold_header: bool
    font_size: int
    rule: str
    fill: str
    align: str
    pad_x: int
    pad_y: int
    margin: int
    line_width: int
    background: tuple
    ink: tuple
    line_colour: tuple
    shade: tuple
    blur: float
    jpeg_quality: int  # 0 = no JPEG round trip

    def to_json(self):
        return asdict(self)


def _tint(rng, base, spread):
    return tuple(max(0, min(255, base + rng.randint(-spread, spread))) for _ in range(3))


def sample_style(rng, split):
    if split not in SPLITS:
        raise ValueError("tablegen: unknown split %r (use one of %s)" % (split, ", ".join(SPLITS)))
    family = rng.choice(fonts.families_for(split))
    rule = rng.choice(RULES)
    fill = rng.choice(FILLS)
    if split == "heldout":
        if rng.random() < 0.5:
            rule = rng.choice(HELD_OUT_RULES)
        if rng.random() < 0.5:
            fill = rng.choice(HELD_OUT_FILLS)
    background = _tint(rng, 248, 7) if rng.random() < 0.6 else (255, 255, 255)
    ink = _tint(rng, 25, 25)
    shade_base = rng.randint(200, 235)
    shade = tuple(max(0, min(255, shade_base + rng.randint(-20, 15))) for _ in range(3))
    if fill == "dark_header":
        shade = _tint(rng, 50, 30)
    return Style(
        family=family,
        bold_header=rng.random() < 0.8,
        font_size=rng.randint(12, 24),
        rule=rule,
        fill=fill,
        align=rng.choice(ALIGNS),
        pad_x=rng.randint(3, 12),
        pad_y=rng.randint(2, 8),
        margin=rng.randint(4, 24),
        line_width=1 if rng.random() < 0.75 else 2,
        background=background,
        ink=ink,
        line_colour=_tint(rng, rng.randint(60, 170), 10),
        shade=shade,
        blur=rng.uniform(0.3, 0.8) if rng.random() < 0.3 else 0.0,
        jpeg_quality=rng.randint(40, 90) if rng.random() < 0.4 else 0,
    )
