"""Pointwise activations on the CPU besides ReLU (kernels/shared.py's ACTIVATIONS): sigmoid
(squeeze-and-excite's gates), hardsigmoid and hardswish (MobileNetV3), clip (ReLU6), silu
(EfficientNet's x * sigmoid(x)). `kind` is the index into ACTIVATIONS, alpha and beta its two
parameters (see there).

The backward reads the forward's input x (and, for the sigmoid, its output y): the derivative of a
clip is 1 strictly inside (lo, hi) and 0 outside, PyTorch's convention at the edges.

Contiguous arrays (what the plan gives, but for concat slices) run as flat loops over bands, one
loop per kind, with the kind tested once per band and the arithmetic in the arrays' own dtype
(constants passed in as that type): EfficientNet-B0's activations took 52 ms a step as one loop
testing the kind per element in float64, which kept exp scalar and double. Strided arrays run the
same formulas one view per plane, as in add.py."""
import math

from numba import njit, prange

from .relu import _4d

_BAND = 8192  # elements per parallel band of the flat loops


def forward(x, kind, alpha, beta, y):
    """y = f(x). x, y: (N, C, H, W) or (N, K), same shape and dtype, any strides; kind: int index
    into ACTIVATIONS; alpha, beta: floats."""
    t = x.dtype.type
    if x.flags.c_contiguous and y.flags.c_contiguous:
        _forward_flat(x.reshape(-1), kind, t(alpha), t(beta), t(1), y.reshape(-1))
    else:
        _forward(_4d(x), kind, t(alpha), t(beta), t(1), _4d(y))


def backward(x, y, gy, kind, alpha, beta, gx, accumulate):
    """gx = gy * f'(x), or gx += that. x, y: the forward's input and output; gy, gx: their shape;
    gx may be gy."""
    t = x.dtype.type
    if all(a.flags.c_contiguous for a in (x, y, gy, gx)):
        _backward_flat(x.reshape(-1), y.reshape(-1), gy.reshape(-1), kind, t(alpha), t(beta), t(1), gx.reshape(-1),
                       accumulate)
    else:
        _backward(_4d(x), _4d(y), _4d(gy), kind, t(alpha), t(beta), t(1), _4d(gx), accumulate)


@njit(cache=True, inline="always")
def _f(v, kind, alpha, beta, one):
    zero = one - one
    if kind == 0:
        return one / (one + math.exp(-v))
    if kind == 3:
        return min(max(v, alpha), beta)
    if kind == 4:
        return v / (one + math.exp(-v))
    h = min(max(alpha * v + beta, zero), one)
    return h if kind == 1 else v * h


@njit(cache=True, inline="always")
def _df(v, out, kind, alpha, beta, one):
    zero = one - one
    if kind == 0:
        return out * (one - out)
    if kind == 3:
        return one if alpha < v < beta else zero
    if kind == 4:  # d(x s(x)) = s(x) (1 + x (1 - s(x)))
        s = one / (one + math.exp(-v))
        return s * (one + v * (one - s))
    t = alpha * v + beta
    inside = zero < t < one
    if kind == 1:
        return alpha if inside else zero
    # hardswish: d(x h(x)) = h(x) + x h'(x)
    return (t + alpha * v) if inside else (one if t >= one else zero)


@njit(cache=True, parallel=True)
def _forward_flat(x, kind, alpha, beta, one, y):
    zero = one - one
    for blk in prange(-(-x.size // _BAND)):
        s, e = blk * _BAND, min(x.size, (blk + 1) * _BAND)
        xs, ys = x[s:e], y[s:e]
        if kind == 0:
            for i in range(e - s):
                ys[i] = one / (one + math.exp(-xs[i]))
        elif kind == 3:
            for i in range(e - s):
                ys[i] = min(max(xs[i], alpha), beta)
        elif kind == 4:
            for i in range(e - s):
                ys[i] = xs[i] / (one + math.exp(-xs[i]))
        elif kind == 1:
            for i in range(e - s):
                ys[i] = min(max(alpha * xs[i] + beta, zero), one)
        else:
            for i in range(e - s):
                ys[i] = xs[i] * min(max(alpha * xs[i] + beta, zero), one)


@njit(cache=True, parallel=True)
def _backward_flat(x, y, gy, kind, alpha, beta, one, gx, accumulate):
    zero = one - one
    for blk in prange(-(-x.size // _BAND)):
        s, e = blk * _BAND, min(x.size, (blk + 1) * _BAND)
        xs, ys, gys, gxs = x[s:e], y[s:e], gy[s:e], gx[s:e]
        if kind == 3:  # clip, and the mask of a fused ReLU6 (x is then the conv's output)
            if accumulate:
                for i in range(e - s):
                    gxs[i] += gys[i] * ((xs[i] > alpha) & (xs[i] < beta))
            else:
                for i in range(e - s):
                    gxs[i] = gys[i] * ((xs[i] > alpha) & (xs[i] < beta))
        elif kind == 4:
            for i in range(e - s):
                sg = one / (one + math.exp(-xs[i]))
                d = gys[i] * (sg * (one + xs[i] * (one - sg)))
                gxs[i] = gxs[i] + d if accumulate else d
        elif kind == 0:
            for i in range(e - s):
                d = gys[i] * (ys[i] * (one - ys[i]))
                gxs[i] = gxs[i] + d if accumulate else d
        else:
            for i in range(e - s):
                d = gys[i] * _df(xs[i], ys[i], kind, alpha, beta, one)
                gxs[i] = gxs[i] + d if accumulate else d


@njit(cache=True, parallel=True)
def _forward(x, kind, alpha, beta, one, y):
    N, C, H, W = x.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        xp, yp = x[n, c], y[n, c]
        for i in range(H):
            for j in range(W):
                yp[i, j] = _f(xp[i, j], kind, alpha, beta, one)


@njit(cache=True, parallel=True)
def _backward(x, y, gy, kind, alpha, beta, one, gx, accumulate):
    N, C, H, W = x.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        xp, yp, g, o = x[n, c], y[n, c], gy[n, c], gx[n, c]
        for i in range(H):
            for j in range(W):
                v = g[i, j] * _df(xp[i, j], yp[i, j], kind, alpha, beta, one)
                o[i, j] = o[i, j] + v if accumulate else v
