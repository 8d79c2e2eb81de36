"""Convolution on the CPU: forward (+bias, +ReLU) and backward to the input (dgrad).

GEMM through NumPy's BLAS, one image at a time: a pointwise (1x1, stride 1, unpadded) convolution
is W @ x directly, any other goes through im2col / col2im. Groups are a loop of smaller GEMMs.
"""
import numpy as np
from numba import njit, prange

from .im2col import col2im, im2col, is_pointwise


def forward(x, w, b, win, group, y, relu, work):
    """y = conv(x, w) + b, then max(., 0) when relu.

    x: (N, Cin, H, W); w: (Cout, Cin/group*kh*kw) contiguous; b: (Cout,); win: geometry.Window;
    group: int; y: (N, Cout, Ho, Wo) output, contiguous per image (may be a channel slice of a
    larger buffer); relu: bool; work: 1-D scratch of >= Cin*kh*kw*Ho*Wo elements (unused for
    pointwise convolutions). All float32 or all float64."""
    n_img, cin = x.shape[:2]
    cout, hw = w.shape[0], win.Ho * win.Wo
    pointwise = is_pointwise(win)
    cols = x if pointwise else work[:cin * win.kh * win.kw * hw].reshape(cin * win.kh * win.kw, hw)
    rows, kg = cout // group, w.shape[1]
    for n in range(n_img):
        src = x[n].reshape(cin, hw) if pointwise else cols
        if not pointwise:
            im2col(x[n], win, cols)
        out = y[n].reshape(cout, hw)
        for g in range(group):
            np.matmul(w[g * rows:(g + 1) * rows], src[g * kg:(g + 1) * kg], out=out[g * rows:(g + 1) * rows])
    bias_act(y, b, relu)


def backward(gy, w, win, group, gx, accumulate, work):
    """gx = conv_transpose(gy, w) (the gradient of conv wrt its input), or gx += that.

    gy: (N, Cout, Ho, Wo), contiguous per image; w: as in `forward`; gx: (N, Cin, H, W);
    accumulate: bool; work: 1-D scratch of >= Cin*kh*kw*Ho*Wo elements (pointwise: Cin*H*W)."""
    n_img, cin = gx.shape[:2]
    cout, hw = w.shape[0], win.Ho * win.Wo
    pointwise = is_pointwise(win)
    rows, kg = cout // group, w.shape[1]
    cols = work[:kg * group * hw].reshape(kg * group, hw)
    for n in range(n_img):
        g_out = gy[n].reshape(cout, hw)
        direct = pointwise and not accumulate
        dst = gx[n].reshape(cin, hw) if direct else cols
        for g in range(group):
            np.matmul(w[g * rows:(g + 1) * rows].T, g_out[g * rows:(g + 1) * rows], out=dst[g * kg:(g + 1) * kg])
        if pointwise and accumulate:
            gx[n].reshape(cin, hw)[...] += cols
        elif not pointwise:
            col2im(cols, win, gx[n], accumulate)


def work_size(cin, win):
    """Elements (int) of the scratch buffer `forward` and `backward` need for this layer."""
    return cin * win.kh * win.kw * win.Ho * win.Wo


@njit(cache=True, parallel=True)
def bias_act(y, b, relu):
    """In place: y[n, c] += b[c], then max(., 0) when relu. y: (N, C, H, W); b: (C,)."""
    N, C = y.shape[0], y.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        plane = y[n, c]
        bc = b[c]
        for i in range(plane.shape[0]):
            row = plane[i]
            for j in range(row.shape[0]):
                v = row[j] + bc
                row[j] = v if (v > 0 or not relu) else 0
