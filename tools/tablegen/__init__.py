"""tablegen: synthetic table images with Markdown truth, QA pairs and glyph boxes.

make_sample(split, seed, index) returns one sample in memory; write_dataset()
writes a folder (see docs/data.md).
"""
from .gen import glyph_arrays, make_sample, write_dataset

__all__ = ["glyph_arrays", "make_sample", "write_dataset"]
