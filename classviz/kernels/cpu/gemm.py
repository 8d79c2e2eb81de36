"""Fully connected layer on the CPU: y = x @ W.T + b, and its backward to the input."""
from numba import njit

from . import blas


def forward(x, w, b, y):
    """x: (N, C); w: (K, C); b: (K,); y: (N, K) output. Same float dtype throughout."""
    blas.matmul(x, w.T, y)
    y += b


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
