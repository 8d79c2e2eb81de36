"""im2col / col2im for one image: the shared utilities behind every non-1x1 CPU convolution.

cols has shape (C*kh*kw, Ho*Wo): row (c, i, j) holds input pixel (c, oy*sh - pt + i*dh,
ox*sw - pl + j*dw) for every output position, zero where that falls in the padding.

Both go through a zero-padded, *phase-split* copy of the image:
pp[c, a, b, q, r] = padded pixel (q*sh + a, r*sw + b), so that each kernel tap (i, j) reads or
adds a contiguous (Ho, Wo) block, pp[c, i*dh % sh, j*dw % sw, i*dh // sh + oy, j*dw // sw + ox].
Measured on this 2-core machine, float32: conv1 (3x224x224, 7x7 stride 2) im2col 0.66 -> 0.34 ms,
col2im 1.83 -> 0.40 ms; conv2 (64x56x56, 3x3) col2im 1.31 -> 0.50 ms (NumPy's kh*kw strided adds).
"""
import numpy as np
from numba import njit, prange


def padded_size(channels, win):
    """Elements (int) of the padded image buffer im2col/col2im need."""
    return int(np.prod(_phased_shape(channels, win)))


def _phased_shape(c, win):
    hq = -(-(win.H + win.pt + win.pb + win.sh) // win.sh)
    wq = -(-(win.W + win.pl + win.pr + win.sw) // win.sw)
    return (c, win.sh, win.sw, hq, wq)


def _phased(pad, c, win):
    shape = _phased_shape(c, win)
    return pad[:int(np.prod(shape))].reshape(shape)


def im2col(x, win, cols, pad):
    """x: (C, H, W) one image; win: geometry.Window; cols: (C*kh*kw, Ho*Wo) output;
    pad: 1-D scratch of >= padded_size(C, win) elements, same dtype."""
    pp = _phased(pad, x.shape[0], win)
    phase_split(x, win.pt, win.pl, pp)
    _taps(pp, win.kh, win.kw, win.dh, win.dw, win.Ho, win.Wo, cols, False)


def col2im(cols, win, gx, accumulate, pad):
    """Adjoint of im2col. cols: (C*kh*kw, Ho*Wo); gx: (C, H, W), overwritten or added to when
    accumulate is True; pad: scratch as for `im2col`."""
    pp = _phased(pad, gx.shape[0], win)
    _zero(pp)
    _taps(pp, win.kh, win.kw, win.dh, win.dw, win.Ho, win.Wo, cols, True)
    _between(gx, win.pt, win.pl, pp, False, accumulate)


def is_pointwise(win):
    """True when the convolution is a plain GEMM (1x1, stride 1, no padding)."""
    return (win.kh, win.kw, win.sh, win.sw, win.pt, win.pl, win.pb, win.pr) == (1, 1, 1, 1, 0, 0, 0, 0)


@njit(cache=True)
def _columns(b, pl, sw, W):
    # the input columns x whose padded column x + pl lies in phase b: x0, x0 + sw, ...; returns
    # (x0, their first slot in the phase row, how many)
    x0 = (b - pl) % sw
    return x0, (x0 + pl) // sw, max(0, (W - x0 + sw - 1) // sw)


def phase_split(x, pt, pl, pp):
    """pp[c, a, b, q, r] = x zero-padded by pt rows on top and pl columns on the left, at row
    q*sh + a, column r*sw + b, where (C, sh, sw, hq, wq) = pp.shape; x: (C, H, W)."""
    _between(x, pt, pl, pp, True, False)


@njit(cache=True, parallel=True)
def _zero(pp):
    for c in prange(pp.shape[0]):
        pp[c] = 0


@njit(cache=True, parallel=True)
def _between(img, pt, pl, pp, split, accumulate):
    # image rows to phase rows (split, over zeros), or back: overwriting the image or adding onto
    # it; a channel per thread at a time
    C, sh, sw = pp.shape[0], pp.shape[1], pp.shape[2]
    H, W = img.shape[1], img.shape[2]
    for c in prange(C):
        if split:
            pp[c] = 0
        for y in range(H):
            a, q = (y + pt) % sh, (y + pt) // sh
            row = img[c, y]
            for b in range(sw):
                x0, r0, n = _columns(b, pl, sw, W)
                phase = pp[c, a, b, q]
                if split:
                    for k in range(n):
                        phase[r0 + k] = row[x0 + k * sw]
                elif accumulate:
                    for k in range(n):
                        row[x0 + k * sw] += phase[r0 + k]
                else:
                    for k in range(n):
                        row[x0 + k * sw] = phase[r0 + k]


@njit(cache=True, parallel=True)
def _taps(pp, kh, kw, dh, dw, Ho, Wo, cols, scatter):
    # each kernel tap's (Ho, Wo) block of the phase-split image: copied into its row of cols
    # (im2col), or that row added onto it (col2im, scatter=True). The threads share out the
    # phase planes (c, a, b): the taps of one plane add into overlapping blocks, so each plane
    # stays with one thread (conv1's 3 channels still make 12 planes)
    C, sh, sw = pp.shape[0], pp.shape[1], pp.shape[2]
    for cab in prange(C * sh * sw):
        c, a, b = cab // (sh * sw), (cab // sw) % sh, cab % sw
        for i in range(kh):
            if (i * dh) % sh != a:
                continue
            qy = (i * dh) // sh
            for j in range(kw):
                if (j * dw) % sw != b:
                    continue
                qx = (j * dw) // sw
                row = cols[(c * kh + i) * kw + j]
                for oy in range(Ho):
                    block = pp[c, a, b, oy + qy, qx:qx + Wo]
                    part = row[oy * Wo:(oy + 1) * Wo]
                    if scatter:
                        for ox in range(Wo):
                            block[ox] += part[ox]
                    else:
                        for ox in range(Wo):
                            part[ox] = block[ox]
