"""Max pooling on the CPU. The forward saves `argmax`: per output, the flat index iy*W + ix of the
winning input in its plane (int32); ties go to the first maximum in row-major window order, as on
the GPU.

The forward works on a few planes at a time (BLOCK elements, so its buffers stay in L2), copied
with -inf padding so that every window is whole, and is separable, in long flat sweeps over those
planes:
- horizontal: at every position, the maximum of the kw values starting there and its column;
- vertical: at every position, the first of the kh horizontal maxima below it that is strictly
  greater, which gives the row-major first maximum of the 2-D window;
- then each output picks its window's position.
A 3-wide window (every GoogLeNet pool) takes each sweep in one pass over its three taps, not one
pass per tap. Windows that run into the next row or plane only land on positions no output picks.
Sweeping every position wastes a factor sh*sw on strided pools but keeps each loop long and
branch-free; per plane and per row the loops were too short to vectorise (the timings of each
variant: benchmarks/HISTORY.md).
"""
import numba
import numpy as np
from numba import njit, prange

BLOCK = 16384  # padded elements per block of planes: five buffers of it fit in L2


def work_size(win, channels):
    """Scratch elements (int) `forward` needs for `channels` planes of this window: five buffers
    per thread that may take a block (Numba's threads, at most one per block)."""
    return _sets(win, channels) * _set_size(win, channels)


def forward(x, win, y, argmax, work):
    """x: (N, C, H, W), contiguous per image; win: geometry.Window; y: (N, C, Ho, Wo) output (any
    strides); argmax: (N, C, Ho, Wo) int32 output; work: 1-D scratch of x's dtype, at least
    work_size(win, C) elements."""
    hp, wp = _padded(win)
    cb = _block(win, x.shape[1])
    size = _set_size(win, x.shape[1])
    sets = max(1, min(numba.get_num_threads(), work.size // size))
    index = np.int32 if work.itemsize == 4 else np.int64
    work = work[:sets * size].reshape(sets, 5, size // 5)
    _forward(x, win, hp, wp, cb, y, argmax, work, work.view(index))


def _padded(win):
    # big enough for every window, counted from the top-left corner of the padded plane
    return (max((win.Ho - 1) * win.sh + win.kh, win.pt + win.H),
            max((win.Wo - 1) * win.sw + win.kw, win.pl + win.W))


def _plane(win):
    hp, wp = _padded(win)
    return hp * wp


def _block(win, channels):
    return max(1, min(channels, BLOCK // _plane(win)))


def _set_size(win, channels):
    return 5 * _block(win, channels) * _plane(win)


def _sets(win, channels):
    return min(numba.config.NUMBA_NUM_THREADS, -(-channels // _block(win, channels)))


@njit(cache=True, parallel=True)
def _forward(x, win, hp, wp, cb, y, argmax, work, iwork):
    # the blocks (image, first channel) dealt round-robin to the threads, each with its own buffers
    N, C = x.shape[0], x.shape[1]
    per = -(-C // cb)
    sets = work.shape[0]
    for t in prange(sets):
        for blk in range(t, N * per, sets):
            n, c0 = blk // per, (blk % per) * cb
            _block_max(x[n], win, hp, wp, c0, min(C, c0 + cb), y[n], argmax[n],
                       work[t, 0], work[t, 1], iwork[t, 2], work[t, 3], iwork[t, 4])


@njit(cache=True, inline="always")
def _block_max(x, win, hp, wp, c0, c1, y, argmax, pad, hm, hk, vm, vc):
    W, kh, kw = win.W, win.kh, win.kw
    s = (c1 - c0) * hp * wp
    _pad(x[c0:c1], win.pt, win.pl, hp, wp, pad)
    # horizontal: hk = column offset of the first maximum
    m = s - kw + 1
    if kw == 3:  # every GoogLeNet pool: the three taps in one pass, not three (1.5-2x faster)
        _three(pad, pad[1:], pad[2:], hk, hk, hk, 0, 1, 2, m, hm, hk, False)
    else:
        _taps(pad, hk, kw, 1, 1, m, hm, hk, False)
    # vertical: vc = row offset * W + column offset, the winner's place from the corner
    m = s - (kh - 1) * wp - kw + 1
    if kh == 3:
        _three(hm, hm[wp:], hm[2 * wp:], hk, hk[wp:], hk[2 * wp:], 0, W, 2 * W, m, vm, vc, True)
    else:
        _taps(hm, hk, kh, wp, W, m, vm, vc, True)
    sw = win.sw
    for c in range(c0, c1):
        for oy in range(win.Ho):
            row = (c - c0) * hp * wp + oy * win.sh * wp
            corner = (oy * win.sh - win.pt) * W - win.pl
            yr, ar, vmr, vcr = y[c, oy], argmax[c, oy], vm[row:], vc[row:]
            if sw == 1:  # a loop of its own, so that it vectorises (512x14x14 3x3/1: 0.14 -> 0.10 ms)
                for ox in range(win.Wo):
                    yr[ox] = vmr[ox]
                    ar[ox] = corner + ox + vcr[ox]
            else:
                for ox in range(win.Wo):
                    yr[ox] = vmr[ox * sw]
                    ar[ox] = corner + ox * sw + vcr[ox * sw]


@njit(cache=True, inline="always")
def _taps(src, col, k, step, weight, m, best, at, add):
    # best[j] = max over t < k of src[j + t*step]; at[j] = the first such t's weight*t (+ col there
    # when add). Shifted views rather than src[j + t*step]: Numba cannot tell the index is >= 0,
    # so it would test every one for wraparound and the loop would not vectorise (3.5x slower)
    for j in range(m):
        best[j] = src[j]
        at[j] = col[j] if add else 0
    for t in range(1, k):
        s, c, w = src[t * step:], col[t * step:], at.dtype.type(t * weight)
        for j in range(m):
            v = s[j]
            better = v > best[j]  # arithmetic, not branches: the winner is unpredictable (see relu.py)
            best[j] = max(v, best[j])
            at[j] += ((w + c[j] if add else w) - at[j]) * better


@njit(cache=True, inline="always")
def _three(s0, s1, s2, c0, c1, c2, w0, w1, w2, m, best, at, add):
    # _taps for k = 3 in one pass
    w0, w1, w2 = at.dtype.type(w0), at.dtype.type(w1), at.dtype.type(w2)
    for j in range(m):
        a, b, c = s0[j], s1[j], s2[j]
        i = w0 + c0[j] if add else w0
        ib = w1 + c1[j] if add else w1
        ic = w2 + c2[j] if add else w2
        better = b > a
        a = max(a, b)
        i += (ib - i) * better
        better = c > a
        best[j] = max(a, c)
        at[j] = i + (ic - i) * better


@njit(cache=True, inline="always")
def _pad(xi, pt, pl, hp, wp, pad):
    C, H, W = xi.shape
    lo = -np.inf
    for c in range(C):
        plane = pad[c * hp * wp:(c + 1) * hp * wp].reshape(hp, wp)
        for r in range(hp):
            iy = r - pt
            if iy < 0 or iy >= H:
                plane[r, :] = lo
                continue
            plane[r, :pl] = lo
            plane[r, pl:pl + W] = xi[c, iy]
            plane[r, pl + W:] = lo


@njit(cache=True, parallel=True)
def backward(gy, win, gx, argmax, accumulate):
    """gx[argmax] += gy, over zeros unless accumulate. gy: (N, C, Ho, Wo) any strides;
    gx: (N, C, H, W), each (H, W) plane contiguous; argmax from `forward`."""
    N, C = gx.shape[0], gx.shape[1]
    for nc in prange(N * C):  # each plane its own: no two threads add into one
        flat = gx[nc // C, nc % C].reshape(win.H * win.W)  # argmax is a flat index: no divide per element
        if not accumulate:
            flat[:] = 0
        src = gy[nc // C, nc % C]
        idx = argmax[nc // C, nc % C]
        for oy in range(win.Ho):
            for ox in range(win.Wo):
                flat[idx[oy, ox]] += src[oy, ox]
