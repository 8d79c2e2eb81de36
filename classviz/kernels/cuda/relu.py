"""ReLU on the GPU (relu.cu); the CPU twin is kernels/cpu/relu.py."""
import numpy as np

from .source import batch_stride, i32, kernel, launch


def forward(x, y):
    """y = max(x, 0). x, y: (N, ...) same shape and dtype, each contiguous per image; y may be x."""
    inner = int(np.prod(x.shape[1:]))
    launch(kernel("relu", "relu_forward", x.dtype), x.shape[0] * inner,
           (x, y, np.int64(x.shape[0]), np.int64(inner), batch_stride(x), batch_stride(y)))


def backward(y, gy, gx, accumulate):
    """gx = gy * (y > 0), or gx += that. Same shapes, each contiguous per image; gx may be gy."""
    inner = int(np.prod(y.shape[1:]))
    launch(kernel("relu", "relu_backward", y.dtype), y.shape[0] * inner,
           (y, gy, gx, np.int64(y.shape[0]), np.int64(inner), batch_stride(y), batch_stride(gy), batch_stride(gx),
            i32(accumulate)))
