"""Max pooling on the CPU. The forward saves `argmax`: per output, the flat index iy*W + ix of the
winning input in its plane (int32); ties go to the first maximum in row-major window order, as on
the GPU."""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def forward(x, win, y, argmax):
    """x: (N, C, H, W); win: geometry.Window; y: (N, C, Ho, Wo) output (any strides);
    argmax: (N, C, Ho, Wo) int32 output."""
    N, C = x.shape[0], x.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        plane = x[n, c]
        for oy in range(win.Ho):
            y0 = oy * win.sh - win.pt
            ya, yb = max(y0, 0), min(y0 + win.kh, win.H)
            for ox in range(win.Wo):
                x0 = ox * win.sw - win.pl
                xa, xb = max(x0, 0), min(x0 + win.kw, win.W)
                best = -np.inf
                idx = ya * win.W + xa
                for iy in range(ya, yb):
                    for ix in range(xa, xb):
                        v = plane[iy, ix]
                        if v > best:
                            best = v
                            idx = iy * win.W + ix
                y[n, c, oy, ox] = plane[idx // win.W, idx % win.W]
                argmax[n, c, oy, ox] = idx


@njit(cache=True, parallel=True)
def backward(gy, win, gx, argmax, accumulate):
    """gx[argmax] += gy, over zeros unless accumulate. gy: (N, C, Ho, Wo) any strides;
    gx: (N, C, H, W); argmax from `forward`."""
    N, C = gx.shape[0], gx.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        plane = gx[n, c]
        if not accumulate:
            plane[:] = 0
        for oy in range(win.Ho):
            for ox in range(win.Wo):
                idx = argmax[n, c, oy, ox]
                plane[idx // win.W, idx % win.W] += gy[n, c, oy, ox]
