"""Max pooling on the GPU (maxpool.cu); the CPU twin is kernels/cpu/maxpool.py, same signatures."""
from .source import batch_stride, i32, kernel, launch


def _geom(win):
    return tuple(i32(v) for v in (win.H, win.W, win.Ho, win.Wo, win.kh, win.kw, win.sh, win.sw, win.pt, win.pl))


def work_size(win, channels):
    """Scratch elements `forward` needs: none on the GPU (one thread per output reads its window)."""
    return 0


def forward(x, win, y, argmax, work):
    """x: (N, C, H, W) contiguous; win: geometry.Window; y: (N, C, Ho, Wo) output, contiguous per
    image; argmax: (N, C, Ho, Wo) int32 output (flat index of the winner in its plane); work:
    unused (the CPU twin's scratch)."""
    n, c = x.shape[:2]
    launch(kernel("maxpool", "maxpool_forward", x.dtype), n * c * win.Ho * win.Wo,
           (x, y, argmax, i32(n), i32(c), *_geom(win), batch_stride(y)))


def backward(gy, win, gx, argmax, accumulate):
    """gx = sum of gy over the windows each input won, or gx += that. gy: (N, C, Ho, Wo)
    contiguous per image; gx: (N, C, H, W) contiguous; argmax from `forward`."""
    n, c = gx.shape[:2]
    launch(kernel("maxpool", "maxpool_backward", gx.dtype), gx.size,
           (gy, argmax, gx, i32(n), i32(c), *_geom(win), batch_stride(gy), i32(accumulate)))
