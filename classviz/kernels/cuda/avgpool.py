"""Average pooling on the GPU (avgpool.cu); the CPU twin is kernels/cpu/avgpool.py."""
from .source import batch_stride, i32, kernel, launch


def _geom(win, include_pad):
    return tuple(i32(v) for v in (win.H, win.W, win.Ho, win.Wo, win.kh, win.kw, win.sh, win.sw, win.pt, win.pl,
                                  win.pb, win.pr, include_pad))


def forward(x, win, include_pad, y):
    """x: (N, C, H, W) contiguous; win: geometry.Window; include_pad: bool (ONNX
    count_include_pad); y: (N, C, Ho, Wo) output, contiguous per image."""
    n, c = x.shape[:2]
    launch(kernel("avgpool", "avgpool_forward", x.dtype), n * c * win.Ho * win.Wo,
           (x, y, i32(n), i32(c), *_geom(win, include_pad), batch_stride(y)))


def backward(gy, win, include_pad, gx, accumulate):
    """Adjoint of `forward`: gx overwritten unless accumulate. gy contiguous per image."""
    n, c = gx.shape[:2]
    launch(kernel("avgpool", "avgpool_backward", gx.dtype), gx.size,
           (gy, gx, i32(n), i32(c), *_geom(win, include_pad), batch_stride(gy), i32(accumulate)))


def global_forward(x, y):
    """y[n, c, 0, 0] = mean of x[n, c]. x: (N, C, H, W) contiguous; y: (N, C, 1, 1)."""
    n, c = x.shape[:2]
    kernel("avgpool", "global_avgpool_forward", x.dtype)((n * c,), (256,),  # one block per plane
                                                         (x, y, i32(c), i32(x.shape[2] * x.shape[3]), batch_stride(y)))


def global_backward(gy, gx, accumulate):
    """gx[n, c] = gy[n, c, 0, 0] / (H*W) everywhere, or += that."""
    n, c = gx.shape[:2]
    launch(kernel("avgpool", "global_avgpool_backward", gx.dtype), gx.size,
           (gy, gx, i32(n), i32(c), i32(gx.shape[2] * gx.shape[3]), batch_stride(gy), i32(accumulate)))
