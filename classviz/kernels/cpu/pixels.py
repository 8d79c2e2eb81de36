"""Pixels to model input and the ascent update, on the CPU.

The renderer keeps images as RGB pixels in [0, 255] (N, 3, H, W). A model sees
    m[:, c] = pixels[:, order[c]] * scale[c] + shift[c]
(Caffe: order BGR, scale 1, shift -mean; torchvision: RGB, 1/(255 std), -mean/std), so the
gradient in pixel space is g_pix[:, order[c]] = g[:, c] * scale[c]. The update of the method,
    pixels += step / mean|g_pix| * g_pix,  then clip to [lo, hi],
is one fused pass per image after one pass for the mean: no temporaries."""
import math

from numba import njit

from ..shared import to_uint8

__all__ = ["to_model", "to_pixel_grad", "ascent", "mask", "weigh", "to_uint8"]


def to_model(pixels, order, scale, shift, out):
    """out[:, c] = pixels[:, order[c]] * scale[c] + shift[c].

    pixels, out: (N, C, H, W) of one float dtype; order: (C,) int64 permutation; scale, shift:
    (C,) of the images' dtype."""
    _to_model(pixels, order, scale, shift, out)


def to_pixel_grad(grad, order, scale, out):
    """out[:, order[c]] = grad[:, c] * scale[c]: a gradient with respect to the model's input as one
    with respect to the pixels (the transpose of `to_model`). grad, out: (N, C, H, W) of one float
    dtype, distinct; order, scale: as in `to_model`."""
    _to_pixel_grad(grad, order, scale, out)


def ascent(pixels, grad, order, scale, step, lo, hi, norm):
    """One gradient-ascent step on pixels, in place, image by image.

    pixels: (N, C, H, W) float; grad: d objective / d model input, same shape and dtype;
    order, scale: as in `to_model`; step: (1,) array of the pixels' dtype holding the step size
    (pixels per unit of mean |gradient|; an array so that a captured step reads the new value);
    lo, hi: float clip range of pixel values; norm: (N,) float64 array that receives each image's
    mean |g_pix| (the host checks it: 0 or NaN/Inf means the render cannot go on). An image whose
    mean |g_pix| is 0 (the published method would divide by zero), NaN or Inf is left unchanged,
    so the images stay finite whatever the gradient."""
    _ascent(pixels, grad, order, scale, step[0], pixels.dtype.type(lo), pixels.dtype.type(hi), norm)


def mask(pixels, keep, background):
    """In place: every pixel where keep is 0 becomes `background` exactly. pixels: (N, C, H, W)
    float; keep: (H, W) uint8, 1 where the image is drawn; background: (C,) of the pixels' dtype."""
    _mask(pixels, keep, background)


def weigh(grad, weight):
    """In place: grad[n, c] *= weight, a per-pixel weight (a path's soft disc). grad: (N, C, h, w)
    float; weight: (h, w) of grad's dtype."""
    grad *= weight


@njit(cache=True)
def _mask(pixels, keep, background):
    n, c, h, w = pixels.shape
    for i in range(n):
        for ch in range(c):
            b = background[ch]
            for y in range(h):
                for x in range(w):
                    if keep[y, x] == 0:
                        pixels[i, ch, y, x] = b


@njit(cache=True, fastmath=True)
def _to_model(pixels, order, scale, shift, out):
    N, C = out.shape[0], out.shape[1]
    for n in range(N):
        for c in range(C):
            src = pixels[n, order[c]]
            dst = out[n, c]
            a, b = scale[c], shift[c]
            for i in range(dst.shape[0]):
                for j in range(dst.shape[1]):
                    dst[i, j] = src[i, j] * a + b


@njit(cache=True)
def _to_pixel_grad(grad, order, scale, out):
    N, C = grad.shape[0], grad.shape[1]
    for n in range(N):
        for c in range(C):
            out[n, order[c]] = grad[n, c] * scale[c]


# fastmath without 'nnan' and 'ninf': the NaN/Inf test below must survive optimisation
@njit(cache=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _ascent(pixels, grad, order, scale, step, lo, hi, norm):
    N, C, H, W = grad.shape
    for n in range(N):
        total = 0.0  # float64 sum: 150k terms of float32 would lose digits
        for c in range(C):
            a = abs(scale[c])
            g = grad[n, c]
            for i in range(H):
                for j in range(W):
                    total += abs(g[i, j]) * a
        mean = total / (C * H * W)
        norm[n] = mean
        if mean == 0.0 or not math.isfinite(mean):
            continue
        k = step / mean
        for c in range(C):
            ka = k * scale[c]  # d pixel = k * g_pix, and g_pix = g * scale
            g = grad[n, c]
            p = pixels[n, order[c]]
            for i in range(H):
                for j in range(W):
                    v = p[i, j] + ka * g[i, j]
                    p[i, j] = min(max(v, lo), hi)
