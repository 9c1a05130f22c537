"""Minimal safetensors writer and reader (the `safetensors` package is absent).

Format: 8-byte little-endian header length, a JSON header mapping each name
to {dtype, shape, data_offsets} (offsets relative to the data area, which
follows the header), then the raw little-endian tensor bytes. The header is
padded with spaces so the data area starts 8-byte aligned.
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_MAX_HEADER = 100 * 1024 * 1024


def _to_numpy(value):
    """torch tensors (any device, bf16 as f32) or arrays -> contiguous numpy."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    return np.ascontiguousarray(value)


def write(path, tensors, metadata=None):
    """tensors: {name: array or torch tensor}; written in name order."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        array = _to_numpy(tensors[name])
        code = next((c for c, d in _DTYPES.items() if d == array.dtype.newbyteorder("<")
                     or d == array.dtype), None)
        if code is None:
            raise ValueError("safetensors: %s has unsupported dtype %s" % (name, array.dtype))
        data = array.astype(_DTYPES[code], copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def read(path):
    """Returns ({name: numpy array}, metadata dict). F32/F16/ints only; BF16 -> f32."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("safetensors: %s: shorter than the 8-byte header length" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER or 8 + n > len(raw):
        raise ValueError("safetensors: %s: header length %d out of bounds" % (path, n))
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError("safetensors: %s: header is not JSON (%s)" % (path, e)) from None
    if not isinstance(header, dict):
        raise ValueError("safetensors: %s: header is not a JSON object" % path)
    data = memoryview(raw)[8 + n:]
    metadata = header.pop("__metadata__", {})
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= len(data):
            raise ValueError("safetensors: %s: %s data outside the file" % (path, name))
        if entry["dtype"] not in _DTYPES and entry["dtype"] != "BF16":
            raise ValueError("safetensors: %s: %s has unknown dtype %s"
                             % (path, name, entry["dtype"]))
        itemsize = 2 if entry["dtype"] == "BF16" else _DTYPES[entry["dtype"]].itemsize
        if int(np.prod(entry["shape"], dtype=np.int64)) * itemsize != end - begin:
            raise ValueError("safetensors: %s: %s shape %s does not match its %d bytes"
                             % (path, name, entry["shape"], end - begin))
        if entry["dtype"] == "BF16":
            words = np.frombuffer(data[begin:end], dtype="<u2").astype(np.uint32) << 16
            array = words.view(np.float32)
        else:
            array = np.frombuffer(data[begin:end], dtype=_DTYPES[entry["dtype"]])
        out[name] = array.reshape(entry["shape"]).copy()
    return out, metadata
