#!/usr/bin/env bash
# The training tools' self-test (tools/train/selftest.py): the PyTorch ViT vs
# the golden upstream InternViT, tiling vs upstream, safetensors, BatchNorm fold.
set -euo pipefail
cd "${NV_SOURCE_ROOT:?NV_SOURCE_ROOT is not set}"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 tools/train/selftest.py
