"""Max pooling on the GPU (maxpool.cu); the CPU twin is kernels/cpu/maxpool.py, same signatures."""
from math import inf

from ...errors import ArgumentError
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


def backward(gy, win, gx, argmax, accumulate, y=None, cap=inf):
    """gx = sum of gy over the windows each input won, or gx += that. gy: (N, C, Ho, Wo)
    contiguous per image; gx: (N, C, H, W) contiguous; argmax from `forward`; y, cap: the
    forward's output, when each window's gradient goes back times (0 < y < cap), the mask of the
    activation before the pool (only written, not accumulated), as the CPU twin."""
    if y is not None and accumulate:
        raise ArgumentError("a pool masks only a gradient it writes alone")
    n, c = gx.shape[:2]
    ys = gy if y is None else y  # no mask: gy stands in (read-only, never read)
    launch(kernel("maxpool", "maxpool_backward", gx.dtype), gx.size,
           (gy, argmax, ys, gx, i32(n), i32(c), *_geom(win), batch_stride(gy), batch_stride(ys), i32(accumulate),
            i32(y is not None), i32(cap != inf), gx.dtype.type(cap)))
