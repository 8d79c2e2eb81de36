"""Convolution on the GPU: forward (+bias, +ReLU) and backward to the input (dgrad) through cuDNN
(see cudnn.py for why a binding of our own), the bias and ReLU in one pass of conv.cu.

The ladder: cuDNN for every 2-D convolution with symmetric pads (all of GoogLeNet's); asymmetric
pads are refused by name. Descriptors and algorithms are chosen once per (input shape, output
strides) on first use, which the renderer does before it captures a CUDA graph: cudnnFind...Ex
times the candidates that fit the workspace (true fp32 math, deterministic algorithms for dgrad,
so a replay gives the same bits). The dgrad accumulates with cuDNN's own beta = 1.
"""
import ctypes
from typing import NamedTuple

import numpy as np

from ...errors import ArgumentError
from . import cudnn
from .relu import backward as relu_backward  # a module named relu would hide behind the relu flags
from .source import batch_stride, i32, kernel, launch

WORKSPACE_BYTES = 128 << 20


class ConvWeights(NamedTuple):
    """A layer's weights on the GPU. w: (Cout, Cin/group, kh, kw); b: (Cout,); win:
    geometry.Window; group: int; dtype: cudnn data type; filt, conv: cuDNN descriptors; found:
    {key: (descriptors, algorithm)} filled on first use."""
    w: object
    b: object
    win: object
    group: int
    dtype: int
    filt: object
    conv: object
    found: dict


def prepare(w, b, win, group, asarray):
    """Upload weights w (Cout, Cin/group, kh, kw) and bias b (Cout,) (NumPy, final dtype) and build
    the layer's cuDNN descriptors. Returns ConvWeights. Raises ArgumentError for asymmetric pads."""
    if (win.pt, win.pl) != (win.pb, win.pr):
        raise ArgumentError(f"the CUDA backend needs symmetric convolution padding, got {win[4:8]}")
    dt = cudnn.DOUBLE if w.dtype == np.float64 else cudnn.FLOAT
    conv = cudnn.Convolution(dt, (win.pt, win.pl), (win.sh, win.sw), (win.dh, win.dw), group, cudnn.FMA_MATH)
    return ConvWeights(asarray(w), asarray(b), win, group, dt, cudnn.Filter(dt, w.shape), conv, {})


def work_size(cw, n):
    """Scratch elements for the cuDNN workspace at batch n (a fixed budget, whatever n: algorithms
    are chosen within it)."""
    return WORKSPACE_BYTES // np.dtype(cw.w.dtype).itemsize


def _tensor(cw, a, bs):
    n, c, h, w = a.shape
    return cudnn.Tensor(cw.dtype, (n, c, h, w), (int(bs), h * w, w, 1))


def _ptr(a):
    return ctypes.c_void_p(a.data.ptr)


def forward(x, cw, y, relu, work):
    """y = conv(x, w) + b, then max(., 0) when relu.

    x: (N, Cin, H, W), contiguous per image (may be a channel slice of merged siblings' output);
    cw: ConvWeights from `prepare`; y: (N, Cout, Ho, Wo), contiguous per image (may be a channel
    slice of a concat output); relu: bool; work: 1-D scratch of work_size(cw, N) elements. CuPy
    arrays, all float32 or all float64."""
    import cupy
    xbs, ybs = batch_stride(x), batch_stride(y)
    h = cudnn.handle(cupy.cuda.get_current_stream().ptr)
    key = ("fwd", x.shape, int(xbs), int(ybs))
    if key not in cw.found:
        xd, yd = _tensor(cw, x, xbs), _tensor(cw, y, ybs)
        perfs, count = (cudnn.Perf * 8)(), ctypes.c_int()
        cudnn.call("cudnnFindConvolutionForwardAlgorithmEx", h, xd.ptr, _ptr(x), cw.filt.ptr, _ptr(cw.w),
                   cw.conv.ptr, yd.ptr, _ptr(y), 8, ctypes.byref(count), perfs, _ptr(work),
                   ctypes.c_size_t(work.nbytes))
        cw.found[key] = (xd, yd, cudnn.pick(perfs, count.value, work.nbytes, False))
    xd, yd, algo = cw.found[key]
    cudnn.call("cudnnConvolutionForward", h, cudnn.scalar(cw.dtype, 1.0), xd.ptr, _ptr(x), cw.filt.ptr, _ptr(cw.w),
               cw.conv.ptr, algo, _ptr(work), ctypes.c_size_t(work.nbytes), cudnn.scalar(cw.dtype, 0.0), yd.ptr,
               _ptr(y))
    n, c = y.shape[:2]
    hw = y.shape[2] * y.shape[3]
    launch(kernel("conv", "bias_act", y.dtype), n * c * hw,
           (y, cw.b, np.int64(n), i32(c), np.int64(hw), ybs, i32(relu)))


def backward(gy, cw, gx, accumulate, work, relu_out=None):
    """gx = d(conv)/dx applied to gy (cuDNN dgrad), or gx += that.

    gy: (N, Cout, Ho, Wo), contiguous per image; cw: ConvWeights; gx: (N, Cin, H, W), contiguous
    per image (may be a channel slice); accumulate: bool; work: as for `forward`; relu_out: None,
    or the forward's output y when it ran with relu: gy * (y > 0) goes back, written into gy
    first (dgrad cannot take the mask)."""
    import cupy
    if relu_out is not None:
        relu_backward(relu_out, gy, gy, False)
    gbs, xbs = batch_stride(gy), batch_stride(gx)
    h = cudnn.handle(cupy.cuda.get_current_stream().ptr)
    key = ("bwd", gx.shape, int(gbs), int(xbs))
    if key not in cw.found:
        dyd, dxd = _tensor(cw, gy, gbs), _tensor(cw, gx, xbs)
        # the search writes its output: never into a gradient we accumulate on; as large as gx's
        # strided layout, which a channel slice spreads over more than gx.size elements
        scratch = cupy.empty(int(xbs) * gx.shape[0], gx.dtype)
        perfs, count = (cudnn.Perf * 8)(), ctypes.c_int()
        cudnn.call("cudnnFindConvolutionBackwardDataAlgorithmEx", h, cw.filt.ptr, _ptr(cw.w), dyd.ptr, _ptr(gy),
                   cw.conv.ptr, dxd.ptr, _ptr(scratch), 8, ctypes.byref(count), perfs, _ptr(work),
                   ctypes.c_size_t(work.nbytes))
        cw.found[key] = (dyd, dxd, cudnn.pick(perfs, count.value, work.nbytes, True))
    dyd, dxd, algo = cw.found[key]
    cudnn.call("cudnnConvolutionBackwardData", h, cudnn.scalar(cw.dtype, 1.0), cw.filt.ptr, _ptr(cw.w), dyd.ptr,
               _ptr(gy), cw.conv.ptr, algo, _ptr(work), ctypes.c_size_t(work.nbytes),
               cudnn.scalar(cw.dtype, 1.0 if accumulate else 0.0), dxd.ptr, _ptr(gx))
