"""3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016).

Each 2x2 output tile is A^T [(G g G^T) * (B^T d B)] A for the 4x4 input tile d around it, so
the 9 multiplies per output become 4: the tiles' transformed inputs V[16, Cin, tiles] meet the
transformed weights U[16, Cout, Cin] in 16 GEMMs, M[xi] = U[xi] @ V[xi], and the output transform
adds M back into 2x2 tiles. The backward to the input is the same computation: a 3x3 stride-1
correlation of gy with the flipped kernel, channels swapped (`transform_weights(..., back=True)`).

Both transforms are separable and run on the phase-split padded input (even and odd rows and
columns apart, see im2col.py), so each of their loops is one contiguous sweep over a channel.
Forward times on this 2-core machine, float32, batch 1, im2col+GEMM -> Winograd: 64->192 @56
4.31 -> 3.78 ms, 128->192 @28 2.04 -> 1.81 ms, 160->320 @14 1.25 -> 0.92 ms. The GEMMs, thin in
Cin, run below the BLAS's peak, which is why 2.25x fewer multiplies buy ~1.2x. Error against the
direct sum: ~6e-7 relative in float32 (B and A hold only 0 and +-1; G holds halves, exact in binary).
"""
import numpy as np
from numba import njit, prange

from . import blas
from .im2col import phase_split

_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
MIN_TILES = 196  # images go through the GEMMs together until each has at least this many columns


def usable(win, group):
    """True when a layer of this geometry.Window and group count runs here: 3x3, stride 1, no
    dilation, no groups, pads of at most 2 (so that the backward's pads, 2 - pad, exist), and an
    output of at least 14x14 (at 7x7 the GEMMs get 16 tile columns and it no longer pays:
    160->320, 0.47 vs 0.48 ms by im2col)."""
    return ((win.kh, win.kw, win.sh, win.sw, win.dh, win.dw, group) == (3, 3, 1, 1, 1, 1, 1)
            and max(win.pt, win.pl, win.pb, win.pr) <= 2 and min(win.Ho, win.Wo) >= 14)


def transform_weights(w, back=False):
    """U = G w G^T for weights w (Cout, Cin, 3, 3) (NumPy), as a (16, Cout, Cin) array of w's
    dtype; with back=True the weights of the backward (flipped, channels swapped): (16, Cin, Cout).
    Computed in float64."""
    w64 = w.astype(np.float64)
    if back:
        w64 = w64[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    u = np.einsum("ai,kcij,bj->abkc", _G, w64, _G)
    return np.ascontiguousarray(u.reshape(16, *w64.shape[:2]), dtype=w.dtype)


def _tiles(ho, wo):
    # tile rows, and tiles per row: one more than the output needs, a junk column that lets each
    # transform sweep a whole channel in one loop (and the length of the phase-split rows)
    return (ho + 1) // 2, (wo + 1) // 2 + 1


def _chunk(n, th, tw):
    return min(n, max(1, -(-MIN_TILES // (th * tw))))


def work_size(cin, cout, n, ho, wo):
    """Scratch elements (int) for `conv3x3` on n images of cin channels to (ho, wo) outputs of
    cout channels."""
    th, tw = _tiles(ho, wo)
    t = _chunk(n, th, tw) * th * tw
    return cin * 4 * (th + 2) * tw + 16 * (cin + cout) * t


def conv3x3(x, u, pt, pl, y, bias, relu, accumulate, work):
    """y = 3x3 correlation of x (zero-padded by pt on top, pl on the left, and by whatever the
    output size asks at the bottom and right) with the weights whose transform is u, + bias, then
    max(., 0) when relu; or y += that (without bias or ReLU) when accumulate.

    x: (N, Cin, H, W), contiguous per image; u: (16, Cout, Cin) from `transform_weights`;
    y: (N, Cout, Ho, Wo), contiguous per image; bias: (Cout,); relu, accumulate: bool;
    work: 1-D scratch of >= work_size(Cin, Cout, N, Ho, Wo) elements. One dtype throughout."""
    n_img, cin = x.shape[:2]
    cout, ho, wo = y.shape[1:]
    th, tw = _tiles(ho, wo)
    per, chunk = th * tw, _chunk(n_img, th, tw)
    npad = cin * 4 * (th + 2) * tw
    pp = work[:npad].reshape(cin, 2, 2, th + 2, tw)  # a spare row: the junk tiles read into it
    for n0 in range(0, n_img, chunk):
        g = min(chunk, n_img - n0)
        v = work[npad:npad + 16 * cin * g * per].reshape(16, cin, g * per)
        m = work[npad + 16 * cin * g * per:npad + 16 * (cin + cout) * g * per].reshape(16, cout, g * per)
        for i in range(g):
            phase_split(x[n0 + i], pt, pl, pp)
            _input_tiles(pp.reshape(cin, 2, 2, -1), tw, per, v, i * per)
        blas.matmul_stacked(u, v, m)
        for i in range(g):
            _output_tiles(m, i * per, th, tw, bias, relu, accumulate, y[n0 + i])


@njit(cache=True, fastmath=True, parallel=True)
def _input_tiles(pp, tw, per, v, t0):
    # V = B^T d B with B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]], rows then columns, each
    # a sweep over a whole channel. pp[c, a, b] is a phase plane, flattened; tile f = ty*tw + tx
    # has rows 2ty + a at element f, rows 2ty + 2 + a at f + tw, columns 2tx + b at f, 2tx + 2 + b at f + 1
    C, n = pp.shape[0], per + 1
    for c in prange(C):  # a channel per thread at a time
        r = np.empty((4, 2, n), pp.dtype)  # hoisted by Numba: one per thread, not per channel
        for b in range(2):
            d0, d1 = pp[c, 0, b], pp[c, 1, b]
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
            o0, o1 = v[4 * i, c, t0:t0 + per], v[4 * i + 1, c, t0:t0 + per]
            o2, o3 = v[4 * i + 2, c, t0:t0 + per], v[4 * i + 3, c, t0:t0 + per]
            for f in range(per):
                o0[f] = ev[f] - ev1[f]
                o1[f] = od[f] + ev1[f]
                o2[f] = ev1[f] - od[f]
                o3[f] = od[f] - od1[f]


@njit(cache=True, fastmath=True, parallel=True)
def _output_tiles(m, t0, th, tw, bias, relu, accumulate, y):
    # Y = A^T M A with A^T = [[1,1,1,0],[0,1,-1,-1]]: the row pass sweeps the whole channel, the
    # column pass writes each output row from the tiles that hold it (the junk tile last in each
    # tile row is skipped)
    K, Ho, Wo = y.shape
    per = th * tw
    half = Wo // 2
    for k in prange(K):  # an output channel per thread at a time
        s = np.empty((2, 4, per), m.dtype)  # hoisted by Numba: one per thread
        bk = bias[k]
        for j in range(4):
            a0, a1 = m[j, k, t0:t0 + per], m[4 + j, k, t0:t0 + per]
            a2, a3 = m[8 + j, k, t0:t0 + per], m[12 + j, k, t0:t0 + per]
            s0, s1 = s[0, j], s[1, j]
            for f in range(per):
                s0[f] = a0[f] + a1[f] + a2[f]
                s1[f] = a1[f] - a2[f] - a3[f]
        for oy in range(Ho):
            i, f0 = oy % 2, (oy // 2) * tw
            c0, c1 = s[i, 0, f0:f0 + tw], s[i, 1, f0:f0 + tw]
            c2, c3 = s[i, 2, f0:f0 + tw], s[i, 3, f0:f0 + tw]
            row = y[k, oy]
            if accumulate:
                for q in range(half):
                    row[2 * q] += c0[q] + c1[q] + c2[q]
                    row[2 * q + 1] += c1[q] - c2[q] - c3[q]
                if Wo % 2:
                    row[Wo - 1] += c0[half] + c1[half] + c2[half]
            else:
                for q in range(half):
                    e = c0[q] + c1[q] + c2[q] + bk
                    o = c1[q] - c2[q] - c3[q] + bk
                    if relu:  # products, not selects: see relu.py
                        e, o = e * (e > 0), o * (o > 0)
                    row[2 * q] = e
                    row[2 * q + 1] = o
                if Wo % 2:
                    e = c0[half] + c1[half] + c2[half] + bk
                    row[Wo - 1] = e * (e > 0) if relu else e
