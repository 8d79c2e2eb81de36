"""Convolution on the CPU: forward (+bias, +ReLU) and backward to the input (dgrad).

GEMM through NumPy's BLAS, one image at a time. The ladder, chosen once per layer in `prepare`:
- pointwise (1x1, stride 1, unpadded): W @ x forward, W.T @ gy backward, no copies;
- stride 1 and Cout <= 2*Cin: the backward is itself a convolution of gy with the flipped,
  transposed kernel, so it runs as im2col + GEMM (a gather) instead of GEMM + col2im (a
  scatter-add). Measured backward times, float32, batch 1, this 2-core machine:
      96->128 3x3 @28: 1.18 ms as conv vs 1.53 ms col2im;  128->64 3x3 @28: 0.79 vs 1.33;
      16->32 5x5 @28: 0.48 vs 0.47;  64->192 3x3 @56: 6.18 vs 5.00 (gy has 3x the channels to gather);
- anything else (strided, grouped, widening): im2col + GEMM forward, GEMM + col2im backward.
"""
from typing import NamedTuple

import numpy as np
from numba import njit

from ..geometry import Window
from .im2col import col2im, im2col, is_pointwise, padded_size


class ConvWeights(NamedTuple):
    """A layer's weights laid out for the kernels. w: (Cout, Cin/group*kh*kw); b: (Cout,);
    win: forward geometry.Window; group: int; wflip: (Cin, Cout*kh*kw) flipped kernel or None;
    win_back: the Window of the backward-as-convolution or None; cin: input channels."""
    w: object
    b: object
    win: Window
    group: int
    wflip: object
    win_back: object
    cin: int


def prepare(w, b, win, group, asarray):
    """Lay out weights w (Cout, Cin/group, kh, kw) and bias b (Cout,) (NumPy, final dtype) for this
    layer; asarray uploads an array to the backend. Returns ConvWeights."""
    cout, cg, kh, kw = w.shape
    back = None
    if win.sh == win.sw == 1 and group == 1 and cout <= 2 * cg and not is_pointwise(win):
        pads = ((kh - 1) * win.dh - win.pt, (kw - 1) * win.dw - win.pl,
                (kh - 1) * win.dh - win.pb, (kw - 1) * win.dw - win.pr)
        if min(pads) >= 0:
            back = Window(kh, kw, 1, 1, *pads, win.dh, win.dw, win.Ho, win.Wo, win.H, win.W)
    wflip = None
    if back is not None:
        wflip = asarray(np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(cg, -1))
    return ConvWeights(asarray(w.reshape(cout, -1)), asarray(b), win, group, wflip, back, cg * group)


def work_size(cw):
    """Elements (int) of the scratch buffer `forward` and `backward` need for this layer."""
    win = cw.win
    need = cw.cin * win.kh * win.kw * win.Ho * win.Wo  # im2col columns, or the pointwise accumulate temp
    if not is_pointwise(win):
        need += padded_size(cw.cin, win)
    if cw.win_back is not None:
        wb, cout = cw.win_back, cw.w.shape[0]
        need = max(need, cout * wb.kh * wb.kw * wb.Ho * wb.Wo + padded_size(cout, wb) + cw.cin * wb.Ho * wb.Wo)
    return need


def forward(x, cw, y, relu, work):
    """y = conv(x, w) + b, then max(., 0) when relu.

    x: (N, Cin, H, W); cw: ConvWeights from `prepare`; y: (N, Cout, Ho, Wo) output, contiguous per
    image (may be a channel slice of a larger buffer); relu: bool; work: 1-D scratch of
    >= work_size(cw) elements. All float32 or all float64."""
    _conv(x, cw.w, cw.win, cw.group, y, work)
    bias_act(y, cw.b, relu)


def backward(gy, cw, gx, accumulate, work):
    """gx = d(conv)/dx applied to gy (transposed convolution), or gx += that.

    gy: (N, Cout, Ho, Wo), contiguous per image; cw: ConvWeights; gx: (N, Cin, H, W);
    accumulate: bool; work: as for `forward`."""
    if cw.win_back is not None:
        wb = cw.win_back
        if accumulate:
            tmp = work[-cw.cin * wb.Ho * wb.Wo:].reshape(1, cw.cin, wb.Ho, wb.Wo)
            for n in range(gx.shape[0]):
                _conv(gy[n:n + 1], cw.wflip, wb, 1, tmp, work)
                gx[n] += tmp[0]
        else:
            _conv(gy, cw.wflip, wb, 1, gx, work)
        return
    _dgrad_cols(gy, cw.w, cw.win, cw.group, gx, accumulate, work)


def _conv(x, w, win, group, y, work):
    n_img, cin = x.shape[:2]
    cout, hw, kg = w.shape[0], win.Ho * win.Wo, w.shape[1]
    pointwise = is_pointwise(win)
    ncols = cin * win.kh * win.kw * hw
    cols = work[:ncols].reshape(cin * win.kh * win.kw, hw)
    rows = cout // group
    for n in range(n_img):
        if pointwise:
            src = x[n].reshape(cin, hw)
        else:
            im2col(x[n], win, cols, work[ncols:])
            src = cols
        out = y[n].reshape(cout, hw)
        for g in range(group):
            np.matmul(w[g * rows:(g + 1) * rows], src[g * kg:(g + 1) * kg], out=out[g * rows:(g + 1) * rows])


def _dgrad_cols(gy, w, win, group, gx, accumulate, work):
    n_img, cin = gx.shape[:2]
    cout, hw = w.shape[0], win.Ho * win.Wo
    pointwise = is_pointwise(win)
    rows, kg = cout // group, w.shape[1]
    cols = work[:kg * group * hw].reshape(kg * group, hw)
    pad = work[kg * group * hw:]
    for n in range(n_img):
        g_out = gy[n].reshape(cout, hw)
        direct = pointwise and not accumulate
        dst = gx[n].reshape(cin, hw) if direct else cols
        for g in range(group):
            np.matmul(w[g * rows:(g + 1) * rows].T, g_out[g * rows:(g + 1) * rows], out=dst[g * kg:(g + 1) * kg])
        if pointwise and accumulate:
            gx[n].reshape(cin, hw)[...] += cols
        elif not pointwise:
            col2im(cols, win, gx[n], accumulate, pad)


@njit(cache=True)
def bias_act(y, b, relu):
    """In place: y[n, c] += b[c], then max(., 0) when relu. y: (N, C, H, W); b: (C,)."""
    N, C = y.shape[0], y.shape[1]
    for nc in range(N * C):
        n, c = nc // C, nc % C
        plane = y[n, c]
        bc = b[c]
        for i in range(plane.shape[0]):
            row = plane[i]
            if relu:  # a product, not a select: see relu.py
                for j in range(row.shape[0]):
                    v = row[j] + bc
                    row[j] = v * (v > 0)
            else:
                for j in range(row.shape[0]):
                    row[j] += bc
