"""Sum of two activations on the GPU (add.cu); the CPU twin is kernels/cpu/add.py."""
import numpy as np

from .source import batch_stride, i32, kernel, launch


def forward(a, b, y, relu):
    """y = a + b, then max(., 0) when relu. a, b, y: (N, ...) same shape and dtype, each
    contiguous per image."""
    inner = int(np.prod(a.shape[1:]))
    launch(kernel("add", "add_forward", a.dtype), a.shape[0] * inner,
           (a, b, y, np.int64(a.shape[0]), np.int64(inner), batch_stride(a), batch_stride(b), batch_stride(y),
            i32(relu)))


def backward(gy, gx, accumulate, relu_out=None, gx2=None, accumulate2=False):
    """gx = gy (times y > 0 with relu_out, the forward's y after a fused ReLU), or gx += that;
    with gx2 (another buffer) the same to it too, copied or added (accumulate2), in one launch.
    Same shapes, each contiguous per image; gx or gx2 may be gy itself (masked in place)."""
    inner = int(np.prod(gy.shape[1:]))
    y = gy if relu_out is None else relu_out
    two = gx2 is not None
    g2 = gx2 if two else gx
    launch(kernel("add", "add_backward", gy.dtype), gy.shape[0] * inner,
           (gy, y, gx, g2, np.int64(gy.shape[0]), np.int64(inner), batch_stride(gy), batch_stride(y),
            batch_stride(gx), batch_stride(g2), i32(relu_out is not None), i32(accumulate), i32(two),
            i32(accumulate2)))
