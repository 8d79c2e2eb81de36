"""A random rotation, scale and shift of each image of a batch, and its exact adjoint, on the CPU.

lucid's transformation robustness: the network sees each step's window turned, zoomed and shifted
a little, so that what the ascent draws must survive that. The transform is four one-dimensional
resampling passes, alternately along rows and along columns (a rotation is three shears, Paeth's
decomposition; the scale and the shift ride on the last two passes). Each pass reads one line of
its input at positions

    pos(line, j) = cj + slope * (j - cj) + shear * (line - cl) + shift      (pixels)

(cj, cl: the centres of the line and of the lines), linearly interpolated between the two
nearest pixels, clamped to the line's ends. That makes the adjoint a gather as well, not a
scatter: source pixel m sums the outputs whose two taps include m (a short run of j, since pos
grows with j), so the backward sums in a fixed order on both backends, with no atomics (the CPU
runs a line per thread and adds each output's two terms into its pixels in the order of j, which
is the order the CUDA twin's per-pixel gather sums them).

params: (N, 4, 3) float64, per image and pass (slope > 0, shear, shift); pass 0 and 2 run along
rows (W), 1 and 3 along columns (H). With slope 1, shear 0, shift 0 everywhere the transform is the
identity, bit for bit. Positions are computed in float64 on both backends, values in the images'
dtype through float64."""
import math

from numba import njit, prange

__all__ = ["forward", "backward"]


def forward(x, params, work, y):
    """y = the four passes of `params` applied to x. x, work, y: (N, C, H, W) float32/float64
    C-contiguous, distinct (work is scratch); params: (N, 4, 3) float64."""
    _pass(x, params, 0, True, work)
    _pass(work, params, 1, False, y)
    _pass(y, params, 2, True, work)
    _pass(work, params, 3, False, y)


def backward(gy, params, work, gx):
    """gx = the adjoint of `forward` applied to gy (the passes' adjoints in reverse order); gy is
    left as it was. Arguments as in `forward`, with gy, gx in the place of x, y."""
    _adjoint(gy, params, 3, False, work)
    _adjoint(work, params, 2, True, gx)
    _adjoint(gx, params, 1, False, work)
    _adjoint(work, params, 0, True, gx)


@njit(cache=True, inline="always")
def _line(params, n, k, line, cl, cj):
    # (slope, a) of pass k's positions along one line of image n: pos(j) = a + slope * j; the forward
    # and its adjoint read the map from here alone, so they cannot disagree
    slope, shear, shift = params[n, k, 0], params[n, k, 1], params[n, k, 2]
    return slope, cj + shear * (line - cl) + shift - slope * cj


@njit(cache=True, inline="always")
def _tap(pos, length):
    # the left tap and the weight of the right one, clamped to the line: (i0, f), right tap min(i0+1, L-1)
    p = min(max(pos, 0.0), length - 1.0)
    i0 = min(int(math.floor(p)), length - 1)
    return i0, p - i0


@njit(cache=True, parallel=True)
def _pass(x, params, k, along_rows, y):
    N, C, H, W = x.shape
    lines, length = (H, W) if along_rows else (W, H)
    cl, cj = (lines - 1) / 2.0, (length - 1) / 2.0
    for t in prange(N * lines):
        n, line = t // lines, t % lines
        slope, a = _line(params, n, k, line, cl, cj)
        for j in range(length):
            i0, f = _tap(a + slope * j, length)
            i1 = min(i0 + 1, length - 1)
            for c in range(C):
                if along_rows:
                    y[n, c, line, j] = (1.0 - f) * x[n, c, line, i0] + f * x[n, c, line, i1]
                else:
                    y[n, c, j, line] = (1.0 - f) * x[n, c, i0, line] + f * x[n, c, i1, line]


@njit(cache=True, parallel=True)
def _adjoint(gy, params, k, along_rows, gx):
    # one line per thread, its outputs in order: each source pixel receives its terms in the order
    # of j, as the CUDA twin's gather sums them, and no two threads touch one pixel
    N, C, H, W = gy.shape
    lines, length = (H, W) if along_rows else (W, H)
    cl, cj = (lines - 1) / 2.0, (length - 1) / 2.0
    for t in prange(N * lines):
        n, line = t // lines, t % lines
        slope, a = _line(params, n, k, line, cl, cj)
        for c in range(C):
            for m in range(length):
                if along_rows:
                    gx[n, c, line, m] = 0.0
                else:
                    gx[n, c, m, line] = 0.0
        for j in range(length):
            i0, f = _tap(a + slope * j, length)
            i1 = min(i0 + 1, length - 1)
            for c in range(C):
                if along_rows:
                    g = gy[n, c, line, j]
                    gx[n, c, line, i0] += (1.0 - f) * g
                    gx[n, c, line, i1] += f * g
                else:
                    g = gy[n, c, j, line]
                    gx[n, c, i0, line] += (1.0 - f) * g
                    gx[n, c, i1, line] += f * g
