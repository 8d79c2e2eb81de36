"""Per-element affine map on the GPU with CuPy's elementwise ops (broadcast over the batch).
CPU twin: kernels/cpu/affine.py. Only torchvision's input prologue uses it, which runs outside
the hot loop's captured graph when it accumulates (gx += gy*scale makes a temporary)."""
import cupy


def forward(x, scale, shift, y):
    """y = x*scale + shift. x, y: (N, ...) same shape; scale, shift: broadcastable against x[0]."""
    cupy.multiply(x, scale, out=y)
    y += shift


def backward(gy, scale, gx, accumulate):
    """gx = gy*scale, or gx += that."""
    if accumulate:
        gx += gy * scale
    else:
        cupy.multiply(gy, scale, out=gx)
