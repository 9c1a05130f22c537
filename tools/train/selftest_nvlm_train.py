"""Self-test of the batched training model (tools/train/nvlm_train.py) against the tiny_nvlm
fixture goldens: `/usr/bin/python3 tools/train/selftest_nvlm_train.py`.

For each head d/x/h the three fixture cases (1, 3, 7 tiles) run as ONE padded batch (so
padding, per-sample tile counts and memories are exercised) and must reproduce
`golden_{head}_{n}`: prompt ids exactly, logits within 1e-4 * max|logit| (docs/model-format.md
section 11); the 8 greedy ids of the batched no-cache decoder must equal `generated_ids`.
The same for tiny_nvlm_chars (per-patch character probabilities before the projector), its
one case per head, curriculum's --oracle-chars labels and features, and its --point
targets and loss. Also: the bundled byte tokenizer maps text to its UTF-8 bytes and has the special ids
256..259; table_metrics' self-check passes.
Exit status 1 on any failure.
"""
import json
import math
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))

import nvlm_train as NT  # noqa: E402
import st_io  # noqa: E402
import table_metrics  # noqa: E402
from bpe import Tokenizer  # noqa: E402

TOL = 1e-4
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def check_cached_features(raw, tok, w, head, goldens, question, logits):
    """curriculum.py trains on ViT features computed once per image: the same batch through
    its FeatureRunner must give the logits and greedy ids of the pixel path."""
    import curriculum  # noqa: E402 (pulls in tools.tablegen; only this check needs it)
    frun = curriculum.FeatureRunner(raw, tok, w, torch.device("cpu"))
    with torch.no_grad():
        feats = [NT.shuffled_features(w, frun.cfg, g["in_pixel_values"])
                 for g in goldens]
    samples = [(f, question, "") for f in feats]
    batch = NT.make_batch(frun.prompter, head, samples, with_answers=False)
    got = frun.logits(head, batch)
    err = float((got - logits).abs().max())
    check(err <= 1e-6 * float(logits.abs().max()),
          "%s cached-feature logits = pixel logits (max|diff| %.1e)" % (head, err))
    ids = frun.greedy(head, samples, 8)
    want = [g["generated_ids"][0].tolist()[len(g["in_input_ids"][0]):] for g in goldens]
    check(ids == want, "%s cached-feature greedy ids" % head)


def check_stream_pool(raw, tok, w):
    """curriculum.StreamBatches renders in a process pool on the device: its batches must be
    the serial ones, in the same order (the three heads' processes rely on that to see the
    same tables), and consecutive batches must hold different tables."""
    import argparse  # noqa: E402
    import curriculum  # noqa: E402
    frun = curriculum.FeatureRunner(raw, tok, w, torch.device("cpu"))
    args = argparse.Namespace(seed=3, rows=[1, 2], cols=[2, 3], max_tiles=2, batch=3,
                              md_rate=0.5, oracle_chars=False, point=0.0)
    cfg, tile = frun.cfg, raw["force_image_size"]
    drawn = []
    for workers in (0, 2):
        stream = curriculum.StreamBatches(args, frun.prompter, "h", w, cfg, tile,
                                          torch.device("cpu"), workers, ahead=2)
        it = iter(stream)
        drawn.append([next(it) for _ in range(3)])
        stream.close()
    keys = ("ids", "labels", "rules", "n_tiles", "tiles")
    same = all(torch.equal(a[k], b[k]) for a, b in zip(*drawn) for k in keys)
    check(same, "stream batches rendered by a pool = serial ones, same order")
    check(not torch.equal(drawn[0][0]["ids"], drawn[0][1]["ids"]), "stream: next batch, new tables")


def load_fixture(fixture):
    """(config, cases, tokenizer, weights, Runner) of a fixture directory."""
    with open(os.path.join(fixture, "config.json")) as f:
        raw = json.load(f)
    with open(os.path.join(fixture, "cases.json")) as f:
        cases = json.load(f)
    tok = Tokenizer.load(fixture)
    w = {k: v.float() for k, v in st_io.read_model(fixture).items()}
    return raw, cases, tok, w, NT.Runner(raw, tok, w, torch.device("cpu"))


def check_char_fixture(fixture):
    """tiny_nvlm_chars: each head's logits and greedy ids from pixels."""
    _, cases, _, _, run = load_fixture(fixture)
    for case in cases["cases"]:
        head, n = case["head"], case["tiles"]
        g = st_io.read_file(os.path.join(fixture, case["golden"]))
        samples = [(g["in_pixel_values"], cases["question"], "")]
        batch = NT.make_batch(run.prompter, head, samples, with_answers=False)
        L = len(g["in_input_ids"][0])
        logits = run.logits(head, batch, g["in_pixel_values"])[0, :L]
        ref = g["logits"][0]
        err = float((logits - ref).abs().max())
        scale = float(ref.abs().max())
        check(err <= TOL * scale, "chars %s n=%d logits max|err| %.2e <= %.2e"
              % (head, n, err, TOL * scale))
        got = run.greedy(head, samples, 8, g["in_pixel_values"])[0]
        check(got == g["generated_ids"][0].tolist()[L:], "chars %s n=%d 8 greedy ids" % (head, n))


def check_oracle_features(fixture):
    """curriculum --oracle-chars: render_one's labels name the table's own glyphs, and
    features_of puts them, one-hot, where the character head's probabilities go, leaving
    the ViT features as they are."""
    import collections  # noqa: E402
    import curriculum  # noqa: E402
    from tools.tablegen import fonts, gen  # noqa: E402
    raw, _, _, w, run = load_fixture(fixture)
    cfg = run.cfg
    one = curriculum.render_one(("val", 1, 0, (1, 1), (2, 2), 224, 1, 2, 14, True))
    md, labels = one["markdown"], one["labels"]
    glyphs = collections.Counter(ch for ch, _ in gen.make_sample(
        "val", 1, 0, rows=(1, 1), cols=(2, 2))["glyphs"])
    named = collections.Counter(fonts.CHARSET[c - 1] for c in labels.reshape(-1) if c)
    check(labels.shape == (1, 16, 16, 2) and not named - glyphs
          and sum(named.values()) >= 0.9 * sum(glyphs.values()),
          "oracle labels: %d of the %d glyphs of %r, no other character"
          % (sum(named.values()), sum(glyphs.values()), md))
    # --point's targets against the labels: each transcribed character's token (2x2
    # patches of 2 slots) holds that character's label.
    token_labels = labels.reshape(8, 2, 8, 2, 2).transpose(0, 2, 1, 3, 4).reshape(64, 8)
    hits = [fonts.CHARSET.index(ch) + 1 in token_labels[tokens[0]]
            for ch, tokens in zip(md, one["point"]) if tokens]
    check(len(hits) == sum(glyphs.values()) and all(hits),
          "point targets: %d of %d transcribed characters in a token holding their label"
          % (sum(hits), len(hits)))
    g, K, S = cfg.grid, cfg.char_classes, cfg.char_width // cfg.char_classes
    pixels = torch.randint(0, 256, (2, g * cfg.patch, g * cfg.patch, 3), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(5))
    fake = torch.randint(0, K, (2, g, g, S), generator=torch.Generator().manual_seed(6))
    got = curriculum.features_of(w, cfg, pixels, torch.device("cpu"), fake)
    ref = curriculum.features_of(w, cfg, pixels, torch.device("cpu"))
    C = cfg.v_hidden + cfg.char_width
    got4, ref4 = got.reshape(2, -1, 4, C), ref.reshape(2, -1, 4, C)
    same_vit = torch.equal(got4[..., :cfg.v_hidden], ref4[..., :cfg.v_hidden])
    # Token (i, j) holds patches (2i, 2j), (2i, 2j+1), (2i+1, 2j), (2i+1, 2j+1) in order.
    want = torch.nn.functional.one_hot(fake, K).float().reshape(2, g // 2, 2, g // 2, 2, S * K)
    want = want.permute(0, 1, 3, 2, 4, 5).reshape(2, -1, 4, S * K)
    check(same_vit and torch.equal(got4[..., cfg.v_hidden:], want),
          "oracle features: ViT part unchanged, one-hot labels in each patch's slots")


def check_pointing():
    """curriculum --point: markdown_glyphs ties each transcribed byte to its glyph (escapes,
    spaces, multi-byte characters and empty cells included), and pointing_loss is -log of
    the attention mass on the named image tokens."""
    import curriculum  # noqa: E402
    from tools.tablegen import markdown  # noqa: E402
    table = {"header": ["A b", "x|y"], "rows": [["\u20ac1", "\\"], ["", "z"]]}
    md = markdown.to_markdown(table["header"], table["rows"])
    owner = curriculum.markdown_glyphs(table, md, 9)
    glyph_of = {}
    for byte, g in zip(md.encode("utf-8"), owner):
        if g >= 0:
            glyph_of.setdefault(g, bytearray()).append(byte)
    got = [bytes(glyph_of[g]).decode("utf-8") for g in sorted(glyph_of)]
    check(got == ["A", "b", "x", "|", "y", "\u20ac", "1", "\\", "z"]
          and len(owner) == len(md.encode("utf-8")),
          "markdown bytes -> glyphs: %r" % got)
    try:
        curriculum.markdown_glyphs(table, md.replace("z", "q"), 9)
        check(False, "markdown_glyphs refuses a markdown it does not rebuild")
    except ValueError:
        check(True, "markdown_glyphs refuses a markdown it does not rebuild")
    # Sequence: 2 prompt ids, image tokens at 2 and 3, answer bytes at 4.. (labels from 3).
    ids = torch.tensor([[5, 6, 9, 9, 7, 8, 1]])
    labels = torch.tensor([[-100, -100, -100, 7, 8, 1, -100]])
    probs = torch.zeros(1, 1, 7, 7)
    probs[0, 0, 3, 2], probs[0, 0, 3, 3] = 0.5, 0.25   # predicts byte 0: glyph in token 1
    probs[0, 0, 4, 2] = 0.8                             # predicts byte 1: glyph in token 0
    batch = {"ids": ids, "labels": labels, "n_tiles": torch.tensor([1]),
             "point": [[[1], [0], []]]}
    rows = curriculum.point_rows(batch, "d", 9, 2, {})
    loss, mass = curriculum.pointing_loss({"self": [probs], "cross": []}, rows)
    want = -(math.log(0.25 + 1e-6) + math.log(0.8 + 1e-6)) / 2
    check(rows == {"self": [(0, 3, [3]), (0, 4, [2])], "cross": []}
          and abs(float(loss) - want) < 1e-6 and abs(mass - 0.525) < 1e-6,
          "pointing loss %.6f (want %.6f), mass %.3f" % (float(loss), want, mass))


def check_stop_at():
    """train_stages.train(stop_at=N) (curriculum --stop4) ends after N steps, the learning
    rate on the schedule of the planned steps, and says so in the log."""
    import io
    import train_stages as TS  # noqa: E402

    class Quadratic:
        device = torch.device("cpu")

        def __init__(self):
            self.w = {"p": torch.zeros(2, 2, requires_grad=True)}

        def loss(self, head, batch):
            return ((self.w["p"] - 1.0) ** 2).sum()

    run, log = Quadratic(), io.StringIO()
    loader = [{"ids": torch.zeros(4, 3)}] * 5
    done, samples, _ = TS.train(run, "d", [run.w["p"]], loader, 100, 1e-2, log, "finetune",
                                log_every=3, stop_at=7)
    lines = [json.loads(x) for x in log.getvalue().splitlines()]
    last_lr = [x["lr"] for x in lines if "lr" in x][-1]
    check(done == 7 and samples == 28 and lines[-1].get("stopped_at") == 7
          and lines[-1].get("reason") == "stop_at"
          and abs(last_lr - TS.cosine(5, 100, 5, 1e-2)) < 1e-12,
          "train(stop_at=7) of 100 planned: %d steps, %d samples, lr %.3g at step 6"
          % (done, samples, last_lr))


def check_log_marks():
    """curriculum marks: the mean of stage 4's validation lines within the window of each
    mark; stage 3's lines, marks with no line near, and a missing mass stay out."""
    import curriculum  # noqa: E402

    def line(stage, step, first, body, mass=None):
        r = {"stage": stage, "step": step, "val_first_acc": first, "val_body_acc": body}
        return r if mass is None else dict(r, val_point_mass=mass)
    recs = [line("align", 100, 0.9, 0.9, 0.9), line("finetune", 75, 0.1, 0.5, 0.2),
            line("finetune", 100, 0.2, 0.6, 0.4), line("finetune", 150, 0.3, 0.7, 0.6),
            {"stage": "finetune", "stopped_at": 160}]
    got = curriculum.log_marks(recs, [100, 200, 400], 50)
    plain = curriculum.log_marks([line("finetune", 100, 0.2, 0.6)], [100], 50)
    want = {100: (0.2, 0.6, 0.4), 200: (0.3, 0.7, 0.6)}
    check(set(got) == set(want) and all(abs(a - b) < 1e-12 for m in want
                                        for a, b in zip(got[m], want[m]))
          and plain == {100: (0.2, 0.6, None)},
          "log marks: %r" % got)


def check_point_layout(fixture):
    """point_rows names, for each head, the stream position or memory slot that holds the
    targeted image token: head_forward's own inputs (the first decoder layer's, the
    cross-attention's memory) hold the projector output of that token there."""
    import curriculum  # noqa: E402
    raw, _, tok, w, run = load_fixture(fixture)
    cfg, T, n = run.cfg, run.cfg.tokens_per_tile, 3
    S = raw["force_image_size"]
    Z = torch.randn(n, T, cfg.hidden, generator=torch.Generator().manual_seed(7))
    targets = [1, T + 2, 2 * T + 3]   # a token of tile 0, of tile 1, of the last (T >= 4)
    seen = {}
    real_layer, real_xattn = NT.decoder_layer, NT.xattn_block

    def layer(lm, cfg_, l, h, *rest, **kw):
        if l == 0:
            seen["stream"] = h.detach().clone()
        return real_layer(lm, cfg_, l, h, *rest, **kw)

    def xattn(w_, cfg_, pre, h, memory, *rest, **kw):
        seen["memory"] = memory.detach().clone()
        return real_xattn(w_, cfg_, pre, h, memory, *rest, **kw)

    NT.decoder_layer, NT.xattn_block = layer, xattn
    try:
        for head in ("d", "x", "h"):
            samples = [(torch.zeros(n, S, S, 3, dtype=torch.uint8), "q", "abcd")]
            batch = NT.make_batch(run.prompter, head, samples)
            batch["point"] = [[[t] for t in targets]]
            rows = curriculum.point_rows(batch, head, cfg.imgc, T,
                                         {k: len(v) for k, v in run.tag_ids.items()})
            seen.clear()
            NT.head_forward(w, cfg, head, batch["ids"], batch["rules"], [n], Z, run.tag_ids)
            flat, ok = Z.reshape(n * T, -1), True
            for kind, where in (("self", "stream"), ("cross", "memory")):
                for b, q, keys in rows[kind]:
                    byte = q - int((batch["labels"][b] != -100).nonzero()[0])
                    ok &= int(batch["labels"][b, q]) == ord("abcd"[byte])
                    ok &= torch.allclose(seen[where][b, keys[0]], flat[targets[byte]])
            kinds = {k: len(v) for k, v in rows.items()}
            want = {"d": {"self": 3, "cross": 0}, "x": {"self": 0, "cross": 3},
                    "h": {"self": 1, "cross": 2}}[head]
            check(ok and kinds == want, "point rows of head %s: %s land on their tokens"
                  % (head, kinds))
    finally:
        NT.decoder_layer, NT.xattn_block = real_layer, real_xattn


def main():
    torch.set_num_threads(1)
    root = os.environ.get("NV_FIXTURE_DIR", os.path.join(ROOT, "tests", "fixtures"))
    fixture = os.path.join(root, "tiny_nvlm")
    raw, cases, tok, w, run = load_fixture(fixture)
    question = cases["question"]
    for head in ("d", "x", "h"):
        goldens = [st_io.read_file(os.path.join(fixture, "golden_%s_%d.safetensors" % (head, n)))
                   for n in (1, 3, 7)]
        samples = [(g["in_pixel_values"], question, "") for g in goldens]
        batch = NT.make_batch(run.prompter, head, samples, with_answers=False)
        pixels = torch.cat([g["in_pixel_values"] for g in goldens])
        logits = run.logits(head, batch, pixels)
        for b, (n, g) in enumerate(zip((1, 3, 7), goldens)):
            want_ids = g["in_input_ids"][0].tolist()
            L = len(want_ids)
            check(batch["ids"][b, :L].tolist() == want_ids and int(batch["lengths"][b]) == L,
                  "%s n=%d prompt ids (%d)" % (head, n, L))
            ref = g["logits"][0]
            err = float((logits[b, :L] - ref).abs().max())
            scale = float(ref.abs().max())
            check(err <= TOL * scale, "%s n=%d logits max|err| %.2e <= %.2e" % (head, n, err, TOL * scale))
        got = run.greedy(head, samples, 8, pixels)
        for b, (n, g) in enumerate(zip((1, 3, 7), goldens)):
            want = g["generated_ids"][0].tolist()[len(g["in_input_ids"][0]):]
            check(got[b] == want, "%s n=%d 8 greedy ids %s" % (head, n, got[b]))
        check_cached_features(raw, tok, w, head, goldens, question, logits)
    check_stream_pool(raw, tok, w)
    check_char_fixture(os.path.join(root, "tiny_nvlm_chars"))
    check_oracle_features(os.path.join(root, "tiny_nvlm_chars"))
    check_pointing()
    check_stop_at()
    check_log_marks()
    check_point_layout(os.path.join(root, "tiny_nvlm"))
    import curriculum  # noqa: E402
    answer = "| Name | Price |\n| --- | --- |\n| Ada | 1,200 |\n|  | x y |"
    mask = curriculum.body_cell_bytes(answer)
    body = bytes(c for c, kind in zip(answer.encode(), mask) if kind)
    first = bytes(c for c, kind in zip(answer.encode(), mask) if kind == 2)
    check(body == b"Ada1,200x y" and first == b"A1x" and len(mask) == len(answer.encode()) + 1,
          "body-cell bytes of a known answer: %r, first %r" % (body, first))
    with tempfile.TemporaryDirectory() as tmp:
        btok = NT.write_tokenizer(tmp)
        text = "| Name | Price |\n| --- | --- |\n| Ada | €1,200.50 |"
        ids = btok.encode(text)
        check(ids == list(text.encode("utf-8")), "byte tokenizer: ids are the UTF-8 bytes")
        check(btok.added["<|im_end|>"] == 258 and btok.added["<|vision_pad|>"] == 259,
              "byte tokenizer: special ids 256..259")
    check(table_metrics.selftest() == 0, "table metrics (cell accuracy, exact, TEDS) on known cases")
    if failures:
        print("selftest_nvlm_train: %d failure(s)" % len(failures))
        return 1
    print("selftest_nvlm_train: all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
