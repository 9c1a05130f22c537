"""docs_figures.py - issue 19: "README, runtime note, eval and
docs/benchmarks.md quote four different accuracy figures: one figure, one
command", and "docs/models.md is two pages pasted together and has no
InternVL / NVLM-D section". Checks that the bundled model's runtime note
(its config.json "warning", printed by every command that uses it) and
README.md, docs/models.md and docs/benchmarks.md quote the same cell
accuracy / TEDS, that README names the command that measures them, and
that docs/models.md is one page (one title) with an InternVL / NVLM-D
section."""
import json
import os
import re
import sys

root = os.environ.get("NV_SOURCE_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []


def read(rel):
    return open(os.path.join(root, rel), encoding="utf-8").read()


cfg = json.load(open(os.path.join(root, "assets/models/nvlm-tables/config.json")))
note = cfg.get("nvlm_model_card", {}).get("warning")
m = re.search(r"cell accuracy (\d\.\d+), TEDS (\d\.\d+) with heads? [dxh]"
              r"(?: and [dxh])?, .*?(\d\.\d+) / (\d\.\d+) with x", note or "")
if not m:
    sys.exit("the runtime note has no 'cell accuracy A, TEDS B with head(s) ..., "
             "C / D with x': %r" % note)
cell, teds, xcell, xteds = m.groups()
print("runtime note: d/h cell accuracy %s, TEDS %s; x %s / %s" % m.groups())

for rel in ["README.md", "docs/models.md", "docs/benchmarks.md"]:
    text = " ".join(read(rel).split())
    if not re.search(r"cell accuracy %s" % re.escape(cell), text) or \
            not re.search(r"TEDS %s" % re.escape(teds), text):
        failures.append("%s does not quote cell accuracy %s / TEDS %s"
                        % (rel, cell, teds))
readme = " ".join(read("README.md").split())
if "%s / %s" % (xcell, xteds) not in readme:
    failures.append("README.md does not quote X's %s / %s" % (xcell, xteds))
if "docs/benchmarks.md" not in readme or "one command" not in readme:
    failures.append("README.md does not point at the one command that "
                    "measures the figures (docs/benchmarks.md)")

models = read("docs/models.md")
titles = re.findall(r"^# .*", models, re.M)
if len(titles) != 1:
    failures.append("docs/models.md has %d titles (one page): %s"
                    % (len(titles), titles))
if not re.search(r"^## InternVL / NVLM-D", models, re.M):
    failures.append("docs/models.md has no '## InternVL / NVLM-D' section")

for f in failures:
    print("FAILED:", f)
print("docs_figures: %d failed" % len(failures))
sys.exit(1 if failures else 0)
