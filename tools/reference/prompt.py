"""prompt.py - the prompt strings, token ids and cross-attention row rules of heads d, x and h.

Implements section 8 of docs/model-format.md. A Prompt holds the ids, the positions whose
embedding is replaced by image tokens, and for heads x/h what each row may attend to in the
cross-attention memory (ROW_NONE, ROW_ALL, or a 0-based tile index for head x's tag rows).
"""
from dataclasses import dataclass, field

ROW_NONE = -1
ROW_ALL = -2

SYSTEM_NVLM = "Answer the questions."
SYS_USER = "<|im_start|>system\n" + SYSTEM_NVLM + "<|im_end|><|im_start|>user\n"
SYSTEM_INTERNVL = ("你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位"
                   "联合开发的多模态大语言模型。")
IMGC_OF_TEMPLATE = {"chatml": "<|vision_pad|>", "internvl2_5": "<IMG_CONTEXT>"}


@dataclass
class Prompt:
    text: str                      # the whole prompt string
    ids: list                      # token ids
    segments: list = field(default_factory=list)   # strings tokenised separately (x/h)
    image_positions: list = field(default_factory=list)  # rows filled with image tokens
    row_rule: list = None          # per prompt row: ROW_NONE / ROW_ALL / tile index (x/h)


def tile_tags(n):
    """NVLM-D tags: <tile_1>..<tile_{n-1}> then <tile_global_thumbnail> (n = 1: only that)."""
    return [f"<tile_{k}>" for k in range(1, n)] + ["<tile_global_thumbnail>"]


def tail(question):
    return "</Image>\n" + question + "<|im_end|><|im_start|>assistant\n"


def _positions_of(ids, token_id):
    return [i for i, t in enumerate(ids) if t == token_id]


def prompt_d(tok, template, n, T, question):
    imgc = IMGC_OF_TEMPLATE[template]
    if template == "chatml":
        image = "<Image>" + "".join(tag + imgc * T for tag in tile_tags(n)) + "</Image>"
        text = SYS_USER + image + "\n" + question + "<|im_end|><|im_start|>assistant\n"
    elif template == "internvl2_5":
        text = ("<|im_start|>system\n" + SYSTEM_INTERNVL + "<|im_end|>\n<|im_start|>user\n<img>"
                + imgc * (n * T) + "</img>\n" + question + "<|im_end|>\n<|im_start|>assistant\n")
    else:
        raise ValueError(f"unknown template {template!r}")
    ids = tok.encode(text)
    positions = _positions_of(ids, tok.added[imgc])
    if len(positions) != n * T:
        raise ValueError(f"prompt has {len(positions)} image-context ids, expected {n * T}")
    return Prompt(text=text, ids=ids, segments=[text], image_positions=positions)


def _from_segments(tok, segments, rules):
    ids, row_rule = [], []
    for seg, rule in zip(segments, rules):
        seg_ids = tok.encode(seg)
        ids += seg_ids
        row_rule += [rule] * len(seg_ids)
    return ids, row_rule


def prompt_x(tok, n, question):
    tags = tile_tags(n)
    segments = [SYS_USER, "<Image>"] + tags + [tail(question)]
    rules = [ROW_NONE, ROW_ALL] + list(range(n)) + [ROW_ALL]
    ids, row_rule = _from_segments(tok, segments, rules)
    return Prompt(text="".join(segments), ids=ids, segments=segments, row_rule=row_rule)


def prompt_h(tok, n, T, question):
    imgc = IMGC_OF_TEMPLATE["chatml"]
    segments = [SYS_USER, "<Image><tile_global_thumbnail>" + imgc * T + tail(question)]
    rules = [ROW_NONE, ROW_ALL if n > 1 else ROW_NONE]
    ids, row_rule = _from_segments(tok, segments, rules)
    positions = _positions_of(ids, tok.added[imgc])
    if len(positions) != T:
        raise ValueError(f"prompt has {len(positions)} image-context ids, expected {T}")
    return Prompt(text="".join(segments), ids=ids, segments=segments,
                  image_positions=positions, row_rule=row_rule)


def prompt_text_only(tok, question):
    text = SYS_USER + question + "<|im_end|><|im_start|>assistant\n"
    ids = tok.encode(text)
    return Prompt(text=text, ids=ids, segments=[text], row_rule=[ROW_NONE] * len(ids))


def h_memory_tag_ids(tok, n):
    """Token ids of <tile_k> for the regular tiles k = 1..n-1 (head h memory)."""
    return [tok.encode(f"<tile_{k}>") for k in range(1, n)]
