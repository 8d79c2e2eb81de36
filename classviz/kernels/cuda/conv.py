"""Convolution on the GPU: forward (+bias, +ReLU) and backward to the input (dgrad) through cuDNN
(see cudnn.py for why a binding of our own), the bias and ReLU in one pass of conv.cu.

The ladder: cuDNN for every 2-D convolution, grouped and depthwise ones included. cuDNN takes one
pad per axis, applied on both sides; a layer with asymmetric pads (what a folded `Pad` before a
stride-2 convolution leaves, e.g. (0, 0, 1, 1)) convolves a padded copy of its input (conv.cu's
pad_copy) with no padding, and crops its dgrad back (unpad_add). Descriptors and algorithms are chosen once per (input shape, output
strides) on first use, which the renderer does before it captures a CUDA graph: cudnnFind...Ex
times the candidates that fit the workspace, and `cudnn.pick` takes the fastest deterministic one
in both directions (a replay gives the same bits), at fp32 and float64 excluding FFT and Winograd
algorithms (their rounding is not a direct sum's, and it would compound over the network's
layers); where none qualifies, the fastest that runs, with one Notice. The dgrad accumulates with
cuDNN's own beta = 1.

Precision of float32 layers (float64 ones always run in float64):
- 'fp32': true float32 arithmetic (cuDNN's FMA math: no tensor cores);
- 'tf32': float32 data, tensor cores allowed, which read x and w with a 10-bit mantissa (TF32)
  and accumulate in float32;
- 'bf16': cuDNN convolves bfloat16 copies of x (or of the masked gradient), w and the output
  (float accumulation); conv.cu's kernels round the float32 arrays into dense bf16 scratch and
  back, fusing the bias and ReLU, or the ReLU mask, into those passes. The network's own arrays
  stay float32.
"""
import ctypes
import warnings
from typing import NamedTuple

import numpy as np

from ...errors import ArgumentError, Notice
from ..shared import PRECISIONS
from . import device
from ..shared import CLIP, fused_activation
from .activation import backward as activation_backward
from .relu import backward as relu_backward  # a module named relu would hide behind the relu flags
from .source import batch_stride, i32, i64, kernel, launch

_ALIGN = 128  # elements: each bf16 scratch tensor starts 256 bytes in


class ConvWeights(NamedTuple):
    """A layer's weights on the GPU. w: (Cout, Cin/group, kh, kw), as float32/float64 or (bf16) as
    uint16 bfloat16 bit patterns; b: (Cout,); win: geometry.Window; group: int; cin: input
    channels; dtype: cuDNN data type of the tensors cuDNN sees (FLOAT, DOUBLE or BFLOAT16); math:
    cuDNN math type; filt,
    conv: cuDNN descriptors; found: {key: (descriptors, algorithm)} filled on first use; pad:
    (top, left, bottom, right) of an asymmetrically padded layer (cuDNN then sees a padded copy of
    the input, with no padding), else None."""
    w: object
    b: object
    win: object
    group: int
    cin: int
    dtype: int
    math: int
    filt: object
    conv: object
    found: dict
    pad: tuple = None


def prepare(w, b, win, group, asarray, precision="fp32"):
    """Upload weights w (Cout, Cin/group, kh, kw) and bias b (Cout,) (NumPy, final dtype) and build
    the layer's cuDNN descriptors; precision: 'fp32', 'tf32' or 'bf16' (see the module docstring;
    float64 weights always compute in float64). Returns ConvWeights. Raises ArgumentError for an
    unknown precision."""
    pad = None
    if (win.pt, win.pl) != (win.pb, win.pr):
        pad = (win.pt, win.pl, win.pb, win.pr)
    if precision not in PRECISIONS:
        raise ArgumentError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if w.dtype == np.float64:
        dt, compute, math, wdev = _dnn().DOUBLE, _dnn().DOUBLE, _dnn().FMA_MATH, asarray(w)
    elif precision == "bf16":
        dt, compute, math, wdev = _dnn().BFLOAT16, _dnn().FLOAT, _dnn().TENSOR_OP_MATH, asarray(bf16_bits(w))
    else:
        math = _dnn().DEFAULT_MATH if precision == "tf32" else _dnn().FMA_MATH
        dt, compute, wdev = _dnn().FLOAT, _dnn().FLOAT, asarray(w)
    conv = _dnn().Convolution(compute, (0, 0) if pad else (win.pt, win.pl), (win.sh, win.sw), (win.dh, win.dw),
                              group, math)
    return ConvWeights(wdev, asarray(b), win, group, w.shape[1] * group, dt, math, _dnn().Filter(dt, w.shape), conv,
                       {}, pad)


def bf16_bits(a):
    """NumPy float32 array `a` rounded to bfloat16 (nearest, ties to even), as uint16 bit patterns
    of a's shape: what conv.cu's cv_to_bf16 computes on the GPU."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def work_size(cw, n):
    """Scratch elements (of the layer's float dtype) at batch n: the cuDNN workspace (a fixed
    budget, whatever n: algorithms are chosen within it), then for bf16 the dense bfloat16 copies
    of the layer's input and output, then for an asymmetrically padded layer its padded input."""
    size = device.get().workspace_bytes // np.dtype(cw.b.dtype).itemsize
    if cw.dtype == _dnn().BFLOAT16:
        nx, ny = _elems(cw, n)
        size += _up((_up(nx) + ny + 1) // 2)
    if cw.pad:
        size += _elems(cw, n)[0]
    return size


def _in_hw(cw):
    # the input's H, W as cuDNN sees it: padded where the layer pads asymmetrically
    win, p = cw.win, cw.pad
    return (win.H, win.W) if p is None else (win.H + p[0] + p[2], win.W + p[1] + p[3])


def _elems(cw, n):
    h, w = _in_hw(cw)
    return n * cw.cin * h * w, n * cw.w.shape[0] * cw.win.Ho * cw.win.Wo


def _up(k):
    return -(-k // _ALIGN) * _ALIGN


def _split_work(cw, work, n):
    # (cuDNN workspace, bf16 scratch shaped as the input, bf16 scratch shaped as the output,
    # padded input or its gradient); None for the parts the layer does not use
    ws = work[:device.get().workspace_bytes // work.itemsize]
    win, (h, w), nx, ny = cw.win, _in_hw(cw), *_elems(cw, n)
    xs = ys = padded = None
    end = ws.size
    if cw.dtype == _dnn().BFLOAT16:
        bits = work[end:].view(np.uint16)
        xs = bits[:nx].reshape(n, cw.cin, h, w)
        ys = bits[_up(nx):_up(nx) + ny].reshape(n, cw.w.shape[0], win.Ho, win.Wo)
        end += _up((_up(nx) + ny + 1) // 2)
    if cw.pad:
        padded = work[end:end + nx].reshape(n, cw.cin, h, w)
    return ws, xs, ys, padded


def _pad_args(cw, x, xp):
    n, c, hh, ww = x.shape
    return (np.int64(n), i32(c), i32(hh), i32(ww), i32(cw.pad[0]), i32(cw.pad[1]), i32(xp.shape[2]), i32(xp.shape[3]))


def mask_gradient(relu_out, gy, cap):
    """In place: gy *= (0 < y < cap), y = relu_out, the derivative of the fused activation (the
    CPU twin's, on relu.cu and activation.cu)."""
    if cap == np.inf:
        relu_backward(relu_out, gy, gy, False)
    else:
        activation_backward(relu_out, relu_out, gy, CLIP, 0.0, cap, gy, False)


def _to_bf16(x, out, mask=None, cap=np.inf):
    # out (dense uint16) = bf16(x), or bf16(x * (0 < mask < cap))
    n, inner = x.shape[0], int(np.prod(x.shape[1:]))
    m = x if mask is None else mask
    launch(kernel("conv", "to_bf16", x.dtype), n * inner,
           (x, m, out, i64(n), i64(inner), batch_stride(x), batch_stride(m), i32(mask is not None),
            x.dtype.type(cap)))


def _tensor(cw, a, bs):
    n, c, h, w = a.shape
    return _dnn().Tensor(cw.dtype, (n, c, h, w), (int(bs), h * w, w, 1))


_told = set()


def _pick(cw, perfs, count, space, direction):
    # exact: true fp32 and float64 layers take no FFT or Winograd algorithm (see cudnn.pick)
    exact = cw.dtype == _dnn().DOUBLE or (cw.dtype == _dnn().FLOAT and cw.math == _dnn().FMA_MATH)
    return _dnn().pick(perfs, count.value, space.nbytes, direction, exact)


def _tell(cw, why):
    if why and why.split(";")[0] not in _told:  # once per kind, not once per layer
        _told.add(why.split(";")[0])
        warnings.warn(f"cuDNN: {why} (a layer {tuple(cw.w.shape)}, groups {cw.group})", Notice, stacklevel=3)


def _run(cw, key, direction, call):
    """call(algo) with the first of the layer's algorithms for `key` that the call takes: cuDNN can
    refuse at the call (cudnn.REFUSALS, before any launch) an algorithm its Find ran; the next one
    is then used from here on, and said once."""
    d1, d2, algos = cw.found[key]
    while True:
        algo, why = algos[0]
        _tell(cw, why)
        try:
            return call(d1, d2, algo)
        except _dnn().CudnnError as e:
            if e.status not in _dnn().REFUSALS or len(algos) == 1:
                raise
            algos = algos[1:]
            cw.found[key] = (d1, d2, algos)
            _tell(cw, f"{direction} algo {algo} refused at the call ({e}); using algo {algos[0][0]}")


def _ptr(a):
    return device.get().pointer(a)


def _dnn():
    return device.get().cudnn  # the cuDNN binding of the device in use


def _handle():
    dev = device.get()
    return dev.cudnn.handle(dev.xp.cuda.get_current_stream().ptr)


def forward(x, cw, y, relu, work, residual=None):
    """y = conv(x, w) + b (+ residual), then the fused activation (relu: False, True or a cap c
    for min(max(., 0), c), as the CPU twin).

    x: (N, Cin, H, W), contiguous per image (may be a channel slice of merged siblings' output);
    cw: ConvWeights from `prepare`; y: (N, Cout, Ho, Wo), contiguous per image (may be a channel
    slice of a concat output); relu: False, True or a float; work: 1-D scratch of
    work_size(cw, N) elements; residual: None, or y's shape, contiguous per image, added before
    the activation in the same pass as the bias (a residual Add folded into this layer). CuPy
    arrays, all float32 or all float64."""
    on, cap = fused_activation(relu)
    space, xs, ys, padded = _split_work(cw, work, x.shape[0])
    if padded is not None:
        launch(kernel("conv", "pad_copy", x.dtype), padded.size, (x, padded, *_pad_args(cw, x, padded), batch_stride(x)))
        x = padded
    n, c = y.shape[:2]
    hw = y.shape[2] * y.shape[3]
    # no residual: the bias stands in for it (read-only, never read)
    res, res_bs = (cw.b, np.int64(0)) if residual is None else (residual, batch_stride(residual))
    tail = (np.int64(n), i32(c), np.int64(hw), batch_stride(y), res_bs, i32(residual is not None), i32(on),
            y.dtype.type(cap))
    if xs is None:
        _convolve(cw, x, y, space)
        launch(kernel("conv", "bias_act", y.dtype), n * c * hw, (y, cw.b, res, *tail))
    else:
        _to_bf16(x, xs)
        _convolve(cw, xs, ys, space)
        launch(kernel("conv", "bf16_bias_act", y.dtype), n * c * hw, (ys, cw.b, res, y, *tail))


def _convolve(cw, x, y, space):
    xbs, ybs = batch_stride(x), batch_stride(y)
    h = _handle()
    key = ("fwd", x.shape, int(xbs), int(ybs))
    if key not in cw.found:
        xd, yd = _tensor(cw, x, xbs), _tensor(cw, y, ybs)
        perfs, count = (_dnn().Perf * 8)(), ctypes.c_int()
        _dnn().call("cudnnFindConvolutionForwardAlgorithmEx", h, xd.ptr, _ptr(x), cw.filt.ptr, _ptr(cw.w),
                   cw.conv.ptr, yd.ptr, _ptr(y), 8, ctypes.byref(count), perfs, _ptr(space),
                   ctypes.c_size_t(space.nbytes))
        cw.found[key] = (xd, yd, _pick(cw, perfs, count, space, "forward"))
    _run(cw, key, "forward", lambda xd, yd, algo: _dnn().call(
        "cudnnConvolutionForward", h, _dnn().scalar(cw.dtype, 1.0), xd.ptr, _ptr(x), cw.filt.ptr, _ptr(cw.w),
        cw.conv.ptr, algo, _ptr(space), ctypes.c_size_t(space.nbytes), _dnn().scalar(cw.dtype, 0.0), yd.ptr, _ptr(y)))


def masks_input(cw, accumulate=False):
    """False: cuDNN's dgrad cannot take a mask, so an input mask (`backward`'s x, x_relu) would be
    a pass of its own here, no cheaper than the producing layer's own."""
    return False


def backward(gy, cw, gx, accumulate, work, relu_out=None, relu=True, x=None, x_relu=False):
    """gx = d(conv)/dx applied to gy (cuDNN dgrad), or gx += that.

    gy: (N, Cout, Ho, Wo), contiguous per image; cw: ConvWeights; gx: (N, Cin, H, W), contiguous
    per image (may be a channel slice); accumulate: bool; work: as for `forward`; relu_out: None,
    or the forward's output y when it ran with a fused activation: gy * (0 < y < cap) goes back
    (at fp32 and tf32 written into gy first, as dgrad cannot take the mask; at bf16 fused into the
    rounding); relu: that activation, as `forward` took it; x, x_relu: the layer's input and the
    activation fused into the layer that produced it (False: none): gx (the sum, when
    accumulating) is then multiplied by (0 < x < x_cap) after the dgrad, as on the CPU."""
    on_x, x_cap = fused_activation(x_relu)
    if on_x and x is None:
        raise ArgumentError("an input mask needs the input")
    _backward(gy, cw, gx, accumulate, work, relu_out, relu)
    if on_x:
        mask_gradient(x, gx, x_cap)


def _backward(gy, cw, gx, accumulate, work, relu_out, relu):
    cap = fused_activation(relu)[1]
    space, xs, ys, padded = _split_work(cw, work, gy.shape[0])
    target, acc = (gx, accumulate) if padded is None else (padded, False)
    if xs is not None:
        _to_bf16(gy, ys, relu_out, cap)
        _dgrad(cw, ys, xs, False, space)
        inner = int(np.prod(target.shape[1:]))
        launch(kernel("conv", "bf16_add", gx.dtype), target.shape[0] * inner,
               (xs, target, np.int64(target.shape[0]), np.int64(inner), batch_stride(target), i32(acc)))
    else:
        if relu_out is not None:
            mask_gradient(relu_out, gy, cap)
        _dgrad(cw, gy, target, acc, space)
    if padded is not None:
        launch(kernel("conv", "unpad_add", gx.dtype), gx.size,
               (padded, gx, *_pad_args(cw, gx, padded), batch_stride(gx), i32(accumulate)))


def _dgrad(cw, gy, gx, accumulate, space):
    dev = device.get()
    gbs, xbs = batch_stride(gy), batch_stride(gx)
    h = _handle()
    key = ("bwd", gx.shape, int(gbs), int(xbs))
    if key not in cw.found:
        dyd, dxd = _tensor(cw, gy, gbs), _tensor(cw, gx, xbs)
        # the search writes its output: never into a gradient we accumulate on; as large as gx's
        # strided layout, which a channel slice spreads over more than gx.size elements
        scratch = dev.xp.empty(int(xbs) * gx.shape[0], gx.dtype)
        perfs, count = (_dnn().Perf * 8)(), ctypes.c_int()
        _dnn().call("cudnnFindConvolutionBackwardDataAlgorithmEx", h, cw.filt.ptr, _ptr(cw.w), dyd.ptr, _ptr(gy),
                   cw.conv.ptr, dxd.ptr, _ptr(scratch), 8, ctypes.byref(count), perfs, _ptr(space),
                   ctypes.c_size_t(space.nbytes))
        cw.found[key] = (dyd, dxd, _pick(cw, perfs, count, space, "dgrad"))
    _run(cw, key, "dgrad", lambda dyd, dxd, algo: _dnn().call(
        "cudnnConvolutionBackwardData", h, _dnn().scalar(cw.dtype, 1.0), cw.filt.ptr, _ptr(cw.w), dyd.ptr, _ptr(gy),
        cw.conv.ptr, algo, _ptr(space), ctypes.c_size_t(space.nbytes),
        _dnn().scalar(cw.dtype, 1.0 if accumulate else 0.0), dxd.ptr, _ptr(gx)))
