"""check_fixtures.py - self-test of tests/fixtures/tiny_nvlm (and tiny_nvlm_chars, the variant
with per-patch character probabilities) against a rerun of the reference.

1. Loads the shipped fixture (config.json, tokenizer.json, model.safetensors) through the
   reference and recomputes every golden_{head}_{n}.safetensors listed in cases.json: prompt
   ids and generated ids must be equal, tensors within 1e-4 * max(1, max|golden|) (logits:
   1e-4 * max|logit|). Generation with and without a KV cache must agree.
2. Checks that the fixture can tell the details a runtime must get right apart: the cross-
   attention gates, the per-tag mask of head x, the head-h embedding override, the dummy
   ViT heads, the image rows of head d and (tiny_nvlm_chars) the character probabilities each
   change the logits by more than 10x the tolerance.
Exits non-zero on any miss and prints the measured errors.
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as MF  # noqa: E402
import nvlm_ref as R  # noqa: E402
import prompt as P  # noqa: E402
import st_io  # noqa: E402

REL_TOL = 1e-4
failures = []


def compare(case, name, got, want, logits=False):
    want = want.float()
    got = got.reshape(want.shape).float()
    err = (got - want).abs().max().item() if want.numel() else 0.0
    peak = want.abs().max().item() if want.numel() else 0.0
    tol = REL_TOL * (peak if logits else max(1.0, peak))
    ok = err <= tol
    print(f"  {case:10s} {name:22s} max|err| {err:.3e}  tol {tol:.3e}  {'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(f"{case}/{name}")


def expect(case, what, condition, detail=""):
    print(f"  {case:10s} {what:40s} {'ok' if condition else 'FAIL'} {detail}")
    if not condition:
        failures.append(f"{case}/{what}")


def differs(case, what, logits_a, logits_b):
    diff = (logits_a - logits_b).abs().max().item()
    peak = logits_b.abs().max().item()
    expect(case, what, diff > 10 * REL_TOL * peak, f"(changes logits by {diff:.3e}, max|logit| {peak:.3e})")


def prefill_logits(model, head, n, pixel_values, question):
    image = model.encode_image(pixel_values, head)
    prompt = model.build_prompt(head, n, question)
    return R.Session(model, head, prompt, image).prefill()[0]


def check_goldens(fixture, tag=""):
    """Recomputes every golden of the fixture; returns (model, question, {tiles: pixels})."""
    with open(os.path.join(fixture, "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    model = R.Model(fixture)
    question = cases["question"]
    pixels = {}
    for case in cases["cases"]:
        head, n = case["head"], case["tiles"]
        label = f"{tag}{head}_{n}"
        g = st_io.read_file(os.path.join(fixture, case["golden"]))
        pv = g["in_pixel_values"]
        pixels[n] = pv
        out, prompt, _ = MF.golden_for(model, head, n, pv)  # raises if cache != no cache
        expect(label, "prompt string", prompt.text == case["prompt"])
        expect(label, "prompt ids", out["in_input_ids"].tolist() == g["in_input_ids"].tolist())
        for name in ("vision_features", "char_probabilities", "pixel_shuffle_output", "projector_output",
                     "xattn_memory", "xattn0_k", "xattn0_v"):
            if name in g or name in out:
                if name not in g or name not in out:
                    expect(label, f"{name} present in both", False)
                    continue
                compare(label, name, out[name], g[name])
        if "xattn_mask" in g:
            expect(label, "xattn_mask", torch.equal(out["xattn_mask"], g["xattn_mask"]))
        compare(label, "logits", out["logits"], g["logits"], logits=True)
        expect(label, "generated ids (cache == no cache)",
               out["generated_ids"].tolist() == g["generated_ids"].tolist())
    return model, question, pixels


def check_char_probs(fixture):
    """The character probabilities must reach every head: with them zeroed (the projector
    still as wide) the logits move."""
    model, question, pixels = check_goldens(fixture, "chars/")
    n = max(pixels)
    original = R.char_probabilities

    def zeroed(cfg, w, features):
        out = original(cfg, w, features)
        out[..., cfg.v_hidden:] = 0
        return out
    for head in ("d", "x", "h"):
        base = prefill_logits(model, head, n, pixels[n], question)
        R.char_probabilities = zeroed
        differs(f"chars/{head}_{n}", "character probabilities matter", base,
                prefill_logits(model, head, n, pixels[n], question))
        R.char_probabilities = original


def main():
    torch.set_num_threads(1)
    root = os.environ.get("NV_FIXTURE_DIR") or os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "fixtures")
    fixture = os.path.join(root, "tiny_nvlm")
    for name in ("tiny_nvlm", "tiny_nvlm_chars"):
        if not os.path.exists(os.path.join(root, name, "cases.json")):
            print(f"check_fixtures: fixture not found at {os.path.join(root, name)}")
            return 1
    model, question, pixels = check_goldens(fixture)
    check_char_probs(os.path.join(root, "tiny_nvlm_chars"))

    # sensitivity: each detail below must move the logits far beyond the tolerance
    n = 7
    pv = pixels[n]
    base_x = prefill_logits(model, "x", n, pv, question)
    base_h = prefill_logits(model, "h", n, pv, question)
    base_d = prefill_logits(model, "d", n, pv, question)
    w = model.w

    saved = {k: w[k].clone() for k in w if k.startswith("x_xattn.") and k.endswith("_gate")}
    for k in saved:
        w[k].zero_()
    differs("x_7", "cross-attention gates matter", base_x, prefill_logits(model, "x", n, pv, question))
    for k, v in saved.items():
        w[k].copy_(v)

    original_rules = P.prompt_x
    def all_visible(tok, tiles, q):
        pr = original_rules(tok, tiles, q)
        pr.row_rule = [P.ROW_ALL if r >= 0 else r for r in pr.row_rule]
        return pr
    P.prompt_x = all_visible
    differs("x_7", "per-tag cross mask matters", base_x, prefill_logits(model, "x", n, pv, question))
    P.prompt_x = original_rules

    name = "x_language_model.model.norm.weight"
    saved_norm = w.pop(name)
    differs("x_7", "head-x norm override matters", base_x, prefill_logits(model, "x", n, pv, question))
    w[name] = saved_norm

    original_rms = R.rms_norm
    R.rms_norm = lambda x, wt, eps, var_width=None: original_rms(x, wt, eps, None)
    differs("d_7", "NVIDIA q/k-norm variance width matters", base_d, prefill_logits(model, "d", n, pv, question))
    R.rms_norm = original_rms

    name = "h_language_model.model.embed_tokens.weight"
    saved_embed = w.pop(name)
    differs("h_7", "head-h embedding override matters", base_h, prefill_logits(model, "h", n, pv, question))
    w[name] = saved_embed

    C, dv = model.cfg.v_hidden, model.cfg.v_hidden // model.cfg.v_heads
    wide = (model.cfg.v_heads + model.cfg.dummy_heads) * dv
    saved_qkv = {}
    for i in range(model.cfg.v_layers):
        key = f"vision_model.encoder.layers.{i}.attn.qkv.weight"
        saved_qkv[key] = w[key].clone()
        for block in range(3):
            w[key][block * wide + C: (block + 1) * wide].zero_()
    differs("d_7", "dummy ViT heads matter", base_d, prefill_logits(model, "d", n, pv, question))
    for key, v in saved_qkv.items():
        w[key].copy_(v)

    text_only = R.Session(model, "d", model.build_prompt("d", n, question), None).prefill()[0]
    differs("d_7", "image rows matter", base_d, text_only)

    if failures:
        print("check_fixtures: FAILED: " + ", ".join(failures))
        return 1
    print("check_fixtures: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
