"""lucid's decorrelated Fourier parameterization, forward to pixels and backward to the spectrum,
on the CPU (the formula is classviz/fourier.py's docstring):

    pixels = 255 * sigmoid(colour @ irfft2(S * scale))

The CPU computes the transforms with NumPy's FFT (pocketfft) in the images' precision (complex64
for float32 images: three times faster than complex128, and far inside float32's rounding). The backward uses that
the adjoint of irfft2 is c_k / (H W) * rfft2, c_k = 1 for the columns that a real transform holds
once (frequency 0, and W/2 when W is even) and 2 for the others (they stand for their conjugates
too): g_S = c_k / (H W) * rfft2(colour^T (g * p (255 - p) / 255)) * scale."""
from typing import NamedTuple

import numpy as np

from ..shared import fourier_back

__all__ = ["prepare", "to_pixels", "backward"]


class Prepared(NamedTuple):
    """What `prepare` makes for one shape: scale (H, Wf) and colour (3, 3), and the (H, Wf) factors
    of the backward (c_k / (H W) * scale), NumPy arrays of the images' dtype."""
    h: int
    w: int
    scale: np.ndarray
    colour: np.ndarray
    back: np.ndarray


def prepare(shape, dtype, scale, colour, asarray):
    """Constants and buffers for images of `shape` (N, 3, H, W) and `dtype`: scale (H, W//2 + 1) and
    colour (3, 3), host float64 arrays (classviz.fourier.scale(H, W), .COLOUR); asarray: the
    backend's. Returns a Prepared."""
    h, w = shape[2:]
    return Prepared(h, w, np.asarray(scale, dtype), np.asarray(colour, dtype), fourier_back(scale, h, w).astype(dtype))


def to_pixels(spectrum, fp, pixels):
    """pixels = 255 * sigmoid(colour @ irfft2(spectrum * scale)). spectrum: (N, 3, 2, H, W//2 + 1);
    fp: prepare's for pixels' shape; pixels: (N, 3, H, W), spectrum's float dtype."""
    y = np.fft.irfft2((spectrum[:, :, 0] + 1j * spectrum[:, :, 1]) * fp.scale, s=(fp.h, fp.w))
    z = np.einsum("ij,njhw->nihw", fp.colour, y)
    np.clip(z, -80.0, 80.0, out=z)  # exp stays finite in float32; the sigmoid is 0 or 1 there to float32 anyway
    pixels[...] = 255.0 / (1.0 + np.exp(-z))


def backward(g, pixels, fp, gs):
    """gs = the gradient with respect to the spectrum of sum(g * pixels), pixels = to_pixels(it).
    g, pixels: (N, 3, H, W); fp: prepare's; gs: (N, 3, 2, H, W//2 + 1), one float dtype."""
    p = pixels
    gz = g * p * (255.0 - p) / 255.0  # d(255 sigmoid(z))/dz = p (255 - p) / 255
    gy = np.einsum("ij,nihw->njhw", fp.colour, gz)
    s = np.fft.rfft2(gy) * fp.back
    gs[:, :, 0] = s.real
    gs[:, :, 1] = s.imag
