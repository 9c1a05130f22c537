#!/usr/bin/env bash
# The table generator's self-test (tools/tablegen/selftest.py): determinism,
# held-out styles, Markdown escaping, QA answers, glyph boxes vs ink.
set -euo pipefail
cd "${NV_SOURCE_ROOT:?NV_SOURCE_ROOT is not set}"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -m tools.tablegen.selftest
