"""lucid's decorrelated Fourier parameterization on the GPU (fourier.cu): forward to pixels and
backward to the spectrum; CPU twin kernels/cpu/fourier.py, same signatures. Direct DFT sums, not
cuFFT (why: fourier.cu's header)."""
from typing import NamedTuple

import numpy as np

from ..shared import fourier_back
from .source import i32, kernel, launch

__all__ = ["prepare", "to_pixels", "backward"]


class Prepared(NamedTuple):
    """What `prepare` makes for one shape, all float64 CuPy arrays: scale (H, Wf), colour (3, 3),
    back (H, Wf) = c_k / (H W) * scale, tw_h (2, H) and tw_w (2, W) (cos and sin of 2 pi t / H, / W),
    and the scratch of a pass: columns (N*3, 2, H, Wf) and rows (N, 3, H, W)."""
    h: int
    w: int
    scale: object
    colour: object
    back: object
    tw_h: object
    tw_w: object
    columns: object
    rows: object


def prepare(shape, dtype, scale, colour, asarray):
    """Constants and scratch for images of `shape` (N, 3, H, W) and `dtype`; scale (H, W//2 + 1) and
    colour (3, 3): host float64 arrays; asarray: the backend's. Returns a Prepared (allocate it
    before a graph capture: it is a plan's buffers)."""
    n, _, h, w = shape
    wf = w // 2 + 1

    def twiddles(m):
        t = 2.0 * np.pi * np.arange(m) / m
        return asarray(np.stack([np.cos(t), np.sin(t)]), np.float64)

    return Prepared(h, w, asarray(scale, np.float64), asarray(colour, np.float64), asarray(fourier_back(scale, h, w)),
                    twiddles(h), twiddles(w), asarray(np.zeros((n * 3, 2, h, wf))), asarray(np.zeros((n, 3, h, w))))


def to_pixels(spectrum, fp, pixels):
    """pixels = 255 * sigmoid(colour @ irfft2(spectrum * scale)). spectrum: (N, 3, 2, H, W//2 + 1);
    fp: prepare's for pixels' shape; pixels: (N, 3, H, W); contiguous, one float dtype."""
    n = pixels.shape[0]
    wf = fp.w // 2 + 1
    launch(kernel("fourier", "spectrum_to_columns", spectrum.dtype), n * 3 * fp.h * wf,
           (spectrum, fp.scale, fp.tw_h, fp.columns, i32(n * 3), i32(fp.h), i32(wf)))
    launch(kernel("fourier", "columns_to_pixels", pixels.dtype), n * fp.h * fp.w,
           (fp.columns, fp.colour, fp.tw_w, pixels, i32(n), i32(fp.h), i32(fp.w)))


def backward(g, pixels, fp, gs):
    """gs = the gradient with respect to the spectrum of sum(g * pixels), pixels = to_pixels(it).
    g, pixels: (N, 3, H, W); fp: prepare's; gs: (N, 3, 2, H, W//2 + 1); contiguous, one dtype."""
    n = pixels.shape[0]
    wf = fp.w // 2 + 1
    launch(kernel("fourier", "pixels_to_rows", g.dtype), n * fp.h * fp.w,
           (g, pixels, fp.colour, fp.rows, i32(n), np.int64(fp.h * fp.w)))
    launch(kernel("fourier", "rows_to_columns", g.dtype), n * 3 * fp.h * wf,
           (fp.rows, fp.tw_w, fp.columns, i32(n * 3), i32(fp.h), i32(fp.w)))
    launch(kernel("fourier", "columns_to_spectrum", gs.dtype), n * 3 * fp.h * wf,
           (fp.columns, fp.back, fp.tw_h, gs, i32(n * 3), i32(fp.h), i32(wf)))
