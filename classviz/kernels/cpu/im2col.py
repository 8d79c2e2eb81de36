"""im2col / col2im for one image: the shared utilities behind every non-1x1 CPU convolution.

cols has shape (C*kh*kw, Ho*Wo): row (c, i, j) holds input pixel (c, oy*sh - pt + i*dh,
ox*sw - pl + j*dw) for every output position, zero where that falls in the padding.
"""
from numba import njit, prange


@njit(cache=True, inline="always")
def _valid(o_count, stride, offset, size):
    """[lo, hi) of output positions o with 0 <= o*stride + offset < size."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = (size - offset + stride - 1) // stride if size > offset else 0
    return lo, max(lo, min(hi, o_count))


@njit(cache=True, parallel=True)
def im2col(x, win, cols):
    """x: (C, H, W) one image; win: geometry.Window; cols: (C*kh*kw, Ho*Wo) output, same dtype."""
    C = x.shape[0]
    kh, kw, sh, sw, pt, pl = win.kh, win.kw, win.sh, win.sw, win.pt, win.pl
    H, W, Ho, Wo, dh, dw = win.H, win.W, win.Ho, win.Wo, win.dh, win.dw
    for r in prange(C * kh * kw):
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        xo = j * dw - pl
        x0, x1 = _valid(Wo, sw, xo, W)
        for oy in range(Ho):
            iy = oy * sh - pt + i * dh
            row = cols[r, oy * Wo:(oy + 1) * Wo]
            if iy < 0 or iy >= H:
                row[:] = 0
                continue
            row[:x0] = 0
            row[x1:] = 0
            src = x[c, iy]
            if sw == 1:
                row[x0:x1] = src[x0 + xo:x1 + xo]
            else:
                for ox in range(x0, x1):
                    row[ox] = src[ox * sw + xo]


@njit(cache=True, parallel=True)
def col2im(cols, win, gx, accumulate):
    """Adjoint of im2col. cols: (C*kh*kw, Ho*Wo); gx: (C, H, W) is overwritten, or added to when
    accumulate is True."""
    C = gx.shape[0]
    kh, kw, sh, sw, pt, pl = win.kh, win.kw, win.sh, win.sw, win.pt, win.pl
    H, W, Ho, Wo, dh, dw = win.H, win.W, win.Ho, win.Wo, win.dh, win.dw
    for c in prange(C):
        plane = gx[c]
        if not accumulate:
            plane[:] = 0
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                xo = j * dw - pl
                x0, x1 = _valid(Wo, sw, xo, W)
                for oy in range(Ho):
                    iy = oy * sh - pt + i * dh
                    if iy < 0 or iy >= H:
                        continue
                    src = cols[r, oy * Wo:(oy + 1) * Wo]
                    dst = plane[iy]
                    for ox in range(x0, x1):
                        dst[ox * sw + xo] += src[ox]


def cols_size(channels, win):
    """Number of elements (int) of the im2col buffer for `channels` input channels."""
    return channels * win.kh * win.kw * win.Ho * win.Wo


def is_pointwise(win):
    """True when the convolution is a plain GEMM (1x1, stride 1, no padding)."""
    return (win.kh, win.kw, win.sh, win.sw, win.pt, win.pl, win.pb, win.pr) == (1, 1, 1, 1, 0, 0, 0, 0)
