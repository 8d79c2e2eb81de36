"""Depthwise convolution on the CPU (group == input channels, each group one input channel and
`m` output channels: MobileNet's and EfficientNet's 3x3 and 5x5 layers), as direct loops: a
grouped GEMM would be one thin GEMM per channel (1248 of them in an EfficientNet layer), each
with its own im2col.

Each thread owns whole output planes forward and whole input planes backward (the transposed
convolution scatters only into the plane of its own input channel), so nothing races and the sums
run in a fixed order. The inner loops run along a row with the tap's weight held; stride 1 has its
own compiled loop. Views are taken once per plane and indexed in 2-D: a
view per row costs an atomic reference count each, and made the layer 6x slower."""
import numpy as np
from numba import njit, prange

# Column indices are cast to unsigned: Numba wraps a negative signed index around (i + len), and
# where LLVM cannot prove i >= 0 (an offset k*d - p of unknown sign) that select stays in the
# loop and stops it vectorising (3.4 ms -> 0.8 ms for 144 planes of 56x56, 3x3)
_U = np.uint64


def usable(cin, group, w_shape):
    """True when a convolution of `cin` input channels, `group` groups and weight shape
    (Cout, Cin/group, kh, kw) is depthwise (one input channel per group, more than one group)."""
    return group == cin and group > 1 and w_shape[1] == 1


def forward(x, w, b, win, relu, y):
    """y = depthwise conv(x, w) + b, then max(., 0) when relu. x: (N, C, H, W); w: (C*m, 1, kh, kw);
    b: (C*m,); win: geometry.Window; relu: bool; y: (N, C*m, Ho, Wo), any strides."""
    (_forward_s1 if win.sw == 1 else _forward)(x, w, b, win, relu, y)


def backward(gy, w, win, gx, accumulate):
    """gx = the transposed depthwise convolution of gy, or gx += that. gy: (N, C*m, Ho, Wo) (with
    any ReLU mask already applied); w: (C*m, 1, kh, kw); gx: (N, C, H, W), any strides."""
    (_backward_s1 if win.sw == 1 else _backward)(gy, w, win, gx, accumulate)


@njit(cache=True, inline="always")
def _span(k, d, s, p, size, n_out):
    # outputs o in [lo, hi) whose tap k reads input o*s + off, off = k*d - p, inside [0, size)
    off = k * d - p
    lo = (-off + s - 1) // s if off < 0 else 0
    last = size - 1 - off
    hi = min(n_out, last // s + 1) if last >= 0 else 0
    return lo, max(lo, hi), off


def _make_forward(unit_stride):
    @njit(cache=True, parallel=True)
    def kernel(x, w, b, win, relu, y):
        N, Cout = y.shape[0], y.shape[1]
        m = Cout // x.shape[1]
        kh, kw, sh, sw, pt, pl = win.kh, win.kw, win.sh, win.sw, win.pt, win.pl
        dh, dw, H, W, Ho, Wo = win.dh, win.dw, win.H, win.W, win.Ho, win.Wo
        for no in prange(N * Cout):
            n, o = no // Cout, no % Cout
            src, out = x[n, o // m], y[n, o]
            bo = b[o]
            for oy in range(Ho):
                for ox in range(Wo):
                    out[oy, ox] = bo
                for ky in range(kh):
                    iy = oy * sh - pt + ky * dh
                    if iy < 0 or iy >= H:
                        continue
                    for kx in range(kw):
                        lo, hi, off = _span(kx, dw, sw, pl, W, Wo)
                        wv = w[o, 0, ky, kx]
                        if unit_stride:
                            for ox in range(lo, hi):
                                out[oy, _U(ox)] += wv * src[iy, _U(ox + off)]
                        else:
                            for ox in range(lo, hi):
                                out[oy, _U(ox)] += wv * src[iy, _U(ox * sw + off)]
                if relu:
                    for ox in range(Wo):
                        v = out[oy, ox]
                        out[oy, ox] = v * (v > 0)
    return kernel


def _make_backward(unit_stride):
    @njit(cache=True, parallel=True)
    def kernel(gy, w, win, gx, accumulate):
        N, C = gx.shape[0], gx.shape[1]
        m = gy.shape[1] // C
        kh, kw, sh, sw, pt, pl = win.kh, win.kw, win.sh, win.sw, win.pt, win.pl
        dh, dw, H, W, Ho, Wo = win.dh, win.dw, win.H, win.W, win.Ho, win.Wo
        for nc in prange(N * C):
            n, c = nc // C, nc % C
            dst = gx[n, c]
            if not accumulate:
                for iy in range(H):
                    for ix in range(W):
                        dst[iy, ix] = 0
            for j in range(m):
                o = c * m + j
                g = gy[n, o]
                for oy in range(Ho):
                    for ky in range(kh):
                        iy = oy * sh - pt + ky * dh
                        if iy < 0 or iy >= H:
                            continue
                        for kx in range(kw):
                            lo, hi, off = _span(kx, dw, sw, pl, W, Wo)
                            wv = w[o, 0, ky, kx]
                            if unit_stride:
                                for ox in range(lo, hi):
                                    dst[iy, _U(ox + off)] += wv * g[oy, _U(ox)]
                            else:
                                for ox in range(lo, hi):
                                    dst[iy, _U(ox * sw + off)] += wv * g[oy, _U(ox)]
    return kernel


_forward_s1, _forward = _make_forward(True), _make_forward(False)
_backward_s1, _backward = _make_backward(True), _make_backward(False)
