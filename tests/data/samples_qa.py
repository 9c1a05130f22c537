"""samples_qa.py - assets/samples/qa.jsonl holds what docs/data.md says a
qa.jsonl line holds (type, question, answer, id, image), the id in the
generator's form <split>_<seed>_<index>, and each image beside it with its
.md truth. Plain python3, no reference data."""
import json
import os
import re
import sys

samples = os.path.join(os.environ["NV_SOURCE_ROOT"], "assets", "samples")
failures = []
with open(os.path.join(samples, "qa.jsonl"), encoding="utf-8") as f:
    lines = [json.loads(line) for line in f if line.strip()]
if not lines:
    failures.append("qa.jsonl is empty")
for n, d in enumerate(lines, 1):
    want = {"type", "question", "answer", "id", "image"}
    if set(d) != want:
        failures.append("line %d: fields %s, docs/data.md says %s" % (n, sorted(d), sorted(want)))
        continue
    if not re.fullmatch(r"(train|val|test|heldout)_\d+_\d{6}", d["id"]):
        failures.append("line %d: id %r is not <split>_<seed>_<index>" % (n, d["id"]))
    stem = os.path.splitext(d["image"])[0]
    for name in (d["image"], stem + ".md"):
        if not os.path.isfile(os.path.join(samples, name)):
            failures.append("line %d: %s is not in assets/samples" % (n, name))
for msg in failures:
    print("FAILED:", msg)
print("samples_qa: %d lines, %d failed" % (len(lines), len(failures)))
sys.exit(1 if failures else 0)
