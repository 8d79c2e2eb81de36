"""LRN across channels on the GPU (lrn.cu); the CPU twin is kernels/cpu/lrn.py."""
from .source import batch_stride, i32, kernel, launch


def forward(x, size, alpha, beta, bias, y, scale):
    """x: (N, C, H, W) contiguous; size: int; alpha, beta, bias: float; y: output, contiguous per
    image; scale: (N, C, H, W) contiguous output (saved for the backward)."""
    n, c = x.shape[:2]
    t = x.dtype.type
    launch(kernel("lrn", "lrn_forward", x.dtype), x.size,
           (x, y, scale, i32(n), i32(c), i32(x[0, 0].size), i32(size), t(alpha / size), t(beta), t(bias),
            batch_stride(y)))


def backward(gy, x, y, scale, size, alpha, beta, gx, accumulate):
    """gy, y: contiguous per image; x, scale, gx: contiguous; gx overwritten unless accumulate."""
    n, c = x.shape[:2]
    t = x.dtype.type
    launch(kernel("lrn", "lrn_backward", x.dtype), x.size,
           (gy, x, y, scale, gx, i32(n), i32(c), i32(x[0, 0].size), i32(size), t(2.0 * alpha * beta / size), t(beta),
            batch_stride(gy), batch_stride(y), i32(accumulate)))
