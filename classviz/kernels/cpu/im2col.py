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

# Indices cast to unsigned: Numba wraps a negative signed index around (i + len), and where LLVM
# cannot prove i >= 0 that select stays in the loop and stops it vectorising
_U = np.uint64


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
    """x: (C, H, W) one image; win: geometry.Window; cols: (C*kh*kw, L) output, L >= Ho*Wo (the
    columns are each row's first Ho*Wo: rows may be padded to cache lines), C-contiguous;
    pad: 1-D scratch of >= padded_size(C, win) elements, same dtype."""
    if _subsamples(win):
        _subsample(x, win.sh, win.sw, win.Ho, win.Wo, cols, False, False)
        return
    pp = _phased(pad, x.shape[0], win)
    phase_split(x, win.pt, win.pl, pp)
    _taps(pp, win.kh, win.kw, win.dh, win.dw, win.Ho, win.Wo, cols, False)


def col2im(cols, win, gx, accumulate, pad):
    """Adjoint of im2col. cols: (C*kh*kw, L) as im2col writes it; gx: (C, H, W), overwritten or
    added to when accumulate is True; pad: scratch as for `im2col`."""
    if _subsamples(win):
        _subsample(gx, win.sh, win.sw, win.Ho, win.Wo, cols, True, accumulate)
        return
    pp = _phased(pad, gx.shape[0], win)
    _zero(pp)
    _taps(pp, win.kh, win.kw, win.dh, win.dw, win.Ho, win.Wo, cols, True)
    _merge(pp, win.pt, win.pl, gx, accumulate)


def is_pointwise(win):
    """True when the convolution is a plain GEMM (1x1, stride 1, no padding)."""
    return (win.kh, win.kw, win.sh, win.sw, win.pt, win.pl, win.pb, win.pr) == (1, 1, 1, 1, 0, 0, 0, 0)


def _subsamples(win):
    # a strided 1x1 convolution without padding (ResNet's downsampling shortcuts): its columns
    # are every sh-th row and sw-th column of the image, with no padded copy between
    return (win.kh, win.kw, win.pt, win.pl, win.pb, win.pr) == (1, 1, 0, 0, 0, 0)


@njit(cache=True, parallel=True)
def _subsample(img, sh, sw, Ho, Wo, cols, back, accumulate):
    # cols[c, oy*Wo + ox] = img[c, oy*sh, ox*sw]; back: the adjoint, img = that scatter over zeros
    # (or added onto img when accumulate)
    C, H, W = img.shape
    for c in prange(C):
        if back and not accumulate:
            for y in range(H):
                for x in range(W):
                    img[c, y, x] = 0
        row = cols[c]
        for oy in range(Ho):
            for ox in range(Wo):
                if back:
                    img[c, oy * sh, ox * sw] += row[oy * Wo + ox]
                else:
                    row[oy * Wo + ox] = img[c, oy * sh, ox * sw]


def phase_split(x, pt, pl, pp, mask=None):
    """pp[c, a, b, q, r] = x zero-padded by pt rows on top and pl columns on the left, at row
    q*sh + a, column r*sw + b, where (C, sh, sw, hq, wq) = pp.shape; x: (C, H, W). With mask
    (x's shape), x * (mask > 0) goes in instead of x: a ReLU's backward on the way in."""
    _split(x, pt, pl, pp, x if mask is None else mask, mask is not None)


@njit(cache=True, parallel=True)
def _zero(pp):
    for c in prange(pp.shape[0]):
        pp[c] = 0


@njit(cache=True, parallel=True)
def _split(img, pt, pl, pp, mask, masked):
    # a channel per thread at a time (split_channel)
    C, sh, sw, hq, wq = pp.shape
    for c in prange(C):
        buf = np.zeros(wq * sw, img.dtype)  # its padding stays zero: only [pl, pl + W) is written
        split_channel(img, c, pt, pl, mask, masked, sh, sw, hq, wq, buf, pp[c].reshape(sh * sw * hq * wq))


@njit(cache=True, inline="always")
def split_channel(img, c, pt, pl, mask, masked, sh, sw, hq, wq, buf, out):
    # out[((a*sw + b)*hq + q)*wq + r] = channel c of img (C, H, W) zero-padded (by pt on top and pl
    # on the left), at row q*sh + a, column r*sw + b: `phase_split` for one channel, into a flat
    # out of sh*sw*hq*wq. buf: (wq*sw,) zeros outside [pl, pl + W), which this leaves so.
    # Each image row goes into the zero-padded row buffer, which each phase then reads at stride
    # sw over its whole length: one long loop per phase row, where gathering each phase's pixels
    # from the image row directly gave loops of W / sw (192x56x56 into 4x4 phases: 0.43 ->
    # 0.16-0.19 ms). Only rows wholly in the padding are zeroed. Indices, not a view per row or
    # slice assignments: at 7x7 and 14x14 the rows are a few pixels long and a view (an atomic
    # reference count) or a slice copy's overlap test cost more than the copy (the im2col of
    # ResNet-50's 3x3 512 @ 7x7: see benchmarks/README.md)
    H, W = img.shape[1], img.shape[2]
    for a in range(sh):
        for q in range(hq):
            y = q * sh + a - pt
            if y < 0 or y >= H:
                for b in range(sw):
                    at = ((a * sw + b) * hq + q) * wq
                    for r in range(wq):
                        out[_U(at + r)] = 0
                continue
            if masked:  # a product, not a select: see relu.py
                for x in range(W):
                    buf[_U(pl + x)] = img[c, y, x] * (mask[c, y, x] > 0)
            else:
                for x in range(W):
                    buf[_U(pl + x)] = img[c, y, x]
            for b in range(sw):
                at = ((a * sw + b) * hq + q) * wq
                for r in range(wq):
                    out[_U(at + r)] = buf[_U(r * sw + b)]


@njit(cache=True, parallel=True)
def _merge(pp, pt, pl, img, accumulate):
    # the image's rows out of the phase rows (the adjoint of `_split`, the padding dropped):
    # interleaved into a row buffer, then copied or added onto the image row
    C, sh, sw, hq, wq = pp.shape
    H, W = img.shape[1], img.shape[2]
    for c in prange(C):
        buf = np.empty(wq * sw, img.dtype)
        src = pp[c].reshape(sh * sw * hq * wq)
        for y in range(H):
            a, q = (y + pt) % sh, (y + pt) // sh
            for b in range(sw):
                at = ((a * sw + b) * hq + q) * wq
                for r in range(wq):
                    buf[_U(r * sw + b)] = src[_U(at + r)]
            if accumulate:
                for x in range(W):
                    img[c, y, x] += buf[_U(pl + x)]
            else:
                for x in range(W):
                    img[c, y, x] = buf[_U(pl + x)]


@njit(cache=True, parallel=True)
def _taps(pp, kh, kw, dh, dw, Ho, Wo, cols, scatter):
    # each kernel tap's (Ho, Wo) block of the phase-split image: copied into its row of cols
    # (im2col), or that row added onto it (col2im, scatter=True). The threads share out the
    # phase planes (c, a, b): the taps of one plane add into overlapping blocks, so each plane
    # stays with one thread (conv1's 3 channels still make 12 planes). A view per plane and per
    # tap, indices within (see _split)
    C, sh, sw, hq, wq = pp.shape
    for cab in prange(C * sh * sw):
        c, a, b = cab // (sh * sw), (cab // sw) % sh, cab % sw
        plane = pp[c, a, b].reshape(hq * wq)
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
                    at, to = (oy + qy) * wq + qx, oy * Wo
                    if scatter:
                        for ox in range(Wo):
                            plane[_U(at + ox)] += row[_U(to + ox)]
                    else:
                        for ox in range(Wo):
                            row[_U(to + ox)] = plane[_U(at + ox)]
