"""im2col / col2im for one image: the shared utilities behind every non-1x1 CPU convolution.

cols has shape (C*kh*kw, Ho*Wo): row (c, i, j) holds input pixel (c, oy*sh - pt + i*dh,
ox*sw - pl + j*dw) for every output position, zero where that falls in the padding.

Both go through a zero-padded copy of the image and NumPy strided views: im2col is one strided
copy, col2im is kh*kw strided adds. im2col as Numba index loops cost 12.8 ms per GoogLeNet step
(batch 1); as this strided copy, 4.2 ms.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided


def padded_size(channels, win):
    """Elements (int) of the zero-padded image buffer im2col/col2im need."""
    return channels * (win.H + win.pt + win.pb + win.sh) * (win.W + win.pl + win.pr + win.sw)


def _padded(pad, c, win):
    hp, wp = win.H + win.pt + win.pb + win.sh, win.W + win.pl + win.pr + win.sw
    return pad[:c * hp * wp].reshape(c, hp, wp)


def _windows(p, win):
    """(C, kh, kw, Ho, Wo) strided view of padded image p: element (c, i, j, oy, ox) is the input
    pixel that kernel tap (i, j) sees at output (oy, ox)."""
    sc, sy, sx = p.strides
    return as_strided(p, (p.shape[0], win.kh, win.kw, win.Ho, win.Wo),
                      (sc, sy * win.dh, sx * win.dw, sy * win.sh, sx * win.sw), writeable=False)


def im2col(x, win, cols, pad):
    """x: (C, H, W) one image; win: geometry.Window; cols: (C*kh*kw, Ho*Wo) output;
    pad: 1-D scratch of >= padded_size(C, win) elements, same dtype."""
    c = x.shape[0]
    p = _padded(pad, c, win)
    if win.pt or win.pl or win.pb or win.pr:
        p[...] = 0
    p[:, win.pt:win.pt + win.H, win.pl:win.pl + win.W] = x
    np.copyto(cols.reshape(c, win.kh, win.kw, win.Ho, win.Wo), _windows(p, win))


def col2im(cols, win, gx, accumulate, pad):
    """Adjoint of im2col. cols: (C*kh*kw, Ho*Wo); gx: (C, H, W), overwritten or added to when
    accumulate is True; pad: scratch as for `im2col`."""
    c = gx.shape[0]
    p = _padded(pad, c, win)
    p[...] = 0
    k = cols.reshape(c, win.kh, win.kw, win.Ho, win.Wo)
    for i in range(win.kh):
        for j in range(win.kw):
            y0, x0 = i * win.dh, j * win.dw
            p[:, y0:y0 + win.sh * (win.Ho - 1) + 1:win.sh, x0:x0 + win.sw * (win.Wo - 1) + 1:win.sw] += k[:, i, j]
    inner = p[:, win.pt:win.pt + win.H, win.pl:win.pl + win.W]
    if accumulate:
        gx += inner
    else:
        gx[...] = inner


def is_pointwise(win):
    """True when the convolution is a plain GEMM (1x1, stride 1, no padding)."""
    return (win.kh, win.kw, win.sh, win.sw, win.pt, win.pl, win.pb, win.pr) == (1, 1, 1, 1, 0, 0, 0, 0)
