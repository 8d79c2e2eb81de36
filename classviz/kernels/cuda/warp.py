"""A random rotation, scale and shift per image and its exact adjoint on the GPU (warp.cu); CPU
twin kernels/cpu/warp.py, same signatures (the passes and their formulas are described there)."""
from .source import i32, kernel, launch

__all__ = ["forward", "backward"]


def forward(x, params, work, y):
    """y = the four passes of `params` applied to x. x, work, y: (N, C, H, W) contiguous CuPy arrays
    of one float dtype, distinct; params: (N, 4, 3) float64 CuPy array."""
    for k, (src, dst) in enumerate(((x, work), (work, y), (y, work), (work, y))):
        _launch("warp_pass", src, params, dst, k)


def backward(gy, params, work, gx):
    """gx = the adjoint of `forward` applied to gy (left as it was). Arguments as in `forward`."""
    for k, (src, dst) in zip((3, 2, 1, 0), ((gy, work), (work, gx), (gx, work), (work, gx))):
        _launch("warp_adjoint", src, params, dst, k)


def _launch(fn, src, params, dst, k):
    n, c, h, w = src.shape
    launch(kernel("warp", fn, src.dtype), src.size,
           (src, params, dst, i32(n), i32(c), i32(h), i32(w), i32(k), i32(k % 2 == 0)))
