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

import numpy as np
from numba import njit, prange

from .relu import _4d

_BAND = 8192  # elements per parallel band of the flat loops


def forward(x, kind, alpha, beta, y):
    """y = f(x). x, y: (N, C, H, W) or (N, K), same shape and dtype, any strides; kind: int index
    into ACTIVATIONS; alpha, beta: floats."""
    t = x.dtype.type
    if x.flags.c_contiguous and y.flags.c_contiguous:
        if x.dtype == np.float32 and kind in (SIGMOID, SILU):
            _exp_kinds_flat32(x.reshape(-1), kind == SILU, y.reshape(-1))
            return
        _forward_flat(x.reshape(-1), kind, t(alpha), t(beta), t(1), y.reshape(-1))
    else:
        _forward(_4d(x), kind, t(alpha), t(beta), t(1), _4d(y))


def backward(x, y, gy, kind, alpha, beta, gx, accumulate):
    """gx = gy * f'(x), or gx += that. x, y: the forward's input and output; gy, gx: their shape;
    gx may be gy."""
    t = x.dtype.type
    if all(a.flags.c_contiguous for a in (x, y, gy, gx)):
        if x.dtype == np.float32 and kind == SILU:
            _silu_backward_flat32(x.reshape(-1), gy.reshape(-1), gx.reshape(-1), accumulate)
            return
        _backward_flat(x.reshape(-1), y.reshape(-1), gy.reshape(-1), kind, t(alpha), t(beta), t(1), gx.reshape(-1),
                       accumulate)
    else:
        _backward(_4d(x), _4d(y), _4d(gy), kind, t(alpha), t(beta), t(1), _4d(gx), accumulate)


SIGMOID, SILU = 0, 4  # kernels/shared.py's ACTIVATIONS.index of each (checked by tests/test_adjoint.py)

# float32 exp(-x) as a vectorised loop: Numba's math.exp is a scalar libm call per element here (no
# SVML), which made EfficientNet-B0's sigmoids and SiLUs 29 ms of its step. Cody-Waite reduction
# -x = k ln2 + r, |r| <= ln2 / 2, Cephes' degree-5 polynomial for (e^r - 1 - r) / r^2, and 2^k
# built from its exponent bits; within about 1 ulp of the exact value on [-87.3, 88.3] (clamped
# there, and beyond it 0 or inf).
_F = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
_P = (_F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3), _F(4.1665795894e-2), _F(1.6666665459e-1),
      _F(5.0000001201e-1))
_P0, _P1, _P2, _P3, _P4, _P5 = _P
_LO, _HI, _HALF, _ONE = _F(-87.3), _F(88.3), _F(0.5), _F(1)


@njit(cache=True, inline="always")
def _exp_neg32(x, out, bits):
    # out[i] = exp(-x[i]); bits: int32 scratch of x's length. Two loops: the scale 2^k goes
    # through memory as bits and comes back as a float (no bit casts of scalars in Numba)
    scale = bits.view(np.float32)
    for i in range(x.shape[0]):
        v = min(max(-x[i], _LO), _HI)
        k = math.floor(v * _LOG2E + _HALF)
        r = v - k * _LN2_HI - k * _LN2_LO
        p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
        out[i] = p * r * r + r + _ONE
        bits[i] = (np.int32(k) + np.int32(127)) << 23
    for i in range(x.shape[0]):
        # past the clamps exp is inf or 0, as libm's nearly is: a clamped value would make a
        # sigmoid of -100 a subnormal 5e-39, and every product with one later a microcode assist
        # (EfficientNet-B0's 1x1 backward 9 -> 86 ms a step with pixel-scale inputs)
        e = out[i] * scale[i]
        v = -x[i]
        out[i] = np.inf if v > _HI else (_F(0) if v < _LO else e)


@njit(cache=True, parallel=True)
def _exp_kinds_flat32(x, silu, y):
    # y = sigmoid(x), or silu(x) = x * sigmoid(x) when silu, float32, with _exp_neg32
    for blk in prange(-(-x.size // _BAND)):
        s, e = blk * _BAND, min(x.size, (blk + 1) * _BAND)
        xs, ys = x[s:e], y[s:e]
        bits = np.empty(e - s, np.int32)  # hoisted by Numba: one per thread
        _exp_neg32(xs, ys, bits)
        if silu:
            for i in range(e - s):
                ys[i] = xs[i] / (_ONE + ys[i])
        else:
            for i in range(e - s):
                ys[i] = _ONE / (_ONE + ys[i])


@njit(cache=True, parallel=True)
def _silu_backward_flat32(x, gy, gx, accumulate):
    # gx (+)= gy * s (1 + x (1 - s)), s = sigmoid(x), float32, with _exp_neg32
    for blk in prange(-(-x.size // _BAND)):
        s, e = blk * _BAND, min(x.size, (blk + 1) * _BAND)
        xs, gys, gxs = x[s:e], gy[s:e], gx[s:e]
        ex = np.empty(e - s, np.float32)  # hoisted by Numba: one per thread
        bits = np.empty(e - s, np.int32)
        _exp_neg32(xs, ex, bits)
        for i in range(e - s):
            sg = _ONE / (_ONE + ex[i])
            d = gys[i] * (sg * (_ONE + xs[i] * (_ONE - sg)))
            gxs[i] = gxs[i] + d if accumulate else d


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
