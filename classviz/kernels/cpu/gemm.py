"""Fully connected layer on the CPU: y = x @ W.T + b, and its backward to the input."""
from numba import njit, prange

from . import blas


GEMV_ROWS = 8  # up to this many images: `_rows_dot`, not BLAS


def forward(x, w, b, y):
    """x: (N, C); w: (K, C); b: (K,); y: (N, K) output. Same float dtype throughout.

    A few images (N <= GEMV_ROWS, every classifier in a render) take a dot product per row of W,
    the rows shared out over Numba's threads: OpenBLAS packed W.T for such a product, which cost
    more than the product (ResNet-50's 2048 -> 1000, cold: 0.99 -> 0.40 ms; GoogLeNet's 1024 ->
    1000: 0.33 -> 0.25 ms; benchmarks/README.md, "Step time"). Its sums run in another order than
    BLAS's: the scores differ from it in the last bits; the gradients do not depend on them."""
    if x.shape[0] <= GEMV_ROWS and x.flags.c_contiguous and w.flags.c_contiguous and y.flags.c_contiguous:
        _rows_dot(x, w, b, y)
        return
    blas.matmul(x, w.T, y)
    y += b


@njit(cache=True, parallel=True, fastmath=True)
def _rows_dot(x, w, b, y):
    # y[n, k] = x[n] . w[k] + b[k]; fastmath lets LLVM split each sum over vector lanes
    N, C = x.shape
    for k in prange(w.shape[0]):
        row = w[k]
        for n in range(N):
            xn = x[n]
            acc = x.dtype.type(0)
            for c in range(C):
                acc += xn[c] * row[c]
            y[n, k] = acc + b[k]


def backward(gy, w, gx, accumulate):
    """gx = gy @ W, or gx += that. gy: (N, K); w: (K, C); gx: (N, C). Same float dtype throughout.

    Where gy is zero for every image in most rows of W, only the others are read: a class score's
    gradient (a single 1 per image) reads a row of W per image, not all of W (ResNet-50's
    classifier: 8 MB). The rows left out would only have added zeros."""
    if not (w.flags.c_contiguous and gx.flags.c_contiguous and _few_rows(gy, w, gx, accumulate)):
        blas.matmul(gy, w, gx, accumulate)


@njit(cache=True)
def _few_rows(gy, w, gx, accumulate):
    # gx (+)= the sum over k of gy[n, k] * w[k] where gy[n, k] != 0, in order of k; False (nothing
    # written) when more than a quarter of the rows are needed: then BLAS, reading all of W, is faster
    N, K = gy.shape
    needed = 0
    for k in range(K):
        for n in range(N):
            if gy[n, k] != 0:
                needed += 1
                break
    if needed * 4 > K:
        return False
    if not accumulate:
        gx[:] = 0
    for k in range(K):
        for n in range(N):
            g = gy[n, k]
            if g != 0:
                row, out = w[k], gx[n]
                for c in range(row.shape[0]):
                    out[c] += g * row[c]
    return True
