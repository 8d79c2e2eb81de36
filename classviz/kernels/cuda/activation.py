"""Pointwise activations on the GPU (activation.cu); the CPU twin is kernels/cpu/activation.py,
which says what `kind`, alpha and beta mean."""
import numpy as np

from .source import batch_stride, i32, kernel, launch


def forward(x, kind, alpha, beta, y):
    """y = f(x). x, y: (N, ...) same shape and dtype, each contiguous per image; kind: int index
    into ACTIVATIONS; alpha, beta: floats."""
    inner, t = int(np.prod(x.shape[1:])), x.dtype.type
    launch(kernel("activation", "activation_forward", x.dtype), x.shape[0] * inner,
           (x, y, np.int64(x.shape[0]), np.int64(inner), batch_stride(x), batch_stride(y), i32(kind), t(alpha),
            t(beta)))


def backward(x, y, gy, kind, alpha, beta, gx, accumulate):
    """gx = gy * f'(x), or gx += that; x, y: the forward's input and output; gx may be gy."""
    inner, t = int(np.prod(x.shape[1:])), x.dtype.type
    launch(kernel("activation", "activation_backward", x.dtype), x.shape[0] * inner,
           (x, y, gy, gx, np.int64(x.shape[0]), np.int64(inner), batch_stride(x), batch_stride(y),
            batch_stride(gy), batch_stride(gx), i32(kind), t(alpha), t(beta), i32(accumulate)))
