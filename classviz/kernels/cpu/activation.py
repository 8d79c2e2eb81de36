"""Pointwise activations on the CPU besides ReLU (kernels/shared.py's ACTIVATIONS): sigmoid
(squeeze-and-excite's gates), hardsigmoid and hardswish (MobileNetV3), clip (ReLU6), silu
(EfficientNet's x * sigmoid(x)). `kind`
is the index into ACTIVATIONS, alpha and beta its two parameters (see there).

The backward reads the forward's input x (and, for the sigmoid, its output y): the derivative of a
clip is 1 strictly inside (lo, hi) and 0 outside, PyTorch's convention at the edges. One view
per plane, as in add.py."""
import math

from numba import njit, prange

from .relu import _4d


def forward(x, kind, alpha, beta, y):
    """y = f(x). x, y: (N, C, H, W) or (N, K), same shape and dtype, any strides; kind: int index
    into ACTIVATIONS; alpha, beta: floats."""
    _forward(_4d(x), kind, alpha, beta, _4d(y))


def backward(x, y, gy, kind, alpha, beta, gx, accumulate):
    """gx = gy * f'(x), or gx += that. x, y: the forward's input and output; gy, gx: their shape;
    gx may be gy."""
    if kind == 3 and x.flags.c_contiguous and gy.flags.c_contiguous and gx.flags.c_contiguous:
        # clip, and the mask of a fused ReLU6 (x is then the conv's output): a flat loop, as
        # relu.py's, vectorises; the general one, which tests the kind per element, ran 2.5x slower
        _clip_backward_flat(x.reshape(-1), gy.reshape(-1), gx.reshape(-1), x.dtype.type(alpha), x.dtype.type(beta),
                            accumulate)
        return
    _backward(_4d(x), _4d(y), _4d(gy), kind, alpha, beta, _4d(gx), accumulate)


@njit(cache=True, parallel=True)
def _clip_backward_flat(x, gy, gx, lo, hi, accumulate):
    step = 8192
    for b in prange(-(-x.size // step)):
        s, e = b * step, min(x.size, (b + 1) * step)
        xs, gys, gxs = x[s:e], gy[s:e], gx[s:e]
        if accumulate:
            for i in range(e - s):
                gxs[i] += gys[i] * ((xs[i] > lo) & (xs[i] < hi))
        else:
            for i in range(e - s):
                gxs[i] = gys[i] * ((xs[i] > lo) & (xs[i] < hi))


@njit(cache=True, inline="always")
def _f(v, kind, alpha, beta):
    if kind == 0:
        return 1.0 / (1.0 + math.exp(-v))
    if kind == 3:
        return min(max(v, alpha), beta)
    if kind == 4:
        return v / (1.0 + math.exp(-v))
    h = min(max(alpha * v + beta, 0.0), 1.0)
    return h if kind == 1 else v * h


@njit(cache=True, inline="always")
def _df(v, out, kind, alpha, beta):
    if kind == 0:
        return out * (1.0 - out)
    if kind == 3:
        return 1.0 if alpha < v < beta else 0.0
    if kind == 4:  # d(x s(x)) = s(x) (1 + x (1 - s(x)))
        s = 1.0 / (1.0 + math.exp(-v))
        return s * (1.0 + v * (1.0 - s))
    t = alpha * v + beta
    inside = 0.0 < t < 1.0
    if kind == 1:
        return alpha if inside else 0.0
    # hardswish: d(x h(x)) = h(x) + x h'(x)
    return (t + alpha * v) if inside else (1.0 if t >= 1.0 else 0.0)


@njit(cache=True, parallel=True)
def _forward(x, kind, alpha, beta, y):
    N, C, H, W = x.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        xp, yp = x[n, c], y[n, c]
        for i in range(H):
            for j in range(W):
                yp[i, j] = _f(xp[i, j], kind, alpha, beta)


@njit(cache=True, parallel=True)
def _backward(x, y, gy, kind, alpha, beta, gx, accumulate):
    N, C, H, W = x.shape
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        xp, yp, g, o = x[n, c], y[n, c], gy[n, c], gx[n, c]
        for i in range(H):
            for j in range(W):
                v = g[i, j] * _df(xp[i, j], yp[i, j], kind, alpha, beta)
                o[i, j] = o[i, j] + v if accumulate else v
