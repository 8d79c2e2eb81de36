"""Pixels to model input and the fused ascent update on the GPU (pixels.cu); CPU twin
kernels/cpu/pixels.py, same signatures."""
import numpy as np

from ..shared import to_uint8
from . import device
from .source import PARTS, THREADS, i32, kernel, launch

__all__ = ["to_model", "to_pixel_grad", "ascent", "mask", "weigh", "to_uint8"]


def to_model(pixels, order, scale, shift, out):
    """out[:, c] = pixels[:, order[c]] * scale[c] + shift[c]. pixels, out: (N, C, H, W)
    contiguous; order: (C,) int64; scale, shift: (C,) of the images' dtype (CuPy arrays)."""
    n, c = pixels.shape[:2]
    launch(kernel("pixels", "to_model", pixels.dtype), pixels.size,
           (pixels, order, scale, shift, out, i32(n), i32(c), np.int64(pixels[0, 0].size)))


def to_pixel_grad(grad, order, scale, out):
    """out[:, order[c]] = grad[:, c] * scale[c] (the transpose of `to_model`). grad, out: (N, C, H, W)
    contiguous, distinct; order, scale: as in `to_model`."""
    n, c = grad.shape[:2]
    launch(kernel("pixels", "to_pixel_grad", grad.dtype), grad.size,
           (grad, order, scale, out, i32(n), i32(c), np.int64(grad[0, 0].size)))


def mask(pixels, keep, background):
    """In place: every pixel where keep is 0 becomes `background` exactly. pixels: (N, C, H, W)
    contiguous; keep: (H, W) uint8 contiguous; background: (C,) of the pixels' dtype."""
    n, c = pixels.shape[:2]
    launch(kernel("pixels", "mask", pixels.dtype), pixels.size,
           (pixels, keep, background, i32(n), i32(c), np.int64(keep.size)))


def weigh(grad, weight):
    """In place: grad[n, c] *= weight. grad: (N, C, h, w) contiguous; weight: (h, w) of its dtype."""
    launch(kernel("pixels", "weigh", grad.dtype), grad.size, (grad, weight, np.int64(grad.size), np.int64(weight.size)))


def ascent(pixels, grad, order, scale, step, lo, hi, norm):
    """pixels += step / mean|g_pix| * g_pix per image, then clip to [lo, hi]; an image whose mean
    |g_pix| is 0, NaN or Inf stays. pixels, grad: (N, C, H, W) contiguous; order, scale: as in
    `to_model`; step: (1,) device array of the pixels' dtype; lo, hi: float; norm: (N,) float64
    device array that receives each image's mean |g_pix|."""
    n, c = pixels.shape[:2]
    p = np.int64(pixels[0, 0].size)
    dev = device.get()
    parts = dev.owned.get(("pixels partials", n))
    if parts is None:  # allocated on the warm-up step, before any graph capture
        parts = dev.owned[("pixels partials", n)] = dev.xp.empty(n * PARTS, np.float64)
    kernel("pixels", "abs_partials", pixels.dtype)((PARTS, n), (THREADS,), (grad, scale, parts, i32(c), p))
    t = pixels.dtype.type
    blocks = max(1, min(-(-int(c * p) // THREADS), 256))
    kernel("pixels", "ascent_update", pixels.dtype)(
        (blocks, n), (THREADS,), (pixels, grad, order, scale, parts, step, norm, i32(c), p, t(lo), t(hi)))
