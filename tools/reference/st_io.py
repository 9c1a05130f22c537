"""st_io.py - a small safetensors reader and writer (the `safetensors` package is not installed).

Reads every tensor of a file (or of a sharded model directory) into torch tensors, and writes
a dict of tensors deterministically: names sorted, compact JSON header padded with spaces to a
multiple of 8 bytes, data packed in name order.
"""
import json
import os
import struct

import numpy as np
import torch

_NP_OF = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}
_NAME_OF_TORCH = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def read_file(path):
    """Returns {name: tensor} for one .safetensors file (BF16 is widened to F32)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    header_len = struct.unpack("<Q", blob[:8])[0]
    if 8 + header_len > len(blob):
        raise ValueError(f"{path}: header length {header_len} runs past the file")
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data = blob[8 + header_len:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if not (0 <= begin <= end <= len(data)):
            raise ValueError(f"{path}: tensor {name} offsets outside the data area")
        raw = data[begin:end]
        shape = info["shape"]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32).reshape(shape)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_NP_OF[info["dtype"]]).newbyteorder("<"))
            arr = arr.reshape(shape)
        out[name] = torch.from_numpy(arr.copy())
    return out


def read_model(path):
    """Reads a file, or a directory holding model.safetensors or a sharded index."""
    if os.path.isdir(path):
        index = os.path.join(path, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            out = {}
            for shard in shards:
                out.update(read_file(os.path.join(path, shard)))
            return out
        return read_file(os.path.join(path, "model.safetensors"))
    return read_file(path)


def write_file(path, tensors, metadata=None):
    """Writes {name: tensor} to path; same input gives the same bytes."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            raise ValueError("write_file: BF16 not supported by this writer")
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAME_OF_TORCH[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in chunks:
            f.write(raw)
