"""bpe.py - a plain-Python byte-level BPE tokenizer (GPT-2 / Qwen2 style) for the reference.

Loads HF tokenizer.json, or vocab.json + merges.txt + tokenizer_config.json. Encoding: split
on added tokens (literal match, longest first), NFC-normalise the text between them when the
file asks for it, pre-tokenise with a hand-written matcher equivalent to the Qwen2 Split regex
(the `regex` module is not installed), map bytes to the GPT-2 alphabet, apply merges by rank.
"""
import json
import os
import unicodedata


def bytes_to_unicode():
    """GPT-2's byte -> printable character table."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = {}
    extra = 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def _is_letter(ch):
    return unicodedata.category(ch).startswith("L")


def _is_number(ch):
    return unicodedata.category(ch).startswith("N")


def _is_space(ch):
    return ch.isspace()


QWEN2_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
               " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


def qwen2_tokenizer_json(vocab, merges, specials):
    """A HF tokenizer.json of a byte-level BPE with Qwen2's pre-tokeniser and NFC: `vocab`
    (token -> id), `merges` ([(a, b)] by rank), then `specials` as added special tokens with
    the ids after the vocabulary. The tiny fixture and the bundled byte model both use it."""
    added = [{"id": len(vocab) + i, "content": content, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for i, content in enumerate(specials)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                  "use_regex": False}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": {"type": "NFC"},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated",
                 "invert": False}, byte_level]},
            "post_processor": byte_level, "decoder": byte_level,
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": "", "end_of_word_suffix": "",
                      "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": vocab, "merges": [[a, b] for a, b in merges]}}


def _split_regexes(node):
    """All Split-pattern regexes inside a tokenizer.json pre_tokenizer."""
    if not isinstance(node, dict):
        return []
    found = []
    if node.get("type") == "Split":
        found.append(node.get("pattern", {}).get("Regex"))
    for child in node.get("pretokenizers", []) or []:
        found += _split_regexes(child)
    return found


def pretokenize(text):
    """Splits text like the Qwen2 regex
    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+
    by trying the alternatives in order at each position."""
    pieces = []
    i = 0
    n = len(text)
    while i < n:
        j = _match_at(text, i)
        pieces.append(text[i:j])
        i = j
    return pieces


def _match_at(s, i):
    n = len(s)
    ch = s[i]
    # contractions
    if ch == "'" and i + 1 < n:
        rest = s[i + 1:i + 3].lower()
        if rest[:2] in ("re", "ve", "ll"):
            return i + 3
        if rest[:1] in ("s", "t", "m", "d"):
            return i + 2
    # [^\r\n\p{L}\p{N}]?\p{L}+
    if _is_letter(ch):
        j = i
        while j < n and _is_letter(s[j]):
            j += 1
        return j
    if ch not in "\r\n" and not _is_number(ch) and i + 1 < n and _is_letter(s[i + 1]):
        j = i + 1
        while j < n and _is_letter(s[j]):
            j += 1
        return j
    # \p{N}
    if _is_number(ch):
        return i + 1
    # ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    def is_punct(c):
        return not _is_space(c) and not _is_letter(c) and not _is_number(c)
    start = i + 1 if (ch == " " and i + 1 < n and is_punct(s[i + 1])) else i
    if is_punct(s[start]):
        j = start
        while j < n and is_punct(s[j]):
            j += 1
        while j < n and s[j] in "\r\n":
            j += 1
        return j
    # whitespace alternatives
    j = i
    while j < n and _is_space(s[j]):
        j += 1
    run = s[i:j]
    last_nl = max(run.rfind("\r"), run.rfind("\n"))
    if last_nl >= 0:  # \s*[\r\n]+
        return i + last_nl + 1
    if j == n:  # \s+(?!\S) at end of text
        return j
    if j - i >= 2:  # \s+(?!\S): leave the last space for the next piece
        return j - 1
    return j  # \s+


class Tokenizer:
    def __init__(self, vocab, merges, added, nfc):
        self.vocab = vocab  # piece -> id
        self.id_to_piece = {v: k for k, v in vocab.items()}
        self.ranks = {pair: r for r, pair in enumerate(merges)}
        self.added = dict(added)  # content -> id
        for content, idx in self.added.items():
            self.id_to_piece[idx] = content
        self.nfc = nfc
        self.byte_char = bytes_to_unicode()
        self.char_byte = {c: b for b, c in self.byte_char.items()}

    @classmethod
    def load(cls, path):
        """path: tokenizer.json, or a model directory holding it or vocab.json + merges.txt."""
        if os.path.isdir(path):
            tj = os.path.join(path, "tokenizer.json")
            if os.path.exists(tj):
                return cls.from_tokenizer_json(tj)
            return cls.from_vocab_merges(path)
        return cls.from_tokenizer_json(path)

    @classmethod
    def from_tokenizer_json(cls, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        model = tj["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"{path}: model.type must be BPE")
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]
        added = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
        for regex in _split_regexes(tj.get("pre_tokenizer")):
            if regex != QWEN2_SPLIT:
                raise ValueError(f"{path}: only the Qwen2 Split regex is implemented here")
        norm = tj.get("normalizer") or {}
        return cls(dict(model["vocab"]), merges, added, norm.get("type") == "NFC")

    @classmethod
    def from_vocab_merges(cls, directory):
        with open(os.path.join(directory, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        merges = []
        with open(os.path.join(directory, "merges.txt"), encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#version"):
                    continue
                merges.append(tuple(line.split(" ", 1)))
        added = {}
        cfg_path = os.path.join(directory, "tokenizer_config.json")
        if os.path.exists(cfg_path):
            with open(cfg_path, encoding="utf-8") as f:
                cfg = json.load(f)
            for idx, info in cfg.get("added_tokens_decoder", {}).items():
                added[info["content"]] = int(idx)
        for content in list(added):
            vocab.pop(content, None)
        return cls(vocab, merges, added, nfc=True)

    def _bpe(self, word):
        parts = [self.byte_char[b] for b in word.encode("utf-8")]
        while len(parts) > 1:
            best = None
            for k in range(len(parts) - 1):
                r = self.ranks.get((parts[k], parts[k + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, k)
            if best is None:
                break
            k = best[1]
            parts = parts[:k] + [parts[k] + parts[k + 1]] + parts[k + 2:]
        return [self.vocab[p] for p in parts]

    def encode(self, text):
        ids = []
        specials = sorted(self.added, key=len, reverse=True)
        i = 0
        plain_start = 0
        while i <= len(text):
            hit = None
            if i < len(text):
                for sp in specials:
                    if text.startswith(sp, i):
                        hit = sp
                        break
            if hit is not None or i == len(text):
                ids += self._encode_plain(text[plain_start:i])
                if hit is None:
                    break
                ids.append(self.added[hit])
                i += len(hit)
                plain_start = i
            else:
                i += 1
        return ids

    def _encode_plain(self, text):
        if not text:
            return []
        if self.nfc:
            text = unicodedata.normalize("NFC", text)
        out = []
        for piece in pretokenize(text):
            out += self._bpe(piece)
        return out

    def decode(self, ids):
        raw = bytearray()
        for idx in ids:
            piece = self.id_to_piece[idx]
            if idx in self.added.values():
                raw += piece.encode("utf-8")
            else:
                raw += bytes(self.char_byte[c] for c in piece)
        return raw.decode("utf-8", errors="replace")
