"""Max pooling on the CPU. The forward saves `argmax`: per output, the flat index iy*W + ix of the
winning input in its plane (int32); ties go to the first maximum in row-major window order, as on
the GPU.

The forward is separable: a horizontal pass takes each input row's window maxima (with their
column), a vertical pass takes the first row whose maximum is strictly greater. That equals the
row-major first maximum of the 2-D window and costs kh + kw compares per output instead of kh*kw.
The horizontal pass works at every column and then subsamples, so strided pools read contiguously
(pool1 64x112x112: 4.5 -> see benchmarks/README.md).
"""
import numpy as np
from numba import njit


@njit(cache=True)
def forward(x, win, y, argmax):
    """x: (N, C, H, W); win: geometry.Window; y: (N, C, Ho, Wo) output (any strides);
    argmax: (N, C, Ho, Wo) int32 output."""
    N, C = x.shape[0], x.shape[1]
    H, W, Ho, Wo = win.H, win.W, win.Ho, win.Wo
    hm = np.empty((H, Wo), x.dtype)
    hi = np.empty((H, Wo), np.int32)
    fm = np.empty(W, x.dtype)
    fi = np.empty(W, np.int32)
    for n in range(N):
        for c in range(C):
            if win.sw == 1:
                _rows_unit_stride(x[n, c], win, hm, hi)
            else:
                _rows_strided(x[n, c], win, hm, hi, fm, fi)
            _cols(hm, hi, win, y[n, c], argmax[n, c])


@njit(cache=True, inline="always")
def _rows_strided(xp, win, hm, hi, fm, fi):
    # Window maxima at every start column first (contiguous, branch-free, so it vectorises), then
    # every sw-th of them: strided gathers ran 10x slower per element (pool1: 4.5 ms).
    W, kw = win.W, win.kw
    for iy in range(win.H):
        row = xp[iy]
        for j in range(W):
            fm[j] = row[j]
            fi[j] = j
        for k in range(1, kw):
            for j in range(W - k):
                v = row[j + k]
                better = v > fm[j]  # arithmetic, not branches: the winner is unpredictable (see relu.py)
                fm[j] = max(v, fm[j])
                fi[j] += (j + k - fi[j]) * better
        first = min(-(-win.pl // win.sw), win.Wo)  # outputs before this one are clipped on the left
        for ox in range(first):
            x0 = ox * win.sw - win.pl
            hm[iy, ox] = row[0]
            hi[iy, ox] = 0
            for ix in range(1, min(x0 + kw, W)):
                better = row[ix] > hm[iy, ox]
                hm[iy, ox] = max(row[ix], hm[iy, ox])
                hi[iy, ox] += (ix - hi[iy, ox]) * better
        for ox in range(first, win.Wo):
            hm[iy, ox] = fm[ox * win.sw - win.pl]
            hi[iy, ox] = fi[ox * win.sw - win.pl]


@njit(cache=True, inline="always")
def _rows_unit_stride(xp, win, hm, hi):
    # stride 1: nothing to subsample, and one pass over the row beats the two of _rows_strided
    for iy in range(win.H):
        for ox in range(win.Wo):
            xa = max(ox * win.sw - win.pl, 0)
            hm[iy, ox] = xp[iy, xa]
            hi[iy, ox] = xa
        for k in range(1, win.kw):
            for ox in range(win.Wo):
                x0 = ox * win.sw - win.pl
                ix = x0 + k
                if ix > 0 and ix < win.W:
                    # arithmetic, not branches: the winner is unpredictable (see relu.py)
                    v = xp[iy, ix]
                    better = v > hm[iy, ox]
                    hm[iy, ox] = max(v, hm[iy, ox])
                    hi[iy, ox] += (ix - hi[iy, ox]) * better


@njit(cache=True, inline="always")
def _cols(hm, hi, win, yp, ap):
    for oy in range(win.Ho):
        y0 = oy * win.sh - win.pt
        ya, yb = max(y0, 0), min(y0 + win.kh, win.H)
        for ox in range(win.Wo):
            yp[oy, ox] = hm[ya, ox]
            ap[oy, ox] = ya * win.W + hi[ya, ox]
        for iy in range(ya + 1, yb):
            for ox in range(win.Wo):
                v = hm[iy, ox]
                better = v > yp[oy, ox]
                yp[oy, ox] = max(v, yp[oy, ox])
                ap[oy, ox] += (iy * win.W + hi[iy, ox] - ap[oy, ox]) * better


@njit(cache=True)
def backward(gy, win, gx, argmax, accumulate):
    """gx[argmax] += gy, over zeros unless accumulate. gy: (N, C, Ho, Wo) any strides;
    gx: (N, C, H, W), each (H, W) plane contiguous; argmax from `forward`."""
    N, C = gx.shape[0], gx.shape[1]
    if not accumulate:
        gx[:] = 0
    for n in range(N):
        for c in range(C):
            flat = gx[n, c].reshape(win.H * win.W)  # argmax is a flat index: no divide per element
            src = gy[n, c]
            idx = argmax[n, c]
            for oy in range(win.Ho):
                for ox in range(win.Wo):
                    flat[idx[oy, ox]] += src[oy, ox]
