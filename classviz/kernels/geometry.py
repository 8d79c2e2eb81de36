"""Output sizes and window geometry, shared by the CPU and CUDA kernels and by graph shape inference.

Pads are ONNX-ordered (top, left, bottom, right). Pool output sizes follow ONNX/PyTorch: with
ceil_mode the size rounds up, but a last window that would start inside the end padding is dropped.
"""
from typing import NamedTuple


def conv_out(size, k, stride, pad_begin, pad_end, dilation=1):
    """Output length (int) of a convolution along one axis; may be <= 0 for a too-small input."""
    return (size + pad_begin + pad_end - dilation * (k - 1) - 1) // stride + 1


def pool_out(size, k, stride, pad_begin, pad_end, ceil_mode):
    """Output length (int) of a pooling window along one axis, ONNX semantics."""
    span = size + pad_begin + pad_end - k
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


class Window(NamedTuple):
    """A 2-D sliding window over an (N, C, H, W) input producing (N, C', Ho, Wo).

    kh, kw: kernel; sh, sw: strides; pt, pl, pb, pr: pads (top, left, bottom, right); dh, dw:
    dilations; H, W: input size; Ho, Wo: output size."""
    kh: int
    kw: int
    sh: int
    sw: int
    pt: int
    pl: int
    pb: int
    pr: int
    dh: int
    dw: int
    H: int
    W: int
    Ho: int
    Wo: int


def conv_window(kernel, strides, pads, dilations, H, W):
    """The `Window` of a convolution over an H x W input (ints and 2-tuples, pads as 4-tuple)."""
    kh, kw = kernel
    sh, sw = strides
    pt, pl, pb, pr = pads
    dh, dw = dilations
    return Window(kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, H, W,
                  conv_out(H, kh, sh, pt, pb, dh), conv_out(W, kw, sw, pl, pr, dw))


def pool_window(kernel, strides, pads, ceil_mode, H, W):
    """The `Window` of a pooling layer over an H x W input."""
    kh, kw = kernel
    sh, sw = strides
    pt, pl, pb, pr = pads
    return Window(kh, kw, sh, sw, pt, pl, pb, pr, 1, 1, H, W,
                  pool_out(H, kh, sh, pt, pb, ceil_mode), pool_out(W, kw, sw, pl, pr, ceil_mode))
