"""Sum of two activations on the CPU (a residual connection): y = a + b, then max(., 0) when a
ReLU after it is fused (ResNet's blocks end so). The backward hands the output's gradient (masked
by y > 0 after a fused ReLU) to each input, so it is a copy (or an add onto a gradient another
consumer wrote first), to both inputs in one pass (ResNet-50's 16 Adds: see benchmarks/README.md).

Like every elementwise kernel here it takes one view per (image, channel) plane and indexes it in
2-D: a view is a reference count, an atomic on the array shared by all threads, and a view per
row made depthwise.py 6x slower."""
from numba import njit, prange

from .relu import _4d


def forward(a, b, y, relu):
    """y = a + b, then max(., 0) when relu. a, b, y: (N, C, H, W) or (N, K), same shape and dtype,
    any strides (y may be a channel slice of a concat's output); relu: bool."""
    _forward(_4d(a), _4d(b), _4d(y), relu)


def backward(gy, gx, accumulate, relu_out=None, gx2=None, accumulate2=False):
    """gx = gy, or gx += gy when accumulate; with relu_out (the forward's y, after a fused ReLU)
    gy * (y > 0) instead; with gx2 (the other input's gradient, another buffer) the same goes to
    it as well, copied or added (accumulate2), in the same pass (gy and y read once for both).
    gy, gx, gx2, relu_out: same shape, any strides; gx or gx2 may be gy itself (masked in place)."""
    two = gx2 is not None
    _backward(_4d(gy), _4d(gy if relu_out is None else relu_out), _4d(gx), accumulate, relu_out is not None,
              _4d(gx2 if two else gx), accumulate2, two)


@njit(cache=True, parallel=True)
def _forward(a, b, y, relu):
    N, C, H, W = a.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        ap, bp, yp = a[n, c], b[n, c], y[n, c]
        for i in range(H):
            if relu:  # a product, not a select: see relu.py
                for j in range(W):
                    v = ap[i, j] + bp[i, j]
                    yp[i, j] = v * (v > 0)
            else:
                for j in range(W):
                    yp[i, j] = ap[i, j] + bp[i, j]


@njit(cache=True, parallel=True)
def _backward(gy, y, gx, accumulate, masked, gx2, accumulate2, two):
    N, C, H, W = gy.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        g, yp, o, o2 = gy[n, c], y[n, c], gx[n, c], gx2[n, c]
        for i in range(H):
            for j in range(W):
                v = g[i, j] * (yp[i, j] > 0) if masked else g[i, j]
                o[i, j] = o[i, j] + v if accumulate else v
                if two:
                    o2[i, j] = o2[i, j] + v if accumulate2 else v
