"""A small reader of the protobuf wire format, enough for Caffe's NetParameter.

Caffe models are binary protobuf messages. Rather than compile caffe.proto, we walk the wire
format directly: a message is a sequence of (field number, wire type, value) records. Length-
delimited values come back as memoryviews into the caller's buffer, so a 51 MB caffemodel's weight
blobs are never copied until NumPy views them. The writer, for test models, is
classviz/testing/protobuf.py."""
import struct

import numpy as np

from ..errors import ModelError

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class WireError(ModelError):
    """The bytes are not a well-formed protobuf message (truncated, or not protobuf at all)."""


def _varint(buf, pos, end):
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def parse(buf):
    """Decode one message. buf: bytes or memoryview. Returns {field number: [values]} where a value
    is an int (varint, fixed64 and fixed32 as raw unsigned ints) or a memoryview (length-delimited:
    strings, bytes, sub-messages, packed arrays). Raises WireError on malformed input."""
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    out, pos, end = {}, 0, len(view)
    while pos < end:
        key, pos = _varint(view, pos, end)
        field, wtype = key >> 3, key & 7
        if field == 0:
            raise WireError("field number 0")
        if wtype == VARINT:
            value, pos = _varint(view, pos, end)
        elif wtype == BYTES:
            n, pos = _varint(view, pos, end)
            if pos + n > end:
                raise WireError(f"field {field} claims {n} bytes, {end - pos} left")
            value, pos = view[pos:pos + n], pos + n
        elif wtype in (FIXED32, FIXED64):
            n = 4 if wtype == FIXED32 else 8
            if pos + n > end:
                raise WireError(f"truncated fixed{8 * n} field {field}")
            value, pos = int.from_bytes(view[pos:pos + n], "little"), pos + n
        else:
            raise WireError(f"wire type {wtype} (field {field}) is not protobuf's")
        out.setdefault(field, []).append(value)
    return out


def text(value):
    """A length-delimited value as str (UTF-8)."""
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("a string field holds bytes that are not UTF-8") from None


def ints(values):
    """Repeated integer field: packed (memoryviews of varints) or not (ints), as a list of int."""
    out = []
    for v in values:
        if isinstance(v, memoryview):
            pos = 0
            while pos < len(v):
                x, pos = _varint(v, pos, len(v))
                out.append(x)
        else:
            out.append(v)
    return out


def signed(x):
    """A varint read as int64 (two's complement)."""
    return x - (1 << 64) if x >= 1 << 63 else x


def floats(values, dtype):
    """Repeated float32 ('<f4') or float64 ('<f8') field as a 1-D NumPy array of that dtype, a view
    when the field is one packed run. Unpacked values arrive as raw ints."""
    dtype = np.dtype(dtype)
    if len(values) == 1 and isinstance(values[0], memoryview):
        if len(values[0]) % dtype.itemsize:
            raise WireError(f"packed {dtype} array of {len(values[0])} bytes")
        return np.frombuffer(values[0], dtype)
    parts = []
    for v in values:
        if isinstance(v, memoryview):
            parts.append(np.frombuffer(v, dtype))
        else:
            parts.append(np.frombuffer(v.to_bytes(dtype.itemsize, "little"), dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def scalar(msg, field, default=None, kind=int):
    """The last value of an optional field (protobuf's rule), converted: int, bool, float (fixed32),
    str; `default` when absent."""
    if field not in msg:
        return default
    v = msg[field][-1]
    if kind is float:
        return struct.unpack("<f", v.to_bytes(4, "little"))[0]
    if kind is str:
        return text(v)
    if kind is bool:
        return bool(v)
    return signed(v)
