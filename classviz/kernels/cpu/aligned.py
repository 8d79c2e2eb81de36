"""Arrays whose first element sits on a 64-byte boundary (a cache line, an AVX-512 vector).

NumPy's arrays of a megabyte or more come from glibc's mmap'd chunks and start 16 bytes into a
page, so every 64-byte row of a GEMM operand that NumPy allocated straddles two cache lines, and
each vector load of it touches both. A plan's buffers and the packed weights are allocated here
instead: the rows of 28x28, 56x56 and 112x112 planes then start on cache lines too. ResNet-50's
step 77 -> 74 ms, GoogLeNet's 34 -> 33 ms (benchmarks/README.md, "Step time")."""
import numpy as np

ALIGN = 64  # bytes
FLOATS = ALIGN // 4  # float32s to a cache line


def row_stride(n):
    """n (int) float32s rounded up to whole cache lines: how far apart to lay rows of n so that
    each starts on one, in an array that does (GEMM operands: conv.py, winograd.py)."""
    return -(-n // FLOATS) * FLOATS


def empty(shape, dtype):
    """An uninitialised C-contiguous array of `shape` and `dtype` whose data starts on a multiple of
    ALIGN bytes (a view into a buffer ALIGN bytes longer)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(n + ALIGN, np.uint8)
    at = -raw.ctypes.data % ALIGN
    return raw[at:at + n].view(dtype).reshape(shape)


def zeros(shape, dtype):
    """As `empty`, filled with zeros."""
    a = empty(shape, dtype)
    a.fill(0)
    return a
