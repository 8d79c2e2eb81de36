"""Per-element affine map on the GPU (affine.cu); CPU twin kernels/cpu/affine.py, same signatures.
Used by torchvision's input prologue and BatchNormalization with no Conv before it."""
import numpy as np

from .source import batch_stride, i32, kernel, launch


def forward(x, scale, shift, y):
    """y = x*scale + shift. x, y: (N, ...) same shape, each contiguous per image; scale, shift:
    contiguous, of x[0]'s shape (graph.ops.Affine broadcasts them once)."""
    inner = int(np.prod(x.shape[1:]))
    launch(kernel("affine", "affine_forward", x.dtype), x.shape[0] * inner,
           (x, scale, shift, y, np.int64(x.shape[0]), np.int64(inner), batch_stride(x), batch_stride(y)))


def backward(gy, scale, gx, accumulate):
    """gx = gy*scale, or gx += that. gy, gx: (N, ...), each contiguous per image; scale as in `forward`."""
    inner = int(np.prod(gy.shape[1:]))
    launch(kernel("affine", "affine_backward", gy.dtype), gy.shape[0] * inner,
           (gy, scale, gx, np.int64(gy.shape[0]), np.int64(inner), batch_stride(gy), batch_stride(gx),
            i32(accumulate)))
