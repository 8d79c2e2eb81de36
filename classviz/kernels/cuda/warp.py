"""A random rotation, scale and shift per image and its exact adjoint on the GPU (warp.cu); CPU
twin kernels/cpu/warp.py, same signatures (the passes and their formulas are described there)."""
from .source import i32, kernel, launch

__all__ = ["forward", "backward"]


def forward(x, params, work, y):
    """y = the four passes of `params` applied to x. x, work, y: (N, C, H, W) contiguous CuPy arrays
    of one float dtype, distinct; params: (N, 4, 3) float64 CuPy array. Passes 0 and 2 run along rows."""
    n, c, h, w = x.shape
    for k, (src, dst) in enumerate(((x, work), (work, y), (y, work), (work, y))):
        launch(kernel("warp", "warp_pass", x.dtype), x.size,
               (src, params, dst, i32(n), i32(c), i32(h), i32(w), i32(k), i32(k % 2 == 0)))


def backward(gy, params, work, gx):
    """gx = the adjoint of `forward` applied to gy (left as it was). Arguments as in `forward`."""
    n, c, h, w = gy.shape
    for k, (src, dst) in zip((3, 2, 1, 0), ((gy, work), (work, gx), (gx, work), (work, gx))):
        launch(kernel("warp", "warp_adjoint", gy.dtype), gy.size,
               (src, params, dst, i32(n), i32(c), i32(h), i32(w), i32(k), i32(k % 2 == 0)))
