"""Separable Gaussian blur on the CPU: per channel of each image, the same numbers as
`scipy.ndimage.gaussian_filter(plane, sigma, mode='reflect', truncate=4.0)`.

The image is blurred in place through a caller-owned scratch buffer (`work_size` elements), so a
render allocates nothing per step. Rows are filtered first through a reflect-padded line buffer,
then columns as whole-row multiply-adds; both inner loops run along the contiguous axis, which
LLVM vectorises, and the rows of each pass are shared out over Numba's threads.
"""
import numba
from numba import njit, prange

from ..shared import radius, taps

__all__ = ["radius", "taps", "work_size", "forward"]


def work_size(shape, r):
    """Scratch elements `forward` needs for images of `shape` (N, C, H, W) and kernel radius r: a
    plane, and a padded line for each thread that may run (Numba's threads share out the rows)."""
    return shape[2] * shape[3] + numba.config.NUMBA_NUM_THREADS * (shape[3] + 2 * r)


def forward(x, weights, work):
    """Blur x in place with the separable kernel `weights` along H and W of every (n, c) plane.

    x: (N, C, H, W) float32/float64, C-contiguous; weights: (2r+1,) as from `taps`, same dtype;
    work: 1-D scratch of at least work_size(x.shape, r) elements, same dtype. Boundary: 'reflect'
    (d c b a | a b c d | d c b a), at any radius, also one larger than the image."""
    if weights.shape[0] == 1 and weights[0] == 1:
        return
    H, W, r = x.shape[2], x.shape[3], weights.shape[0] // 2
    _blur(x, weights, work, max(1, min(numba.get_num_threads(), (work.shape[0] - H * W) // (W + 2 * r))))


@njit(cache=True, inline="always")
def _reflect(i, n):
    period = 2 * n
    i %= period
    return period - 1 - i if i >= n else i


@njit(cache=True, fastmath=True, parallel=True)
def _blur(x, w, work, T):
    N, C, H, W = x.shape
    r = (w.shape[0] - 1) // 2
    plane = work[:H * W].reshape(H, W)
    lines = work[H * W:H * W + T * (W + 2 * r)].reshape(T, W + 2 * r)
    for n in range(N):
        for c in range(C):
            img = x[n, c]
            for t in prange(T):  # rows in T bands, each through its thread's line buffer
                line = lines[t]
                for i in range(t * H // T, (t + 1) * H // T):
                    src = img[i]
                    # the row as it is, then only the 2r reflected pixels past its ends (a modulo
                    # for every pixel of the line cost more than the filter itself)
                    for j in range(W):
                        line[j + r] = src[j]
                    for j in range(r):
                        line[j] = src[_reflect(j - r, W)]
                        line[W + r + j] = src[_reflect(W + j, W)]
                    row = plane[i]
                    row[:] = 0
                    for k in range(2 * r + 1):
                        wk = w[k]
                        for j in range(W):
                            row[j] += wk * line[j + k]
            for i in prange(H):
                out = img[i]
                out[:] = 0
                for k in range(2 * r + 1):
                    src = plane[_reflect(i + k - r, H)]
                    wk = w[k]
                    for j in range(W):
                        out[j] += wk * src[j]
