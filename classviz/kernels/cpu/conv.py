"""Convolution on the CPU: forward (+bias, +residual, +ReLU) and backward to the input (dgrad,
with the input's mask where the plan hands it on).

GEMM by packed.py's kernel on weights packed here once (float32, ungrouped: every GoogLeNet
layer, on CPUs where it pays: `packed.PAYS`), else through NumPy's OpenBLAS shared out over Numba's
threads (blas.py):
- pointwise (1x1, stride 1, unpadded): W @ x forward, W.T @ gy backward (added onto the input's
  gradient by the GEMM itself when another consumer wrote it first, and masked by the input's
  activation as it is stored), no copies;
- 3x3 stride 1 (GoogLeNet's commonest): Winograd F(4x4, 3x3) from 28x28 up, F(2x2, 3x3) below,
  and 5x5 stride 1 by F(2x2, 5x5), both ways, for outputs from 14x14 up (winograd.py);
- depthwise (one input channel per group: MobileNet, EfficientNet): direct loops (depthwise.py);
- anything else: im2col + GEMM forward, GEMM + col2im backward, one image at a time.
(Running the backward of a stride-1 layer as a convolution with the flipped kernel, a gather
instead of a scatter-add, won for some layers against NumPy's strided col2im; against the
phase-split Numba col2im it loses on 12 of GoogLeNet's 13 layer shapes, e.g. 3x3 160->320 @14:
1.67 vs 1.31 ms, so it is gone.)
"""
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ...errors import ArgumentError
from ..geometry import Window
from . import aligned, blas, depthwise, packed, winograd
from .im2col import col2im, im2col, is_pointwise, padded_size
from ..shared import CLIP, fused_activation
from .activation import backward as activation_backward
from .add import forward as add_forward
from .relu import backward as relu_backward  # a module named relu would hide behind the relu flags


def mask_gradient(relu_out, gy, cap):
    """In place: gy *= (0 < y < cap), y = relu_out, the derivative of the fused activation."""
    if cap == np.inf:
        relu_backward(relu_out, gy, gy, False)
    else:
        activation_backward(relu_out, relu_out, gy, CLIP, 0.0, cap, gy, False)


class ConvWeights(NamedTuple):
    """A layer's weights laid out for the kernels. w: (Cout, Cin/group*kh*kw); b: (Cout,);
    win: forward geometry.Window; group: int; cin: input channels; u, u_back: Winograd weights
    of the forward (n^2, Cout, Cin) and backward (n^2, Cin, Cout) (n = 4 or 6, see winograd.py), or
    None (either may be in packed.pack's layout instead); zero: (Cin,) zeros (the backward's bias);
    wp, wp_back: w and w.T in packed.pack's layout, or None (then blas.py does the GEMMs);
    dw: the weights (Cout, 1, kh, kw) of a depthwise layer (depthwise.py runs it), else None;
    dw_last: those weights as (kh, kw, Cout) for depthwise.py's channels-last loops."""
    w: object
    b: object
    win: Window
    group: int
    cin: int
    u: object = None
    u_back: object = None
    zero: object = None
    wp: object = None
    wp_back: object = None
    dw: object = None
    dw_last: object = None


def prepare(w, b, win, group, asarray, precision="fp32"):
    """Lay out weights w (Cout, Cin/group, kh, kw) and bias b (Cout,) (NumPy, final dtype) for this
    layer; asarray uploads an array to the backend; precision: 'fp32' only (the CPU computes in the
    arrays' own dtype). Returns ConvWeights. Raises ArgumentError for any other precision."""
    if precision != "fp32":
        raise ArgumentError(f"precision {precision!r} needs the CUDA backend; the CPU computes in float32 or float64")
    cout, cg = w.shape[:2]
    cw = ConvWeights(asarray(w.reshape(cout, -1)), asarray(b), win, group, cg * group)
    if depthwise.usable(cg * group, group, w.shape):
        return cw._replace(dw=asarray(w), dw_last=asarray(depthwise.taps_last(w)))
    pack = w.dtype == np.float32 and packed.PAYS
    if winograd.usable(win, group):
        m = winograd.tile(win)
        u, u_back = winograd.transform_weights(w, m=m), winograd.transform_weights(w, back=True, m=m)
        if pack:
            u, u_back = packed.pack(u), packed.pack(u_back)
        return cw._replace(u=asarray(u), u_back=asarray(u_back), zero=asarray(np.zeros_like(b, shape=cg)))
    if pack and group == 1:
        w2 = w.reshape(cout, -1)
        cw = cw._replace(wp=asarray(packed.pack(w2)), wp_back=asarray(packed.pack(w2.T)))
    return cw


def work_size(cw, n):
    """Elements (int) of the scratch buffer `forward` and `backward` need for this layer at batch n."""
    win = cw.win
    cout = cw.w.shape[0]
    if cw.dw is not None:
        return depthwise.work_size(win, n, cw.cin, cw.w.shape[0])
    if cw.u is not None:
        m = winograd.tile(win)
        return max(winograd.work_size(cw.cin, cout, n, win.Ho, win.Wo, m, win.kh),  # forward
                   winograd.work_size(cout, cw.cin, n, win.H, win.W, m, win.kh))   # backward
    hw = win.Ho * win.Wo
    ld = _row_stride(cw, hw)
    if is_pointwise(win):  # the input's copy (forward) or gy's (backward), where _copies says
        return max(cw.cin * _copies(hw, ld, cout), cout * _copies(hw, ld, cw.cin)) * ld
    gy_copy = cout * ld if ld != hw else 0
    return cw.cin * win.kh * win.kw * ld + gy_copy + padded_size(cw.cin, win)  # columns, gy's copy, padded image


def _row_stride(cw, hw):
    # how far apart the rows of a GEMM's right operand lie in scratch: for the packed kernel, hw
    # rounded up to whole cache lines (the scratch itself starts on one), since a row that starts
    # mid-line splits every vector load of it in two: 512x2048 @ 2048x49 0.42 -> 0.35 ms,
    # 256x1024 @ 1024x196 0.35 -> 0.32 (the 7x7 and 14x14 stages; 28x28 and up are whole lines)
    return aligned.row_stride(hw) if cw.wp is not None else hw


def _copies(hw, ld, m):
    # whether a pointwise GEMM's right operand (rows of hw, read once per panel of MR of its m
    # rows) is worth copying onto cache lines first: only on small planes (7x7: 17% off the
    # product) and for at least 256 rows; at 14x14 the copy cost what it saved, and a thin
    # product (MobileNetV2's projections) reads the rows too few times (its step 16.8 -> 17.6 ms
    # with every such operand copied)
    return ld != hw and hw < 128 and m >= 256


def forward(x, cw, y, relu, work, residual=None):
    """y = conv(x, w) + b (+ residual), then the fused activation: max(., 0) when relu is True,
    min(max(., 0), c) when relu is a number c (ReLU6: 6.0), none when False.

    x: (N, Cin, H, W); cw: ConvWeights from `prepare`; y: (N, Cout, Ho, Wo) output, contiguous per
    image (may be a channel slice of a larger buffer); relu: False, True or a float; work: 1-D
    scratch of >= work_size(cw, N) elements; residual: None, or y's shape, contiguous per image:
    a residual connection's other summand (the plan folds an Add into the layer before it), added
    before the activation, bit for bit conv then add.py's forward. All float32 or all float64."""
    on, cap = fused_activation(relu)
    cap = y.dtype.type(cap)
    if residual is not None and cw.dw is None and cw.u is None and cw.wp is not None:
        _conv(x, cw, y, work, on, cap, residual)  # the packed kernel adds it as it stores
        return
    if residual is not None:  # the sum and the activation: a pass of their own, as an Add's
        forward(x, cw, y, False, work)
        add_forward(y, residual, y, on)
        if cap != np.inf:
            np.minimum(y, cap, out=y)
        return
    if cw.dw is not None:
        depthwise.forward(x, cw.dw, cw.b, cw.win, on, y, work, cw.dw_last, cap)
        return
    if cw.u is not None:
        winograd.conv(x, cw.u, winograd.tile(cw.win), cw.win.pt, cw.win.pl, y, cw.b, on, False, work)
        if cap != np.inf:  # no network here has a clipped ReLU after a Winograd layer: a pass of its own
            np.minimum(y, cap, out=y)
        return
    _conv(x, cw, y, work, on, cap)
    if cw.wp is None:  # the packed kernel adds the bias and applies the activation as it stores
        bias_act(y, cw.b, on, cap)


def masks_input(cw, accumulate=False):
    """True when `backward` applies the input's mask (its x and x_relu arguments) as it writes gx,
    at no pass of its own (to a gradient it adds to when accumulate): a pointwise layer's packed
    GEMM and a Winograd layer's output transform, as they store; the depthwise layers, as they
    write, only a gradient they write alone. Elsewhere the layer that produced the input masks
    its own gradient."""
    return _packed_pointwise(cw) or cw.u is not None or (cw.dw is not None and not accumulate)


def _packed_pointwise(cw):
    return cw.wp_back is not None and is_pointwise(cw.win)


def backward(gy, cw, gx, accumulate, work, relu_out=None, relu=True, x=None, x_relu=False):
    """gx = d(conv)/dx applied to gy (transposed convolution), or gx += that.

    gy: (N, Cout, Ho, Wo), contiguous per image; cw: ConvWeights; gx: (N, Cin, H, W);
    accumulate: bool; work: as for `forward`; relu_out: None, or the forward's output y when it
    ran with a fused activation, so that gy * (0 < y < cap) is what goes back (gy itself may be
    overwritten by that); relu: that activation, as `forward` took it (True: cap = inf);
    x, x_relu: the layer's input and the activation fused into the layer that produced it (as
    `forward` takes relu; False: none), so that gx (the sum, when accumulating) is then
    multiplied by (0 < x < x_cap): the gradient that layer's own backward then takes without
    relu_out (the plan hands masks on where `masks_input`, to the last layer that writes it)."""
    cap = fused_activation(relu)[1]
    on_x, x_cap = fused_activation(x_relu)
    if on_x and x is None:
        raise ArgumentError("an input mask needs the input")
    if cw.dw is not None:
        # the depthwise loops apply both masks as they read gy and write gx: two passes fewer (the
        # input's only on a gradient they write alone: they mask before they add)
        ride = on_x and not accumulate
        depthwise.backward(gy, cw.dw, cw.win, gx, accumulate, work, cw.dw_last, relu_out, gy.dtype.type(cap),
                           x if ride else None, gy.dtype.type(x_cap))
        if on_x and not ride:
            mask_gradient(x, gx, x_cap)
        return
    if relu_out is not None and (cw.u is None or cap != np.inf):  # Winograd takes a plain ReLU's mask itself
        mask_gradient(relu_out, gy, cap)
        relu_out = None
    if cw.u is not None:  # an r x r correlation of gy with the flipped kernel, padded by r - 1 - pad
        # the ReLU's mask rides on the phase split: one pass over gy fewer (main step 38.0 -> 37.8
        # ms, aux2 30.5 -> 30.3 ms, interleaved in one process)
        win = cw.win
        winograd.conv(gy, cw.u_back, winograd.tile(win), win.kh - 1 - win.pt, win.kw - 1 - win.pl, gx, cw.zero,
                      False, accumulate, work, mask=relu_out, out_mask=x if on_x else None, out_cap=x_cap)
        return
    if on_x and _packed_pointwise(cw):  # the packed GEMM masks the sum as it stores it
        _dgrad_cols(gy, cw, gx, accumulate, work, x, x_cap)
        return
    _dgrad_cols(gy, cw, gx, accumulate, work)
    if on_x:
        mask_gradient(x, gx, x_cap)


def _conv(x, cw, y, work, relu, cap, residual=None):
    w, win, group = cw.w, cw.win, cw.group
    n_img, cin = x.shape[:2]
    cout, hw, kg = w.shape[0], win.Ho * win.Wo, w.shape[1]
    pointwise = is_pointwise(win)
    ld = _row_stride(cw, hw)
    ncols = 0 if pointwise else cin * win.kh * win.kw * ld
    # rows ld apart, each on a cache line (packed); im2col writes the first hw of each, a
    # contiguous array so that its loops vectorise, and the GEMM reads them through a view
    padded = work[:ncols].reshape(-1, ld)
    cols = padded[:, :hw]
    rows = cout // group
    for n in range(n_img):
        if pointwise:
            src = x[n].reshape(cin, hw)
            if _copies(hw, ld, cout):  # a copy whose rows start on cache lines
                src = _copy_rows(src, work, ld)
        else:
            im2col(x[n], win, padded, work[ncols:])
            src = cols
        out = y[n].reshape(cout, hw)
        if cw.wp is not None:  # packed weights: one group; bias, residual and activation as the blocks are stored
            packed.matmul(cw.wp, src, out, bias=cw.b, relu=relu, cap=cap,
                          residual=None if residual is None else residual[n].reshape(cout, hw))
        else:
            for g in range(group):
                blas.matmul(w[g * rows:(g + 1) * rows], src[g * kg:(g + 1) * kg], out[g * rows:(g + 1) * rows])


def _dgrad_cols(gy, cw, gx, accumulate, work, x=None, x_cap=np.inf):
    # x: the input whose mask (0 < x < x_cap) the packed pointwise GEMM applies as it stores
    w, win, group = cw.w, cw.win, cw.group
    n_img, cin = gx.shape[:2]
    cout, hw = w.shape[0], win.Ho * win.Wo
    pointwise = is_pointwise(win)
    rows, kg = cout // group, w.shape[1]
    ld = _row_stride(cw, hw)
    ncols = 0 if pointwise else kg * group * ld
    ncopy = 0 if pointwise or ld == hw else cout * ld  # gy's copy (work_size)
    padded, pad = work[:ncols].reshape(-1, ld), work[ncols + ncopy:]  # as in _conv
    cols = padded[:, :hw]
    for n in range(n_img):
        g_out = gy[n].reshape(cout, hw)
        if (_copies(hw, ld, cin) if pointwise else ld != hw):  # rows on cache lines, as in _conv
            g_out = _copy_rows(g_out, work[ncols:], ld)
        dst = gx[n].reshape(cin, hw) if pointwise else cols
        if cw.wp_back is not None:  # packed weights: one group
            packed.matmul(cw.wp_back, g_out, dst, pointwise and accumulate,
                          mask=None if x is None else x[n].reshape(cin, hw), mask_cap=x_cap)
        else:
            for g in range(group):
                blas.matmul(w[g * rows:(g + 1) * rows].T, g_out[g * rows:(g + 1) * rows],
                            dst[g * kg:(g + 1) * kg], accumulate=pointwise and accumulate)
        if not pointwise:
            col2im(padded, win, gx[n], accumulate, pad)


def _copy_rows(a, work, ld):
    # a (rows, n) copied into the front of work with rows ld apart; returns the (rows, n) view
    b = work[:a.shape[0] * ld].reshape(a.shape[0], ld)[:, :a.shape[1]]
    b[...] = a
    return b


@njit(cache=True, parallel=True)
def bias_act(y, b, relu, cap):
    """In place: y[n, c] += b[c], then min(max(., 0), cap) when relu. y: (N, C, H, W); b: (C,);
    cap: y's dtype (inf for a plain ReLU)."""
    N, C = y.shape[0], y.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        plane = y[n, c]
        bc = b[c]
        for i in range(plane.shape[0]):
            row = plane[i]
            if relu:  # a product, not a select: see relu.py
                for j in range(row.shape[0]):
                    v = row[j] + bc
                    row[j] = min(v * (v > 0), cap)
            else:
                for j in range(row.shape[0]):
                    row[j] += bc
