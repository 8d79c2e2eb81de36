"""Local response normalisation across channels on the CPU (ONNX and Caffe formula):

    scale[c] = bias + alpha/size * sum(x[c']^2 for c' in c-(size-1)//2 .. c+size//2 ... clipped)
    y[c]     = x[c] * scale[c]^-beta

The forward saves `lrn_scale`; the backward uses x, y and lrn_scale:

    gx[c] = gy[c]*scale[c]^-beta - 2*alpha*beta/size * x[c] * sum(gy[i]*y[i]/scale[i], i whose window holds c)
"""
import math

from numba import njit, prange


@njit(cache=True, inline="always")
def _pow_neg(s, beta):
    # Caffe's GoogLeNet uses beta=0.75: two square roots are far cheaper than pow
    if beta == 0.75:
        r = math.sqrt(s)
        return 1.0 / (r * math.sqrt(r))
    return s ** -beta


@njit(cache=True, parallel=True)
def forward(x, size, alpha, beta, bias, y, scale):
    """x: (N, C, H, W); size: int; alpha, beta, bias: float; y, scale: (N, C, H, W) outputs
    (y any strides, scale contiguous)."""
    N, C, H, W = x.shape
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    a = alpha / size
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        c0, c1 = max(0, c - lo), min(C, c + hi + 1)
        for i in range(H):
            for j in range(W):
                s = 0.0
                for k in range(c0, c1):
                    v = x[n, k, i, j]
                    s += v * v
                s = bias + a * s
                scale[n, c, i, j] = s
                y[n, c, i, j] = x[n, c, i, j] * _pow_neg(s, beta)


@njit(cache=True, parallel=True)
def backward(gy, x, y, scale, size, alpha, beta, gx, accumulate):
    """gy, x, y, scale: (N, C, H, W) (gy, y any strides); gx: (N, C, H, W), overwritten unless
    accumulate."""
    N, C, H, W = x.shape
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    k2 = 2.0 * alpha * beta / size
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        # c is in the window of channels i with i - lo <= c <= i + hi
        i0, i1 = max(0, c - hi), min(C, c + lo + 1)
        for p in range(H):
            for q in range(W):
                t = 0.0
                for i in range(i0, i1):
                    t += gy[n, i, p, q] * y[n, i, p, q] / scale[n, i, p, q]
                g = gy[n, c, p, q] * _pow_neg(scale[n, c, p, q], beta) - k2 * x[n, c, p, q] * t
                gx[n, c, p, q] = gx[n, c, p, q] + g if accumulate else g
