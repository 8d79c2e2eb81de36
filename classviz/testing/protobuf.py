"""Protocol-buffer records written by hand, for the synthetic .caffemodel files (caffemodel.py):
the writing side of classviz/weights/wire.py, which only reads."""
import struct

from ..weights.wire import BYTES, FIXED32, VARINT


def _enc_varint(x):
    x &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = x & 0x7F
        x >>= 7
        if x:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(field, x):
    """One varint record (ints, bools, enums)."""
    return _enc_varint(field << 3 | VARINT) + _enc_varint(int(x))


def field_bytes(field, payload):
    """One length-delimited record (str is UTF-8 encoded; bytes and sub-messages as they are)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return _enc_varint(field << 3 | BYTES) + _enc_varint(len(payload)) + payload


def field_float(field, x):
    """One fixed32 float record."""
    return _enc_varint(field << 3 | FIXED32) + struct.pack("<f", x)


def field_packed_ints(field, xs):
    """A packed repeated varint field."""
    return field_bytes(field, b"".join(_enc_varint(int(x)) for x in xs))
