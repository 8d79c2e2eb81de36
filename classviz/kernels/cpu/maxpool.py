"""Max pooling on the CPU. The forward saves `argmax`: per output, the flat index iy*W + ix of the
winning input in its plane (int32); ties go to the first maximum in row-major window order, as on
the GPU.

The forward works on a few planes at a time (BLOCK elements, so its buffers stay in L2), copied
with -inf padding so that every window is whole and split into sh x sw phases (phase (a, b) holds
the padded pixels (q*sh + a, r*sw + b), as in im2col.py), so that a window's taps at any stride
are shifted copies of one phase. It is separable, in long flat sweeps over those planes:
- horizontal, per row phase: at every (q, r), the maximum of the kw taps of window column r and
  its column;
- vertical: at every (q, r), the first of the kh horizontal maxima of window row q that is
  strictly greater, which gives the row-major first maximum of the 2-D window;
- then each output picks its window's position.
So a stride-2 pool sweeps half the positions horizontally and a quarter vertically, where sweeping
the unsplit plane swept them all. A 3-wide window (every GoogLeNet pool) takes each sweep in one
pass over its three taps, not one pass per tap. Windows that run into the next row or plane only
land on positions no output picks. Per plane and per row the loops were too short to vectorise
(the timings of each variant: benchmarks/HISTORY.md).

A 3x3 pool at stride 1 with one pixel of padding (the output the input's size: every inception
module's pool branch) skips the copy and the picks (`_forward_same3`): the nine-tap pass runs on
the planes as they lie, and only the outputs on each plane's edges take a pass of their own.

A 3x3 pool at stride 2 whose output rows are at least STRIDE2_FROM wide (GoogLeNet's first three,
ResNet's stem) skips them too (`_forward_stride2`): a plane at a time, each padded input row's
horizontal first maximum once (a row is shared by two windows' rows), then each output row's
vertical first maximum of three of them, which is the same row-major first maximum.
"""
from math import inf

import numba
import numpy as np
from numba import njit, prange

from ...errors import ArgumentError
from .im2col import _U  # indices cast to unsigned, so that the loops vectorise (see there)
BLOCK = 16384  # padded elements per block of planes: five buffers of it fit in L2
SAME3_PLANES = 16  # planes per task of the 3x3 stride-1 pool (_forward_same3)
# output width from which a 3x3 stride-2 pool goes plane by plane (_forward_stride2): at 14 (480 planes
# of 28x28) it took 0.11 ms against the blocks' 0.14, at 7 (832 of 14x14) the same 0.09 ms: its rows
# are then too short (benchmarks/README.md, Galleries, "a new machine")
STRIDE2_FROM = 14


def work_size(win, channels):
    """Scratch elements (int) `forward` needs for `channels` planes of this window: five buffers
    per thread that may take a block (Numba's threads, at most one per block)."""
    return _sets(win, channels) * _set_size(win, channels)


def forward(x, win, y, argmax, work):
    """x: (N, C, H, W), contiguous per image; win: geometry.Window; y: (N, C, Ho, Wo) output (any
    strides); argmax: (N, C, Ho, Wo) int32 output; work: 1-D scratch of x's dtype, at least
    work_size(win, C) elements."""
    contiguous = x.flags.c_contiguous and y.flags.c_contiguous and argmax.flags.c_contiguous
    if _same3(win) and contiguous:
        _forward_same3(x, y, argmax)
        return
    if _stride2(win) and contiguous:
        _forward_stride2(x, win.pt, win.pl, win.Ho, win.Wo, y, argmax)
        return
    hq, wq = _phased(win)
    cb = _block(win, x.shape[1])
    size = _set_size(win, x.shape[1])
    sets = max(1, min(numba.get_num_threads(), work.size // size))
    index = np.int32 if work.itemsize == 4 else np.int64
    work = work[:sets * size].reshape(sets, 5, size // 5)
    _forward(x, win, hq, wq, cb, y, argmax, work, work.view(index))


def _same3(win):
    # a 3x3 window, stride 1, one pixel of padding all round: the output is the input's size (every
    # inception module's pool branch); at least 3 x 3, so that a plane has an interior
    return ((win.kh, win.kw, win.sh, win.sw, win.pt, win.pl, win.pb, win.pr) == (3, 3, 1, 1, 1, 1, 1, 1)
            and win.dh == win.dw == 1 and (win.Ho, win.Wo) == (win.H, win.W) and min(win.H, win.W) >= 3)


@njit(cache=True, parallel=True)
def _forward_same3(x, y, argmax):
    # no copy, a block of planes per task: _nine on the block taken as one flat array (rows W
    # apart), which gives every output whose window lies inside its plane (and, as its index, the
    # winner's offset from the window's corner); then, plane by plane, each such offset made an
    # index in the plane, and the outputs of the edges (windows that pass wrapped round a row or a
    # plane, or which the plane clips) with their own taps. Views per block, not per plane or row:
    # each is an atomic reference count. (Through the padded phase buffer this pool cost 2-3 ns an
    # output: the copy in and the picks out, in rows of 7-28 pixels.)
    N, C, H, W = x.shape
    hw = H * W
    blocks = -(-C // SAME3_PLANES)
    rows, cols = (0, 1, 2, W, W + 1, W + 2), (0, 1, W, W + 1, 2 * W, 2 * W + 1)
    corner = (0, 1, W, W + 1, W + 1, W + 1)
    for t in prange(N * blocks):
        n, c0 = t // blocks, (t % blocks) * SAME3_PLANES
        c1 = min(C, c0 + SAME3_PLANES)
        size = (c1 - c0) * hw
        xp, yp, ap = x[n, c0:c1].reshape(size), y[n, c0:c1].reshape(size), argmax[n, c0:c1].reshape(size)
        # window corners j whose last tap, j + 2W + 2, is in the block
        _nine(xp, 1, 1, W, 0, W, size - 2 * W - 2, yp[W + 1:], ap[W + 1:])
        for c in range(c1 - c0):
            base = c * hw
            for p in range(W + 1, hw - W - 1):  # the corner's place in the plane, plus the offset
                ap[_U(base + p)] += p - W - 1
            for ox in range(1, W - 1):
                _first_max(xp, base + ox - 1, rows, yp, ap, base + ox, base)
                _first_max(xp, base + hw - 2 * W + ox - 1, rows, yp, ap, base + hw - W + ox, base)
            for oy in range(1, H - 1):
                _first_max(xp, base + (oy - 1) * W, cols, yp, ap, base + oy * W, base)
                _first_max(xp, base + (oy - 1) * W + W - 2, cols, yp, ap, base + oy * W + W - 1, base)
            _first_max(xp, base, corner, yp, ap, base, base)
            _first_max(xp, base + W - 2, corner, yp, ap, base + W - 1, base)
            _first_max(xp, base + hw - 2 * W, corner, yp, ap, base + hw - W, base)
            _first_max(xp, base + hw - 2 * W + W - 2, corner, yp, ap, base + hw - 1, base)


def _stride2(win):
    # a 3x3 window at stride 2, undilated, any padding, output rows of at least STRIDE2_FROM
    return (win.kh, win.kw, win.sh, win.sw, win.dh, win.dw) == (3, 3, 2, 2, 1, 1) and win.Wo >= STRIDE2_FROM


@njit(cache=True, parallel=True)
def _forward_stride2(x, pt, pl, Ho, Wo, y, argmax):
    # a plane per task. Each of the 2*Ho + 1 padded rows the windows read: copied into a row
    # buffer whose padding stays -inf, then at every output column the first maximum of its three
    # taps (value, column offset 0-2) into hv, hk; then each output row takes the first of its
    # three rows' maxima that is strictly greater, the row-major first maximum of the window
    # (padding rows are -inf: a number always beats them). Flat indices, not a view per row: each
    # view is an atomic reference count (with views this took 0.18-0.32 ms where it takes 0.11)
    N, C, H, W = x.shape
    R, L = 2 * Ho + 1, 2 * Wo + 1  # padded rows and columns the windows read
    hw, out = H * W, Ho * Wo
    xf, yf, af = x.reshape(N * C * hw), y.reshape(N * C * out), argmax.reshape(N * C * out)
    ncol = max(0, min(W, L - pl))  # columns past every window are not read
    one, two, w1, w2 = np.int32(1), np.int32(2), np.int32(W), np.int32(2 * W)
    for t in prange(N * C):
        buf = np.full(L + 1, -np.inf, x.dtype)
        hv = np.empty(R * Wo, x.dtype)
        hk = np.empty(R * Wo, np.int32)
        src, dst = t * hw, t * out
        for r in range(R):
            iy, h0 = r - pt, r * Wo
            if iy < 0 or iy >= H:
                for j in range(Wo):
                    hv[_U(h0 + j)] = -np.inf
                    hk[_U(h0 + j)] = 0
                continue
            s0 = src + iy * W
            for q in range(ncol):
                buf[_U(pl + q)] = xf[_U(s0 + q)]
            for j in range(Wo):  # arithmetic, not branches: the winner is unpredictable (see relu.py)
                b, k = buf[_U(2 * j)], np.int32(0)
                v = buf[_U(2 * j + 1)]; up = v > b; b = max(v, b); k += (one - k) * up
                v = buf[_U(2 * j + 2)]; up = v > b; b = max(v, b); k += (two - k) * up
                hv[_U(h0 + j)] = b
                hk[_U(h0 + j)] = k
        for oy in range(Ho):
            h0, o0 = 2 * oy * Wo, dst + oy * Wo
            corner = np.int32((2 * oy - pt) * W - pl)  # the window's top-left in the plane
            for j in range(Wo):
                b, i, kk = hv[_U(h0 + j)], np.int32(0), hk[_U(h0 + j)]
                v = hv[_U(h0 + Wo + j)]; up = v > b; b = max(v, b)
                i += (w1 - i) * up; kk += (hk[_U(h0 + Wo + j)] - kk) * up
                v = hv[_U(h0 + 2 * Wo + j)]; up = v > b; b = max(v, b)
                i += (w2 - i) * up; kk += (hk[_U(h0 + 2 * Wo + j)] - kk) * up
                yf[_U(o0 + j)] = b
                af[_U(o0 + j)] = corner + 2 * j + i + kk


@njit(cache=True, inline="always")
def _first_max(xp, at, taps, yp, ap, o, base):
    # yp[o], ap[o] = the first maximum of xp[at + t] over the six offsets `taps` (row-major within
    # a window clipped to the plane: -inf padding would never win over a number; a corner repeats
    # its last tap, which changes nothing) and its index in the plane that starts at `base`, with
    # _nine's arithmetic, written out; indices unsigned, so that Numba adds no test for negative ones
    b, i = xp[_U(at + taps[0])], taps[0]
    v = xp[_U(at + taps[1])]; up = v > b; b = max(v, b); i += (taps[1] - i) * up
    v = xp[_U(at + taps[2])]; up = v > b; b = max(v, b); i += (taps[2] - i) * up
    v = xp[_U(at + taps[3])]; up = v > b; b = max(v, b); i += (taps[3] - i) * up
    v = xp[_U(at + taps[4])]; up = v > b; b = max(v, b); i += (taps[4] - i) * up
    v = xp[_U(at + taps[5])]; up = v > b; b = max(v, b); i += (taps[5] - i) * up
    yp[_U(o)] = b
    ap[_U(o)] = at + i - base


def _phased(win):
    # rows and columns of each phase: every window's taps, from the top-left corner of the padded
    # plane, at phase row oy + i // sh and column ox + j // sw
    return win.Ho + (win.kh - 1) // win.sh, win.Wo + (win.kw - 1) // win.sw


def _plane(win):
    hq, wq = _phased(win)
    return win.sh * win.sw * hq * wq


def _block(win, channels):
    return max(1, min(channels, BLOCK // _plane(win)))


def _set_size(win, channels):
    return 5 * _block(win, channels) * _plane(win)


def _sets(win, channels):
    return min(numba.config.NUMBA_NUM_THREADS, -(-channels // _block(win, channels)))


@njit(cache=True, parallel=True)
def _forward(x, win, hq, wq, cb, y, argmax, work, iwork):
    # the blocks (image, first channel) dealt round-robin to the threads, each with its own buffers
    N, C = x.shape[0], x.shape[1]
    per = -(-C // cb)
    sets = work.shape[0]
    for t in prange(sets):
        row = np.empty(wq * win.sw, x.dtype)  # a padded input row, when phases split it
        for blk in range(t, N * per, sets):
            n, c0 = blk // per, (blk % per) * cb
            _block_max(x[n], win, hq, wq, c0, min(C, c0 + cb), y[n], argmax[n],
                       work[t, 0], work[t, 1], iwork[t, 2], work[t, 3], iwork[t, 4], row)


@njit(cache=True, inline="always")
def _block_max(x, win, hq, wq, c0, c1, y, argmax, pp, hm, hk, vm, vc, row):
    W, kh, kw, sh, sw = win.W, win.kh, win.kw, win.sh, win.sw
    L = (c1 - c0) * hq * wq  # one phase of the block: planes of hq x wq, one after another
    _split(x[c0:c1], win.pt, win.pl, sh, sw, hq, wq, L, pp, row)
    m = L - ((kh - 1) // sh) * wq - (kw - 1) // sw
    if kh == 3 and kw == 3:  # every GoogLeNet pool: all nine taps in one pass over the block
        _nine(pp, sh, sw, wq, L, W, m, vm, vc)
    else:
        # horizontal, per row phase a: hk = column offset of the first maximum. Tap j of window
        # column r is phase (a, j % sw) at r + j // sw
        mh = L - (kw - 1) // sw
        for a in range(sh):
            _taps(pp[a * sw * L:], hk[a * L:], kw, sw, 1, L, 1, mh, hm[a * L:], hk[a * L:], False)
        # vertical: vc = row offset * W + column offset, the winner's place from the corner. Tap i
        # of window row q is row phase i % sh at q + i // sh
        _taps(hm, hk, kh, sh, wq, L, W, m, vm, vc, True)
    # indices, not views: a view per row (an atomic reference count) cost more than these short
    # rows' copies (GoogLeNet's pools: benchmarks/README.md, "Step time")
    for c in range(c0, c1):
        for oy in range(win.Ho):
            at = ((c - c0) * hq + oy) * wq
            corner = (oy * sh - win.pt) * W - win.pl
            for ox in range(win.Wo):
                y[c, oy, ox] = vm[_U(at + ox)]
                argmax[c, oy, ox] = corner + ox * sw + vc[_U(at + ox)]


@njit(cache=True, inline="always")
def _at(t, s, q, L):
    # where tap t of a window starts in phases of L elements: phase t % s, shifted by t // s steps of q
    return (t % s) * L + (t // s) * q


@njit(cache=True, inline="always")
def _taps(src, col, k, s, q, L, weight, m, best, at, add):
    # best[j] = max over taps t < k of src[_at(t) + j]; at[j] = the first such t's weight*t (+ col
    # there when add). Shifted views rather than src[_at(t) + j]: Numba cannot tell the index is
    # >= 0, so it would test every one for wraparound and the loop would not vectorise (3.5x slower)
    for j in range(m):
        best[j] = src[j]
        at[j] = col[j] if add else 0
    for t in range(1, k):
        o = _at(t, s, q, L)
        v_, c, w = src[o:], col[o:], at.dtype.type(t * weight)
        for j in range(m):
            v = v_[j]
            better = v > best[j]  # arithmetic, not branches: the winner is unpredictable (see relu.py)
            best[j] = max(v, best[j])
            at[j] += ((w + c[j] if add else w) - at[j]) * better


@njit(cache=True, inline="always")
def _nine(pp, sh, sw, wq, L, W, m, best, at):
    # a 3x3 window's first maximum in row-major order, at every position j < m of a phase:
    # tap (i, k) is phase (i % sh, k % sw) shifted by (i // sh) rows and k // sw columns; `at` gets
    # i*W + k. One pass with the nine shifted views, not a pass per tap (shifted views, not
    # computed indices: see _taps)
    s0, s1, s2 = _row3(pp, 0, sh, sw, wq, L)
    s3, s4, s5 = _row3(pp, 1, sh, sw, wq, L)
    s6, s7, s8 = _row3(pp, 2, sh, sw, wq, L)
    one, two = at.dtype.type(1), at.dtype.type(2)
    w, w1, w2 = at.dtype.type(W), at.dtype.type(W + 1), at.dtype.type(W + 2)
    w20, w21, w22 = at.dtype.type(2 * W), at.dtype.type(2 * W + 1), at.dtype.type(2 * W + 2)
    for j in range(m):
        # arithmetic, not branches: the winner is unpredictable (see relu.py)
        b, i = s0[j], at.dtype.type(0)
        v = s1[j]; up = v > b; b = max(v, b); i += (one - i) * up
        v = s2[j]; up = v > b; b = max(v, b); i += (two - i) * up
        v = s3[j]; up = v > b; b = max(v, b); i += (w - i) * up
        v = s4[j]; up = v > b; b = max(v, b); i += (w1 - i) * up
        v = s5[j]; up = v > b; b = max(v, b); i += (w2 - i) * up
        v = s6[j]; up = v > b; b = max(v, b); i += (w20 - i) * up
        v = s7[j]; up = v > b; b = max(v, b); i += (w21 - i) * up
        v = s8[j]; up = v > b; best[j] = max(v, b); at[j] = i + (w22 - i) * up


@njit(cache=True, inline="always")
def _row3(pp, i, sh, sw, wq, L):
    # the three taps (i, 0..2) of a 3-wide window as shifted views of the phases
    row = (i % sh) * sw * L + (i // sh) * wq
    return pp[row + _at(0, sw, 1, L):], pp[row + _at(1, sw, 1, L):], pp[row + _at(2, sw, 1, L):]


@njit(cache=True, inline="always")
def _split(xb, pt, pl, sh, sw, hq, wq, L, pp, row):
    # pp[(a*sw + b)*L + (c*hq + q)*wq + r] = the -inf padded pixel (q*sh + a, r*sw + b) of plane c.
    # At stride 1 each row is copied in place; otherwise through `row`, whose padding stays -inf
    # (only [pl, pl + W) is written), read at stride sw over its whole length for each phase
    C, H, W = xb.shape
    lo = -np.inf
    for r in range(row.shape[0]):
        row[r] = lo
    n = max(0, min(W, wq * sw - pl))  # columns past every window are not read
    for c in range(C):
        for a in range(sh):
            for q in range(hq):
                iy = q * sh + a - pt
                at = a * sw * L + (c * hq + q) * wq
                # loops and indices, not slice assignments or views: Numba's check that a copy's
                # source and destination do not overlap, or a view's reference count, cost more
                # than these short rows' copies
                if iy < 0 or iy >= H:
                    for b in range(sw):
                        for r in range(wq):
                            pp[_U(at + b * L + r)] = lo
                    continue
                if sw == 1:
                    for r in range(pl):
                        pp[_U(at + r)] = lo
                    for r in range(n):
                        pp[_U(at + pl + r)] = xb[c, iy, r]
                    for r in range(pl + n, wq):
                        pp[_U(at + r)] = lo
                else:
                    for r in range(n):
                        row[_U(pl + r)] = xb[c, iy, r]
                    for b in range(sw):
                        for r in range(wq):
                            pp[_U(at + b * L + r)] = row[_U(r * sw + b)]


def backward(gy, win, gx, argmax, accumulate, y=None, cap=inf):
    """gx[argmax] += gy, over zeros unless accumulate. gy: (N, C, Ho, Wo) any strides;
    gx: (N, C, H, W), each (H, W) plane contiguous; argmax from `forward`; y: None, or the
    forward's output, when the input is a fused activation's output (capped at cap; inf: a plain
    ReLU) whose mask this backward applies: gx is then multiplied by (0 < x < cap) (x > 0 for an
    infinite cap), which at each winner is (0 < y < cap) of the windows it won (elsewhere gx is 0),
    as relu.py's or activation.py's backward would after it; only written, not accumulated (an
    accumulated gradient is nonzero where no window won)."""
    if y is not None and accumulate:
        raise ArgumentError("a pool masks only a gradient it writes alone")
    _backward(gy, win, gx, argmax, accumulate, gy if y is None else y, y is not None, gx.dtype.type(cap))


@njit(cache=True, parallel=True)
def _backward(gy, win, gx, argmax, accumulate, y, masked, cap):
    N, C = gx.shape[0], gx.shape[1]
    uncapped = cap == np.inf
    for nc in prange(N * C):  # each plane its own: no two threads add into one
        flat = gx[nc // C, nc % C].reshape(win.H * win.W)  # argmax is a flat index: no divide per element
        if not accumulate:
            flat[:] = 0
        src = gy[nc // C, nc % C]
        idx = argmax[nc // C, nc % C]
        if masked:
            won = y[nc // C, nc % C]
            for oy in range(win.Ho):
                for ox in range(win.Wo):
                    v = won[oy, ox]
                    flat[idx[oy, ox]] += src[oy, ox] * ((v > 0) & ((v < cap) | uncapped))
        else:
            for oy in range(win.Ho):
                for ox in range(win.Wo):
                    flat[idx[oy, ox]] += src[oy, ox]
