"""im2col / col2im for one image: the shared utilities behind every non-1x1 CPU convolution.

cols has shape (C*kh*kw, Ho*Wo): row (c, i, j) holds input pixel (c, oy*sh - pt + i*dh,
ox*sw - pl + j*dw) for every output position, zero where that falls in the padding.

Both go through a zero-padded copy of the image. With stride 1, im2col is one NumPy strided copy
from it (as Numba index loops it cost 12.8 ms per GoogLeNet step, batch 1; as this copy, 4.2 ms).
Strided convolutions and every col2im use a *phase-split* padded copy instead:
pp[c, a, b, q, r] = padded pixel (q*sh + a, r*sw + b), so that each kernel tap (i, j) reads or
adds a contiguous (Ho, Wo) block, pp[c, i*dh % sh, j*dw % sw, i*dh // sh + oy, j*dw // sw + ox].
Measured on this 2-core machine, float32: conv1 (3x224x224, 7x7 stride 2) im2col 0.66 -> 0.34 ms,
col2im 1.83 -> 0.40 ms; conv2 (64x56x56, 3x3) col2im 1.31 -> 0.50 ms (NumPy's kh*kw strided adds).
"""
import numpy as np
from numba import njit
from numpy.lib.stride_tricks import as_strided


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
    c = x.shape[0]
    if win.sh == win.sw == 1:
        hp, wp = win.H + win.pt + win.pb + 1, win.W + win.pl + win.pr + 1
        p = pad[:c * hp * wp].reshape(c, hp, wp)
        if win.pt or win.pl or win.pb or win.pr:
            p[...] = 0
        p[:, win.pt:win.pt + win.H, win.pl:win.pl + win.W] = x
        sc, sy, sx = p.strides
        taps = as_strided(p, (c, win.kh, win.kw, win.Ho, win.Wo),
                          (sc, sy * win.dh, sx * win.dw, sy, sx), writeable=False)
        np.copyto(cols.reshape(c, win.kh, win.kw, win.Ho, win.Wo), taps)
        return
    pp = _phased(pad, c, win)
    phase_split(x, win.pt, win.pl, pp)
    _taps(pp, win.kh, win.kw, win.dh, win.dw, win.Ho, win.Wo, cols, False)


def col2im(cols, win, gx, accumulate, pad):
    """Adjoint of im2col. cols: (C*kh*kw, Ho*Wo); gx: (C, H, W), overwritten or added to when
    accumulate is True; pad: scratch as for `im2col`."""
    pp = _phased(pad, gx.shape[0], win)
    pp[...] = 0
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
    pp[...] = 0
    _between(x, pt, pl, pp, True, False)


@njit(cache=True)
def _between(img, pt, pl, pp, split, accumulate):
    # image rows to phase rows (split), or back: overwriting the image or adding onto it
    C, sh, sw = pp.shape[0], pp.shape[1], pp.shape[2]
    H, W = img.shape[1], img.shape[2]
    for c in range(C):
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


@njit(cache=True)
def _taps(pp, kh, kw, dh, dw, Ho, Wo, cols, scatter):
    # each kernel tap's (Ho, Wo) block of the phase-split image: copied into its row of cols
    # (im2col), or that row added onto it (col2im, scatter=True)
    C, sh, sw = pp.shape[0], pp.shape[1], pp.shape[2]
    for c in range(C):
        for i in range(kh):
            a, qy = (i * dh) % sh, (i * dh) // sh
            for j in range(kw):
                b, qx = (j * dw) % sw, (j * dw) // sw
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
