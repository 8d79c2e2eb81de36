"""Sum of two activations on the CPU (a residual connection): y = a + b. The backward hands the
output's gradient to each input unchanged, so it is a copy (or an add onto a gradient another
consumer wrote first).

Like every elementwise kernel here it takes one view per (image, channel) plane and indexes it in
2-D: a view is a reference count, an atomic on the array shared by all threads, and a view per
row made depthwise.py 6x slower."""
from numba import njit, prange

from .relu import _4d


def forward(a, b, y):
    """y = a + b. a, b, y: (N, C, H, W) or (N, K), same shape and dtype, any strides (y may be a
    channel slice of a concat's output)."""
    _forward(_4d(a), _4d(b), _4d(y))


def backward(gy, gx, accumulate):
    """gx = gy, or gx += gy when accumulate. gy, gx: same shape, any strides."""
    _backward(_4d(gy), _4d(gx), accumulate)


@njit(cache=True, parallel=True)
def _forward(a, b, y):
    N, C, H, W = a.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        ap, bp, yp = a[n, c], b[n, c], y[n, c]
        for i in range(H):
            for j in range(W):
                yp[i, j] = ap[i, j] + bp[i, j]


@njit(cache=True, parallel=True)
def _backward(gy, gx, accumulate):
    N, C, H, W = gy.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        g, o = gy[n, c], gx[n, c]
        for i in range(H):
            if accumulate:
                for j in range(W):
                    o[i, j] += g[i, j]
            else:
                for j in range(W):
                    o[i, j] = g[i, j]
