"""Stride-1 convolution by Winograd's minimal filtering (Lavin & Gray, 2016): F(2x2, 3x3) and
F(4x4, 3x3) for 3x3 kernels, F(2x2, 5x5) for 5x5.

Each m x m output tile is A^T [(G g G^T) * (B^T d B)] A for the n x n input tile d around it
(n = m + r - 1 for an r x r kernel), so the r^2 multiplies per output become n^2 / m^2: 4 for
F(2x2, 3x3), 2.25 for F(4x4, 3x3), 9 for F(2x2, 5x5) (against 25). The tiles' transformed inputs
V[n^2, Cin, tiles] meet the transformed weights U[n^2, Cout, Cin] in n^2 GEMMs, M[xi] = U[xi] @
V[xi], and the output transform adds M back into tiles. The backward to the input is the same
computation: an r x r stride-1 correlation of gy with the flipped kernel, channels swapped
(`transform_weights(..., back=True)`).

Both transforms are separable and run on the input split into m x m phases (see im2col.py), so
each of their loops is one contiguous sweep over a channel. F(4x4, 3x3) and F(2x2, 5x5) share
their 6 x 6 input tiles and B (interpolation points 0, +-1, +-2, infinity); only the tiles' stride
differs. m = 4 has a quarter of the tiles, so its GEMMs are narrower: it pays from 28x28 up
(`tile`); at 7x7 the layers stay with im2col. F(2x2, 3x3) keeps the smallest float32 error (B and
A hold only 0 and +-1); the points +-2 of the 6 x 6 tiles put 4, 5 and 8 into B and A and sixths
into G, so F(4x4, 3x3) and F(2x2, 5x5) lose a little more. Timings and measured errors:
benchmarks/HISTORY.md (2026-11-26); tests/test_adjoint.py bounds the error against the direct sum.
"""
import numpy as np
from numba import njit, prange

from . import aligned, blas, packed
from .im2col import split_channel

# The 6-point tables: G[k, j] = p_k^j / prod_{l != k} (p_k - p_l) over the finite points
# p = 0, 1, -1, 2, -2, and the point at infinity's row picks the last tap. F(2x2, 3x3) (points 0,
# 1, -1, infinity) keeps Lavin's scaling, which moves those denominators' signs into B.
_G = {(2, 3): np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
      (4, 3): np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
                        [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
      (2, 5): np.array([[1 / 4, 0, 0, 0, 0], [-1 / 6, -1 / 6, -1 / 6, -1 / 6, -1 / 6],
                        [-1 / 6, 1 / 6, -1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3],
                        [1 / 24, -1 / 12, 1 / 6, -1 / 3, 2 / 3], [0, 0, 0, 0, 1]])}
MIN_TILES = 196  # images go through the GEMMs together until each has at least this many columns
BIG_TILES_FROM = 28  # 3x3 layers whose input and output are at least this wide take F(4x4, 3x3)


def usable(win, group):
    """True when a layer of this geometry.Window and group count runs here: 3x3 or 5x5, stride 1,
    no dilation, no groups, pads of at most r - 1 (so that the backward's pads, r - 1 - pad,
    exist), and an output of at least 14x14 (at 7x7 the GEMMs get 16 tile columns and it no
    longer pays: 3x3 160->320, 0.47 vs 0.48 ms by im2col)."""
    return (win.kh == win.kw and win.kh in (3, 5) and (win.sh, win.sw, win.dh, win.dw, group) == (1, 1, 1, 1, 1)
            and max(win.pt, win.pl, win.pb, win.pr) <= win.kh - 1 and min(win.Ho, win.Wo) >= 14)


def tile(win):
    """Output tile side m (2 or 4) for a `usable` layer: F(4x4, 3x3) needs 36 GEMMs of 1/4 the
    columns where F(2x2, 3x3) needs 16, so it pays only where the GEMMs stay wide; 5x5 kernels
    take F(2x2, 5x5)."""
    return 4 if win.kh == 3 and min(win.Ho, win.Wo, win.H, win.W) >= BIG_TILES_FROM else 2


def transform_weights(w, back=False, m=2):
    """U = G w G^T for weights w (Cout, Cin, r, r) (NumPy; r = 3 with m = 2 or 4, r = 5 with
    m = 2) and output tiles of m x m, as an (n^2, Cout, Cin) array of w's dtype (n = m + r - 1);
    with back=True the weights of the backward (flipped, channels swapped): (n^2, Cin, Cout).
    Computed in float64."""
    w64 = w.astype(np.float64)
    if back:
        w64 = w64[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    g = _G[m, w.shape[-1]]
    u = np.einsum("ai,kcij,bj->abkc", g, w64, g)
    return np.ascontiguousarray(u.reshape(g.shape[0] ** 2, *w64.shape[:2]), dtype=w.dtype)


def _sizes(m, r, ho, wo):
    # tile rows; tiles per row, with the junk tiles at its end that let each transform sweep a
    # whole channel in one loop (also the length of the phase-split rows, which must hold the
    # last real tile's n columns); phase rows, one spare that the last junk tiles read into
    extra = -(-(r - 1) // m)
    th = -(-ho // m)
    return th, -(-wo // m) + extra, th + extra + 1


def _chunk(n, th, tw):
    return min(n, max(1, -(-MIN_TILES // (th * tw))))


def work_size(cin, cout, n, ho, wo, m=2, r=3):
    """Scratch elements (int) for `conv` on n images of cin channels to (ho, wo) outputs of
    cout channels in m x m tiles of an r x r kernel."""
    th, tw, rows = _sizes(m, r, ho, wo)
    t = _chunk(n, th, tw) * _stride(th * tw)
    return (m + r - 1) ** 2 * (cin + cout) * t


def _stride(per):
    # the columns an image's tiles take in the GEMMs' operands: per rounded up to whole cache
    # lines, so that every row of V and M starts on one (the scratch itself does)
    return aligned.row_stride(per)


def conv(x, u, m, pt, pl, y, bias, relu, accumulate, work, mask=None, out_mask=None, out_cap=np.inf):
    """y = r x r correlation of x (zero-padded by pt on top, pl on the left, and by whatever the
    output size asks at the bottom and right) with the weights whose transform is u, + bias, then
    max(., 0) when relu; or y += that (without bias or ReLU) when accumulate.

    x: (N, Cin, H, W), contiguous per image; u: (n^2, Cout, Cin) from `transform_weights` with
    output tiles of m x m (n = m + r - 1: 16 for F(2x2, 3x3), 36 for F(4x4, 3x3) and F(2x2, 5x5)),
    or that through packed.pack (float32);
    m: int; y: (N, Cout, Ho, Wo), contiguous per image; bias: (Cout,); relu, accumulate: bool;
    work: 1-D scratch of >= work_size(Cin, Cout, N, Ho, Wo, m, r) elements; mask: None, or x's
    shape, when x * (mask > 0) is to be convolved instead of x; out_mask: None, or y's shape,
    when what is stored in y (the sum, accumulating) is then multiplied by
    (0 < out_mask < out_cap) (out_mask > 0 for an infinite out_cap): a backward's input mask, as
    relu.py's and activation.py's backward apply it. One dtype throughout."""
    n_img, cin = x.shape[:2]
    cout, ho, wo = y.shape[1:]
    a2 = u.shape[0]
    r = int(round(a2 ** 0.5)) - m + 1
    th, tw, rows = _sizes(m, r, ho, wo)
    per, chunk = th * tw, _chunk(n_img, th, tw)
    packs = u.ndim == 4  # packed by packed.pack (conv.prepare does, for float32)
    # each image's tiles start on a cache line in V and M, its last columns zero up to the next
    # (the packed GEMM: rows split across cache lines cost it 10%, 36 x 192x64 @ 64x210: 0.63 ->
    # 0.57 ms); the GEMMs take those zeros too where the last columns would otherwise need a
    # masked vector (56 columns as 64: 0.18 -> 0.17 ms), and leave the last image's out where they
    # ride with its last vector (210: benchmarks/README.md, "Step time")
    stride = _stride(per) if packs else per
    for n0 in range(0, n_img, chunk):
        g = min(chunk, n_img - n0)
        v = work[:a2 * cin * g * stride].reshape(a2, cin, g * stride)
        mm = work[a2 * cin * g * stride:a2 * (cin + cout) * g * stride].reshape(a2, cout, g * stride)
        for i in range(g):
            # with no mask, x stands in for it (unread)
            img, keep_in = x[n0 + i], (x if mask is None else mask)[n0 + i]
            if a2 == 16:
                _input_tiles(img, pt, pl, keep_in, mask is not None, rows, tw, per, v, i * stride, stride - per)
            else:
                _input_tiles6(img, pt, pl, keep_in, mask is not None, m, rows, tw, per, v, i * stride,
                              stride - per)
        if packs:
            cols = g * stride - (stride - per if per % packed.W <= packed.EXTRA_UP_TO else 0)
            packed.matmul_stacked(u, v[:, :, :cols], mm[:, :, :cols])
        else:
            blas.matmul_stacked(u, v, mm)
        kept, cap = out_mask is not None, y.dtype.type(out_cap)
        for i in range(g):
            # with no mask, y stands in for it (unread)
            keep = (y if out_mask is None else out_mask)[n0 + i]
            if a2 == 16:
                _output_tiles(mm, i * stride, th, tw, bias, relu, accumulate, y[n0 + i], keep, kept, cap)
            elif m == 4:
                _output_tiles4(mm, i * stride, th, tw, bias, relu, accumulate, y[n0 + i], keep, kept, cap)
            else:
                _output_tiles2of6(mm, i * stride, th, tw, bias, relu, accumulate, y[n0 + i], keep, kept, cap)


@njit(cache=True, fastmath=True, parallel=True)
def _input_tiles(x, pt, pl, mask, masked, rows, tw, per, v, t0, pad):
    # V = B^T d B with B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]], rows then columns, each
    # a sweep over a whole channel of x (C, H, W), which first goes into 2 x 2 phases of rows x tw
    # (im2col.split_channel, x * (mask > 0) when masked) in a buffer of the thread's: pp[a, b] is
    # a phase plane, flattened; tile f = ty*tw + tx has rows 2ty + a at element f, rows 2ty + 2 + a
    # at f + tw, columns 2tx + b at f, 2tx + 2 + b at f + 1. Split and transform one channel at a
    # time, not the whole image split first into scratch: the split channel is still in L1 when
    # the transform reads it (192x56x56 into 4x4 phases: 2.8 MB), and the scratch is smaller
    # (the timings: benchmarks/README.md, Galleries, "a new machine")
    C, n = x.shape[0], per + 1
    for c in prange(C):  # a channel per thread at a time
        pp = np.empty((2, 2, rows * tw), x.dtype)  # hoisted by Numba: one per thread, not per channel
        buf = np.zeros(2 * tw, x.dtype)
        split_channel(x, c, pt, pl, mask, masked, 2, 2, rows, tw, buf, pp.reshape(4 * rows * tw))
        r = np.empty((4, 2, n), x.dtype)
        for b in range(2):
            d0, d1 = pp[0, b], pp[1, b]
            d2, d3 = d0[tw:], d1[tw:]
            r0, r1, r2, r3 = r[0, b], r[1, b], r[2, b], r[3, b]
            for f in range(n):
                r0[f] = d0[f] - d2[f]
                r1[f] = d1[f] + d2[f]
                r2[f] = d2[f] - d1[f]
                r3[f] = d1[f] - d3[f]
        for i in range(4):
            ev, od = r[i, 0], r[i, 1]
            ev1, od1 = ev[1:], od[1:]
            o0, o1 = v[4 * i, c, t0:t0 + per + pad], v[4 * i + 1, c, t0:t0 + per + pad]
            o2, o3 = v[4 * i + 2, c, t0:t0 + per + pad], v[4 * i + 3, c, t0:t0 + per + pad]
            for f in range(per):
                o0[f] = ev[f] - ev1[f]
                o1[f] = od[f] + ev1[f]
                o2[f] = ev1[f] - od[f]
                o3[f] = od[f] - od1[f]
            for f in range(per, per + pad):  # the image's columns up to the next cache line
                o0[f], o1[f], o2[f], o3[f] = 0, 0, 0, 0


@njit(cache=True, fastmath=True, parallel=True)
def _output_tiles(m, t0, th, tw, bias, relu, accumulate, y, keep, kept, cap):
    # Y = A^T M A with A^T = [[1,1,1,0],[0,1,-1,-1]]: the row pass sweeps the whole channel, the
    # column pass writes each output row from the tiles that hold it (`_put_row`)
    K, Ho, Wo = y.shape
    per = th * tw
    for k in prange(K):  # an output channel per thread at a time
        s = np.empty((2, 4, per), m.dtype)  # hoisted by Numba: one per thread
        for j in range(4):
            a0, a1 = m[j, k, t0:t0 + per], m[4 + j, k, t0:t0 + per]
            a2, a3 = m[8 + j, k, t0:t0 + per], m[12 + j, k, t0:t0 + per]
            s0, s1 = s[0, j], s[1, j]
            for f in range(per):
                s0[f] = a0[f] + a1[f] + a2[f]
                s1[f] = a1[f] - a2[f] - a3[f]
        row_buf = np.empty(2 * tw, m.dtype)
        for oy in range(Ho):
            i, f0 = oy % 2, (oy // 2) * tw
            c0, c1 = s[i, 0, f0:f0 + tw], s[i, 1, f0:f0 + tw]
            c2, c3 = s[i, 2, f0:f0 + tw], s[i, 3, f0:f0 + tw]
            for q in range(tw):
                row_buf[2 * q] = c0[q] + c1[q] + c2[q]
                row_buf[2 * q + 1] = c1[q] - c2[q] - c3[q]
            _put_row(row_buf, bias[k], relu, accumulate, y[k, oy], keep[k, oy], kept, cap)


@njit(cache=True, inline="always")
def _bt4(d0, d1, d2, d3, d4, d5):
    # B^T d for F(4x4, 3x3) and F(2x2, 5x5) (interpolation points 0, +-1, +-2, infinity), in 12
    # adds and 6 multiplies; B^T = [[4,0,-5,0,1,0], [0,-4,-4,1,1,0], [0,4,-4,-1,1,0],
    # [0,-2,-1,2,1,0], [0,2,-1,-2,1,0], [0,4,0,-5,0,1]]
    t1, t2 = d4 - 4 * d2, d3 - 4 * d1
    t3, t4 = d4 - d2, 2 * (d3 - d1)
    return 4 * d0 - 5 * d2 + d4, t1 + t2, t1 - t2, t3 + t4, t3 - t4, 4 * d1 - 5 * d3 + d5


@njit(cache=True, inline="always")
def _at4(m0, m1, m2, m3, m4, m5):
    # A^T m for F(4x4, 3x3); A^T = [[1,1,1,1,1,0], [0,1,-1,2,-2,0], [0,1,1,4,4,0], [0,1,-1,8,-8,1]]
    a, b, c, d = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    return m0 + a + c, b + 2 * d, a + 4 * c, b + 8 * d + m5


@njit(cache=True, inline="always")
def _at2(m0, m1, m2, m3, m4, m5):
    # A^T m for F(2x2, 5x5); A^T = [[1,1,1,1,1,0], [0,1,-1,2,-2,1]]
    return m0 + m1 + m2 + m3 + m4, m1 - m2 + 2 * (m3 - m4) + m5


@njit(cache=True, fastmath=True, parallel=True)
def _input_tiles6(x, pt, pl, mask, masked, m, rows, tw, per, v, t0, pad):
    # V = B^T d B for 6x6 input tiles at stride m (4: F(4x4, 3x3), 2: F(2x2, 5x5)), rows then
    # columns, each a sweep over a whole channel of x (C, H, W), split first into m x m phases of
    # rows x tw in a buffer of the thread's, as in `_input_tiles`: input row i of tile f is phase
    # row i % m at element f + (i // m) * tw, and column j adds j % m to the phase and j // m to the
    # element. The row pass of column j is that of column j % m one element on, so it runs for the
    # m column phases only, over per + 5 // m elements (12 sweeps, not 36, for m = 2)
    C = x.shape[0]
    o0, o1, o2, o3, o4, o5 = 0, (1 // m) * tw, (2 // m) * tw, (3 // m) * tw, (4 // m) * tw, (5 // m) * tw
    n = per + 5 // m
    for c in prange(C):
        pp = np.empty((m, m, rows * tw), x.dtype)  # hoisted by Numba: one per thread
        buf = np.zeros(m * tw, x.dtype)
        split_channel(x, c, pt, pl, mask, masked, m, m, rows, tw, buf, pp.reshape(m * m * rows * tw))
        r = np.empty((6, m, n), x.dtype)  # r[i, b] = sum_k bt[i, k] d[k, column phase b]
        for b in range(m):
            d0, d1, d2 = pp[0, b, o0:], pp[1 % m, b, o1:], pp[2 % m, b, o2:]
            d3, d4, d5 = pp[3 % m, b, o3:], pp[4 % m, b, o4:], pp[5 % m, b, o5:]
            r0, r1, r2, r3, r4, r5 = r[0, b], r[1, b], r[2, b], r[3, b], r[4, b], r[5, b]
            for f in range(n):
                r0[f], r1[f], r2[f], r3[f], r4[f], r5[f] = _bt4(d0[f], d1[f], d2[f], d3[f], d4[f], d5[f])
        for i in range(6):
            e0, e1, e2 = r[i, 0], r[i, 1 % m, 1 // m:], r[i, 2 % m, 2 // m:]
            e3, e4, e5 = r[i, 3 % m, 3 // m:], r[i, 4 % m, 4 // m:], r[i, 5 % m, 5 // m:]
            q = per + pad
            w0, w1, w2 = v[6 * i, c, t0:t0 + q], v[6 * i + 1, c, t0:t0 + q], v[6 * i + 2, c, t0:t0 + q]
            w3, w4, w5 = v[6 * i + 3, c, t0:t0 + q], v[6 * i + 4, c, t0:t0 + q], v[6 * i + 5, c, t0:t0 + q]
            for f in range(per):
                w0[f], w1[f], w2[f], w3[f], w4[f], w5[f] = _bt4(e0[f], e1[f], e2[f], e3[f], e4[f], e5[f])
            for f in range(per, q):  # the image's columns up to the next cache line
                w0[f], w1[f], w2[f], w3[f], w4[f], w5[f] = 0, 0, 0, 0, 0, 0


@njit(cache=True, fastmath=True, parallel=True)
def _output_tiles4(m, t0, th, tw, bias, relu, accumulate, y, keep, kept, cap):
    # Y = A^T M A for 4x4 output tiles: the row pass sweeps the whole channel, the column pass
    # writes each output row, four columns per tile, through `_put_row`
    K, Ho, Wo = y.shape
    per = th * tw
    for k in prange(K):
        s = np.empty((4, 6, per), m.dtype)  # s[p, l] = sum_i at[p, i] M[i, l]
        for l in range(6):
            m0, m1, m2 = m[l, k, t0:t0 + per], m[6 + l, k, t0:t0 + per], m[12 + l, k, t0:t0 + per]
            m3, m4, m5 = m[18 + l, k, t0:t0 + per], m[24 + l, k, t0:t0 + per], m[30 + l, k, t0:t0 + per]
            s0, s1, s2, s3 = s[0, l], s[1, l], s[2, l], s[3, l]
            for f in range(per):
                s0[f], s1[f], s2[f], s3[f] = _at4(m0[f], m1[f], m2[f], m3[f], m4[f], m5[f])
        row_buf = np.empty(4 * tw, m.dtype)
        for oy in range(Ho):
            p, f0 = oy % 4, (oy // 4) * tw
            c0, c1, c2 = s[p, 0, f0:f0 + tw], s[p, 1, f0:f0 + tw], s[p, 2, f0:f0 + tw]
            c3, c4, c5 = s[p, 3, f0:f0 + tw], s[p, 4, f0:f0 + tw], s[p, 5, f0:f0 + tw]
            for tx in range(tw):
                row_buf[4 * tx], row_buf[4 * tx + 1], row_buf[4 * tx + 2], row_buf[4 * tx + 3] = _at4(
                    c0[tx], c1[tx], c2[tx], c3[tx], c4[tx], c5[tx])
            _put_row(row_buf, bias[k], relu, accumulate, y[k, oy], keep[k, oy], kept, cap)


@njit(cache=True, inline="always")
def _put_row(row_buf, bk, relu, accumulate, row, keep, kept, cap):
    # an output row out of its tiles' interleaved row buffer, in one branch-free sweep: the
    # buffer first, so that the tile loop writes without checking each column against Wo (the
    # checks kept it scalar; 64->192 @56: 0.35 -> 0.25 ms); with kept, the stored value times
    # (0 < keep < cap) (keep > 0 when cap is inf), as relu.py's and activation.py's backward
    uncapped = cap == np.inf
    if accumulate:
        if kept:
            for x in range(row.shape[0]):
                k = keep[x]
                row[x] = (row[x] + row_buf[x]) * ((k > 0) & ((k < cap) | uncapped))
        else:
            for x in range(row.shape[0]):
                row[x] += row_buf[x]
    elif kept:
        for x in range(row.shape[0]):
            v = row_buf[x] + bk
            v = v * (v > 0) if relu else v
            k = keep[x]
            row[x] = v * ((k > 0) & ((k < cap) | uncapped))
    else:
        for x in range(row.shape[0]):
            v = row_buf[x] + bk
            row[x] = v * (v > 0) if relu else v  # a product, not a select: see relu.py


@njit(cache=True, fastmath=True, parallel=True)
def _output_tiles2of6(m, t0, th, tw, bias, relu, accumulate, y, keep, kept, cap):
    # Y = A^T M A for 2x2 output tiles out of 6x6 (F(2x2, 5x5)), as `_output_tiles4`. Two kernels,
    # not one with the tile size as an argument: branching on it inside the loops cost 45% (64->192
    # @56: 0.25 -> 0.36 ms; 96 @28, 2x2 tiles: 0.058 -> 0.090 ms)
    K, Ho, Wo = y.shape
    per = th * tw
    for k in prange(K):
        s = np.empty((2, 6, per), m.dtype)  # s[p, l] = sum_i at[p, i] M[i, l]
        for l in range(6):
            m0, m1, m2 = m[l, k, t0:t0 + per], m[6 + l, k, t0:t0 + per], m[12 + l, k, t0:t0 + per]
            m3, m4, m5 = m[18 + l, k, t0:t0 + per], m[24 + l, k, t0:t0 + per], m[30 + l, k, t0:t0 + per]
            s0, s1 = s[0, l], s[1, l]
            for f in range(per):
                s0[f], s1[f] = _at2(m0[f], m1[f], m2[f], m3[f], m4[f], m5[f])
        row_buf = np.empty(2 * tw, m.dtype)
        for oy in range(Ho):
            p, f0 = oy % 2, (oy // 2) * tw
            c0, c1, c2 = s[p, 0, f0:f0 + tw], s[p, 1, f0:f0 + tw], s[p, 2, f0:f0 + tw]
            c3, c4, c5 = s[p, 3, f0:f0 + tw], s[p, 4, f0:f0 + tw], s[p, 5, f0:f0 + tw]
            for tx in range(tw):
                row_buf[2 * tx], row_buf[2 * tx + 1] = _at2(c0[tx], c1[tx], c2[tx], c3[tx], c4[tx], c5[tx])
            _put_row(row_buf, bias[k], relu, accumulate, y[k, oy], keep[k, oy], kept, cap)
