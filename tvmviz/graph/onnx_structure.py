"""An ONNX model's structure without its weights: nodes, inputs, outputs and every initializer's name,
type and shape, read from the protobuf wire format with the large tensor data skipped in place.

``onnx.load`` materialises every initializer (a 480 MB model costs several GB); the graph tuner needs
shapes only. The file is memory-mapped and walked field by field: pages of skipped weight data are
never touched, so memory stays near the structure's own size. Small initializers (reshape targets,
pads, clip bounds: values a node reads) keep their data.
"""

from __future__ import annotations

import mmap

from tvmviz.errors import TvmvizError

# Initializers whose data is at most this many bytes keep it; larger ones keep name, type and dims.
SMALL_TENSOR_BYTES = 64 * 1024

_MODEL_GRAPH = 7  # ModelProto.graph
_GRAPH_INITIALIZER = 5  # GraphProto.initializer
_TENSOR_DATA = {4, 5, 6, 7, 9, 10, 11}  # float/int32/string/int64/raw/double/uint64 data
_MAX_VARINT_BYTES = 10


def read_structure(path: str):
    """The ModelProto of ``path`` with large initializers' data dropped; TvmvizError if not ONNX."""
    import onnx

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            slim = _rewrite(buf, 0, len(buf), {_MODEL_GRAPH: _rewrite_graph})
    except (ValueError, OSError) as e:
        raise TvmvizError(f"not a readable ONNX model ({e})") from None
    try:
        return onnx.ModelProto.FromString(slim)
    except Exception as e:  # protobuf's DecodeError and friends
        raise TvmvizError(f"not a readable ONNX model ({type(e).__name__}: {e})") from None


def has_data(tensor) -> bool:
    """False for an initializer whose data read_structure dropped (or that never had any)."""
    return bool(tensor.HasField("raw_data") or tensor.float_data or tensor.int32_data or tensor.int64_data
                or tensor.double_data or tensor.uint64_data or tensor.string_data or tensor.data_location == 1)


def _rewrite_graph(buf, start: int, end: int) -> bytes:
    return _rewrite(buf, start, end, {_GRAPH_INITIALIZER: _rewrite_tensor})


def _rewrite_tensor(buf, start: int, end: int) -> bytes:
    fields = list(_fields(buf, start, end))
    data = sum(e - s for no, _, s, e, _ in fields if no in _TENSOR_DATA)
    if data <= SMALL_TENSOR_BYTES:
        return bytes(buf[start:end])
    return b"".join(bytes(buf[raw:e]) for no, _, _, e, raw in fields if no not in _TENSOR_DATA)


def _rewrite(buf, start: int, end: int, nested: dict) -> bytes:
    """The message in buf[start:end] with the length-delimited fields in ``nested`` rewritten."""
    out = []
    for no, wire, s, e, raw in _fields(buf, start, end):
        if wire == 2 and no in nested:
            body = nested[no](buf, s, e)
            out.append(_encode_varint((no << 3) | 2) + _encode_varint(len(body)) + body)
        else:
            out.append(bytes(buf[raw:e]))
    return b"".join(out)


def _fields(buf, start: int, end: int):
    """(field number, wire type, value start, value end, field start) of each field."""
    pos = start
    while pos < end:
        raw = pos
        key, pos = _varint(buf, pos, end)
        no, wire = key >> 3, key & 7
        if wire == 0:
            _, pos2 = _varint(buf, pos, end)
            yield no, wire, pos, pos2, raw
            pos = pos2
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise ValueError("a field runs past the end of its message")
            yield no, wire, pos, pos + size, raw
            pos += size
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise ValueError("a field runs past the end of its message")
            yield no, wire, pos, pos + length, raw
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    for k in range(_MAX_VARINT_BYTES):
        if pos >= end:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
    raise ValueError("varint too long")


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)
