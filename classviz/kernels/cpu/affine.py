"""Per-element affine map on the CPU (folded BatchNormalization that had no Conv before it, an
input prologue, a constant Mul/Add): y = x*scale + shift, scale and shift broadcast over the batch."""
import numpy as np


def forward(x, scale, shift, y):
    """x, y: (N, ...) same shape; scale, shift: broadcastable against x[0]."""
    np.multiply(x, scale, out=y)
    y += shift


def backward(gy, scale, gx, accumulate):
    """gx = gy*scale (summed back to x's shape), or gx += that. gy, gx: (N, ...)."""
    if accumulate:
        gx += gy * scale
    else:
        np.multiply(gy, scale, out=gx)
