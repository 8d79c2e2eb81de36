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
    _backward(_4d(x), _4d(y), _4d(gy), kind, alpha, beta, _4d(gx), accumulate)


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
