"""Average pooling on the CPU, ONNX semantics: with count_include_pad=0 the divisor counts only
input pixels; with 1 it also counts the explicit pads but never the ceil-mode overhang past them.
Each plane is one thread's at a time (a plane's sums are as they would be in one loop)."""
from numba import njit, prange


@njit(cache=True, inline="always")
def _window(o, stride, pad, k, size, pad_end, include_pad):
    start = o * stride - pad
    end = min(start + k, size + pad_end)
    count = end - max(start, -pad) if include_pad else min(end, size) - max(start, 0)
    return max(start, 0), min(end, size), count


@njit(cache=True, parallel=True)
def forward(x, win, include_pad, y):
    """x: (N, C, H, W); win: geometry.Window; include_pad: bool (ONNX count_include_pad);
    y: (N, C, Ho, Wo) output, any strides."""
    N, C = x.shape[0], x.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        plane = x[n, c]
        for oy in range(win.Ho):
            ya, yb, cy = _window(oy, win.sh, win.pt, win.kh, win.H, win.pb, include_pad)
            for ox in range(win.Wo):
                xa, xb, cx = _window(ox, win.sw, win.pl, win.kw, win.W, win.pr, include_pad)
                s = 0.0
                for iy in range(ya, yb):
                    for ix in range(xa, xb):
                        s += plane[iy, ix]
                y[n, c, oy, ox] = s / (cy * cx)


@njit(cache=True, parallel=True)
def backward(gy, win, include_pad, gx, accumulate):
    """Adjoint of `forward`. gy: (N, C, Ho, Wo) any strides; gx: (N, C, H, W), overwritten unless
    accumulate."""
    N, C = gx.shape[0], gx.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        plane = gx[n, c]
        if not accumulate:
            plane[:] = 0
        for oy in range(win.Ho):
            ya, yb, cy = _window(oy, win.sh, win.pt, win.kh, win.H, win.pb, include_pad)
            for ox in range(win.Wo):
                xa, xb, cx = _window(ox, win.sw, win.pl, win.kw, win.W, win.pr, include_pad)
                g = gy[n, c, oy, ox] / (cy * cx)
                for iy in range(ya, yb):
                    for ix in range(xa, xb):
                        plane[iy, ix] += g


@njit(cache=True, parallel=True)
def global_forward(x, y):
    """y[n, c, 0, 0] = mean of x[n, c]. x: (N, C, H, W); y: (N, C, 1, 1)."""
    N, C = x.shape[0], x.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        y[n, c, 0, 0] = x[n, c].sum() / (x.shape[2] * x.shape[3])


@njit(cache=True, parallel=True)
def global_backward(gy, gx, accumulate):
    """gx[n, c] = gy[n, c, 0, 0] / (H*W) everywhere, or += that. gy: (N, C, 1, 1); gx: (N, C, H, W)."""
    N, C = gx.shape[0], gx.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        g = gy[n, c, 0, 0] / (gx.shape[2] * gx.shape[3])
        if accumulate:
            gx[n, c] += g
        else:
            gx[n, c] = g
