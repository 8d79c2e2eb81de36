"""Fully connected layer on the CPU: y = x @ W.T + b, and its backward to the input."""
import numpy as np
from numba import njit, prange

from . import blas
from .im2col import _U


def forward(x, w, b, y):
    """x: (N, C); w: (K, C); b: (K,); y: (N, K) output. Same float dtype throughout.

    Contiguous arrays (every layer in a plan) take a dot product per row of W and image, the rows
    shared out over Numba's threads: each image's scores are the same sums whatever shares its
    batch, which a gallery's pictures rely on (OpenBLAS sums a one-row product in another order
    than a four-row one on some CPUs: AMD's Zen 5 with NumPy's OpenBLAS 0.3.31), and OpenBLAS
    packed W.T for a product of a few rows, which cost more than the product (ResNet-50's 2048 ->
    1000, cold: 0.99 -> 0.40 ms; GoogLeNet's 1024 -> 1000: 0.33 -> 0.25 ms; benchmarks/README.md,
    "Step time"). Views go to BLAS."""
    if x.flags.c_contiguous and w.flags.c_contiguous and y.flags.c_contiguous:
        _rows_dot(x, w, b, y)
        return
    blas.matmul(x, w.T, y)
    y += b


@njit(cache=True, parallel=True, fastmath=True)
def _rows_dot(x, w, b, y):
    # y[n, k] = x[n] . w[k] + b[k]; fastmath lets LLVM split each sum over vector lanes (the
    # split depends on C only, not on N)
    N, C = x.shape
    for k in prange(w.shape[0]):
        row = w[k]
        for n in range(N):
            xn = x[n]
            acc = x.dtype.type(0)
            for c in range(C):
                acc += xn[c] * row[c]
            y[n, k] = acc + b[k]


COLUMNS = 256  # columns of gx per task of `_rows_axpy`: N rows of them stay in L1


def backward(gy, w, gx, accumulate):
    """gx = gy @ W, or gx += that. gy: (N, K); w: (K, C); gx: (N, C). Same float dtype throughout.

    Contiguous arrays: only the rows of W where some image's gy is nonzero are read (a class
    score's gradient, a single 1 per image, reads a row of W per image, not all of W: ResNet-50's
    classifier, 8 MB), each added in order of k onto every image's gradient, the columns shared
    out over Numba's threads: each image's gradient is the same sums whatever shares its batch
    (see `forward`). Views go to BLAS."""
    if w.flags.c_contiguous and gx.flags.c_contiguous and gy.flags.c_contiguous:
        _rows_axpy(gy, w, gx, accumulate)
        return
    blas.matmul(gy, w, gx, accumulate)


@njit(cache=True, parallel=True)
def _rows_axpy(gy, w, gx, accumulate):
    # gx[n] (+)= the sum over k of gy[n, k] * w[k] where gy[n, k] != 0, in order of k (the rows left
    # out would only add zeros), for a block of COLUMNS columns per task. Flat indices, unsigned
    # (see im2col.py), so that the column loop vectorises: no view per row (an atomic reference
    # count each)
    N, K = gy.shape
    C = w.shape[1]
    rows = np.empty(K, np.int64)
    used = 0
    for k in range(K):
        for n in range(N):
            if gy[n, k] != 0:
                rows[used] = k
                used += 1
                break
    wf, gxf = w.reshape(K * C), gx.reshape(N * C)
    for t in prange(-(-C // COLUMNS)):
        c0 = t * COLUMNS
        m = min(C, c0 + COLUMNS) - c0
        if not accumulate:
            for n in range(N):
                for c in range(m):
                    gxf[_U(n * C + c0 + c)] = 0
        for i in range(used):
            k = rows[i]
            for n in range(N):
                g = gy[n, k]
                if g != 0:
                    a, o = k * C + c0, n * C + c0
                    for c in range(m):
                        gxf[_U(o + c)] += g * wf[_U(a + c)]
