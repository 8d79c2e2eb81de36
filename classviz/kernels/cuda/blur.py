"""Separable Gaussian blur on the GPU (blur.cu); CPU twin kernels/cpu/blur.py; `radius` and
`taps` are kernels/shared.py's (computed on the host in float64, like scipy)."""
import numpy as np

from ..shared import radius, taps
from .source import i32, kernel, launch

__all__ = ["radius", "taps", "work_size", "forward"]


def work_size(shape, r):
    """Scratch elements `forward` needs for images of `shape` (N, C, H, W): one row-pass image."""
    return int(np.prod(shape))


def forward(x, weights, work):
    """Blur x in place along H and W of every (n, c) plane with the separable kernel `weights`.

    x: (N, C, H, W) contiguous CuPy array; weights: (2r+1,) float32 CuPy array (zeros past the
    current radius are fine); work: scratch of work_size(x.shape, r) elements of x's dtype."""
    planes, (h, w) = x.shape[0] * x.shape[1], x.shape[2:]
    args = (weights, i32(weights.shape[0]), np.int64(planes), i32(h), i32(w))
    launch(kernel("blur", "blur_rows", x.dtype), x.size, (x, work, *args))
    launch(kernel("blur", "blur_cols", x.dtype), x.size, (x, work, *args))
