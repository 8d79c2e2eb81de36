"""cuDNN's convolution calls and cuBLAS's GEMM, done by NumPy on the host, so that the Python of
kernels/cuda/conv.py and gemm.py (descriptors, strides, alpha and beta, the scratch layout, the
tf32 and bf16 paths) runs in CI under tests/support/cuda_host.py, which has no GPU.

`cudnn()` is the real binding module (kernels/cuda/cudnn.py: its constants, Perf, pick) with the
calls that need a device replaced. Descriptors record what conv.py set. A convolution call reads
its tensors from memory through its descriptors' shapes and strides, as cuDNN does, so a wrong
stride reads or writes the wrong elements here too; every tensor must lie inside one array that
cuda_host allocated (AssertionError otherwise). The arithmetic is a direct float64 sum over the
taps (no code shared with either backend's convolution), then stored as the GPU would round it:
- float data, FMA math: rounded once to float32;
- float data, DEFAULT math (precision 'tf32'): x and w first rounded to a 10-bit mantissa, as
  the tensor cores read them;
- bfloat16 data: read from and written as 16-bit patterns, rounded to nearest even.
The Find calls report one algorithm and, like cuDNN's, write junk (NaN) into their output.

What it cannot tell: whether the real cuDNN accepts a configuration and how fast it runs (the GPU
tests and tests/test_cudnn_binding.py), or the exact bits of its float32 sums."""
import bisect
import ctypes
import importlib.util
import os
import types

import numpy as np

from . import cuda_host


def _real():
    spec = importlib.util.spec_from_file_location("classviz_cudnn_binding", os.path.join(cuda_host.DIR, "cudnn.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Desc:
    @property
    def ptr(self):
        return self


class Tensor(_Desc):
    def __init__(self, dtype, shape, strides):
        self.dtype, self.shape, self.strides = dtype, tuple(shape), tuple(strides)


class Filter(_Desc):
    def __init__(self, dtype, shape):
        k, c, h, w = shape
        self.dtype, self.shape, self.strides = dtype, tuple(shape), (c * h * w, h * w, w, 1)


class Convolution(_Desc):
    def __init__(self, dtype, pads, strides, dilations, groups, math):
        self.compute, self.pads, self.strides, self.dilations = dtype, pads, strides, dilations
        self.groups, self.math = groups, math


def cudnn():
    """The fake binding module (see the module docstring)."""
    m = types.ModuleType("cudnn_on_host")
    real = _real()
    m.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    m.Tensor, m.Filter, m.Convolution = Tensor, Filter, Convolution
    m.handle = lambda stream_ptr: None
    m.scalar = lambda dtype, v: float(v)
    m.call = lambda name, *args: _call(m, name, *args)
    return m


REFUSED = {}  # {call name: algorithms that call refuses with BAD_PARAM, as cuDNN can after its Find ran them}


def _call(m, name, *args):
    # a Find call times real launches and writes junk into its output: CUDA refuses it under capture
    if name.startswith("cudnnFind"):
        cuda_host.DEVICE.refuse(name)
    elif args[7] in REFUSED.get(name, ()):  # the algo argument of both convolution calls
        raise m.CudnnError(f"{name} failed: CUDNN_STATUS_BAD_PARAM ({m.BAD_PARAM})", m.BAD_PARAM)
    _CALLS[name](m, *args)


def pointer(a):
    """The device pointer conv.py passes for array `a`: here its host address."""
    return ctypes.c_void_p(a.ctypes.data)


# --- rounding -----------------------------------------------------------------------------------

def _rounded_bits(a, drop):
    # float32 bit patterns of `a` with the lowest `drop` mantissa bits rounded off (nearest, ties to even)
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return (((u + (1 << (drop - 1)) - 1 + ((u >> drop) & 1)) >> drop) << drop).astype(np.uint32)


def bf16(a):
    """float64 values of `a` rounded to bfloat16 (through float32; 7 mantissa bits kept)."""
    return _rounded_bits(a, 16).view(np.float32).astype(np.float64)


def tf32(a):
    """float64 values of `a` rounded to TF32 (through float32; 10 mantissa bits kept)."""
    return _rounded_bits(a, 13).view(np.float32).astype(np.float64)


# --- memory through a descriptor -----------------------------------------------------------------

def _storage(m, dtype):
    return {m.FLOAT: np.float32, m.DOUBLE: np.float64, m.BFLOAT16: np.uint16}[dtype]


def _span(m, desc, ptr):
    """(first byte, one past the last byte) of the memory a descriptor reaches at address ptr."""
    size = np.dtype(_storage(m, desc.dtype)).itemsize
    return ptr.value, ptr.value + (1 + sum((n - 1) * s for n, s in zip(desc.shape, desc.strides))) * size


ALIGN = 16  # bytes: cuDNN's vectorised kernels load 16 bytes at a time; the network's slices keep it


_index = [-1, []]  # (cuda_host.allocations when built, the guarded arrays' start addresses, sorted)


def _raw(m, desc, ptr):
    """The guarded array (raw bytes) that the tensor a descriptor describes at ptr lies in; fails a
    tensor reaching outside every array, or starting off a 16-byte boundary."""
    if ptr.value % ALIGN:
        raise AssertionError(f"a cuDNN tensor {desc.shape} strides {desc.strides} starts at an address that is not "
                             f"{ALIGN}-byte aligned ({ptr.value % ALIGN} bytes off)")
    lo, hi = _span(m, desc, ptr)
    # the array that starts last at or before lo is the only one that can hold the tensor: the
    # arrays alive when the index was built do not overlap, and memory freed since can only come
    # back through a new allocation, which rebuilds the index (asking every array for its address,
    # a ctypes object a time, was most of a capture test's time)
    if _index[0] != cuda_host.allocations:
        _index[:] = [cuda_host.allocations, sorted(cuda_host._by_start.keys())]
    starts = _index[1]
    at = bisect.bisect_right(starts, lo - cuda_host.GUARD) - 1
    raw = cuda_host._by_start.get(starts[at]) if at >= 0 else None
    if raw is not None and hi <= starts[at] + raw.size - cuda_host.GUARD:
        return raw
    raise AssertionError(f"a cuDNN tensor {desc.shape} strides {desc.strides} reaches outside every array")


def _view(m, desc, ptr):
    """The array a descriptor describes at address ptr, checked to lie inside one guarded array."""
    dt = np.dtype(_storage(m, desc.dtype))
    lo, hi = _span(m, desc, ptr)
    _raw(m, desc, ptr)
    flat = np.frombuffer((ctypes.c_char * (hi - lo)).from_address(lo), dt)
    return np.lib.stride_tricks.as_strided(flat, desc.shape, [s * dt.itemsize for s in desc.strides])


def _read(m, desc, ptr, math=None):
    a = _view(m, desc, ptr)
    if desc.dtype == m.BFLOAT16:
        return (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if desc.dtype == m.FLOAT and math == m.DEFAULT_MATH:
        return tf32(a)
    return a.astype(np.float64)


def _write(m, desc, ptr, value, alpha, beta):
    out = _view(m, desc, ptr)
    if beta:
        value = alpha * value + beta * _read(m, desc, ptr)
    elif alpha != 1:
        value = alpha * value
    if desc.dtype == m.BFLOAT16:
        out[...] = (_rounded_bits(value, 16) >> 16).astype(np.uint16)
    else:
        out[...] = value


# --- the convolution, directly ------------------------------------------------------------------

def _correlate(conv, x, w, ho, wo):
    """y (N, K, ho, wo) = sum over taps and channels, float64; groups by channel blocks. Per tap,
    one stacked product over every group at once (an einsum per group and tap was a third of
    EfficientNet-B0's capture test, 44 s in all)."""
    (ph, pw), (sh, sw), (dh, dw) = conv.pads, conv.strides, conv.dilations
    n, c = x.shape[:2]
    xp = np.zeros((n, c, x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    xp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]] = x
    k, cg = w.shape[:2]
    groups = conv.groups
    wg = w.reshape(groups, k // groups, cg, *w.shape[2:])
    y = np.zeros((n, groups, k // groups, ho * wo))
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            win = xp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
            y += np.matmul(wg[:, :, :, i, j], win.reshape(n, groups, cg, ho * wo))
    return y.reshape(n, k, ho, wo)


def _correlate_back(conv, gy, w, h, wd):
    """The adjoint of _correlate: gx (N, C, h, wd) from gy (N, K, Ho, Wo)."""
    (ph, pw), (sh, sw), (dh, dw) = conv.pads, conv.strides, conv.dilations
    n, k, ho, wo = gy.shape
    cg = w.shape[1]
    groups = conv.groups
    wg = w.reshape(groups, k // groups, cg, *w.shape[2:])
    gyg = gy.reshape(n, groups, k // groups, ho * wo)
    gxp = np.zeros((n, cg * groups, h + 2 * ph, wd + 2 * pw))
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            part = np.matmul(wg[:, :, :, i, j].transpose(0, 2, 1), gyg)  # (N, groups, cg, Ho*Wo)
            gxp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw] += \
                part.reshape(n, groups * cg, ho, wo)
    return gxp[:, :, ph:ph + h, pw:pw + wd]


def _apart(m, *pairs):
    """Refuse a call whose output (the last pair) overlaps an input (cuDNN computes in place only
    by accident)."""
    spans = [_span(m, desc, ptr) for desc, ptr in pairs]
    (lo, hi), ins = spans[-1], spans[:-1]
    if any(a < hi and lo < b for a, b in ins):
        raise AssertionError("a cuDNN call's output overlaps one of its inputs")


FOUND = None  # what the Find calls report, fastest first: [(algo, deterministic)]; None: [(0, True)]


def _find(m, count, perfs, conv, out_desc, out_ptr):
    _write(m, out_desc, out_ptr, np.full(out_desc.shape, np.nan), 1.0, 0.0)
    for i, (algo, det) in enumerate(FOUND or [(0, True)]):
        perfs[i] = m.Perf(algo=algo, status=0, time=float(i), memory=0,
                          determinism=m.DETERMINISTIC if det else 0, mathType=conv.math)
    count._obj.value = len(FOUND or [(0, True)])


def _find_fwd(m, h, xd, x, fd, w, conv, yd, y, requested, count, perfs, ws, ws_bytes):
    _find(m, count, perfs, conv, yd, y)


def _find_bwd(m, h, fd, w, dyd, dy, conv, dxd, dx, requested, count, perfs, ws, ws_bytes):
    _find(m, count, perfs, conv, dxd, dx)


def _forward(m, h, alpha, xd, x, fd, w, conv, algo, ws, ws_bytes, beta, yd, y):
    _apart(m, (xd, x), (fd, w), (yd, y))

    def run():
        xv, wv = _read(m, xd, x, conv.math), _read(m, fd, w, conv.math)
        _write(m, yd, y, _correlate(conv, xv, wv, *yd.shape[2:]), alpha, beta)
    cuda_host.DEVICE.run("cudnnConvolutionForward", [_raw(m, xd, x), _raw(m, fd, w)], [_raw(m, yd, y)], run)


def _backward_data(m, h, alpha, fd, w, dyd, dy, conv, algo, ws, ws_bytes, beta, dxd, dx):
    _apart(m, (fd, w), (dyd, dy), (dxd, dx))

    def run():
        gv, wv = _read(m, dyd, dy, conv.math), _read(m, fd, w, conv.math)
        _write(m, dxd, dx, _correlate_back(conv, gv, wv, *dxd.shape[2:]), alpha, beta)
    cuda_host.DEVICE.run("cudnnConvolutionBackwardData", [_raw(m, fd, w), _raw(m, dyd, dy)], [_raw(m, dxd, dx)],
                         run)


_CALLS = {"cudnnFindConvolutionForwardAlgorithmEx": _find_fwd, "cudnnConvolutionForward": _forward,
          "cudnnFindConvolutionBackwardDataAlgorithmEx": _find_bwd, "cudnnConvolutionBackwardData": _backward_data}


def cublas():
    """Stands in for cupy.cublas: gemm(transa, transb, a, b, out, alpha, beta), float64 sums
    rounded to out's dtype; like CuPy's wrapper (its cublasSetStream), it raises while a stream
    captures."""
    def gemm(transa, transb, a, b, out=None, alpha=1.0, beta=0.0):
        if cuda_host.DEVICE.capturing() is not None:
            raise NotImplementedError("calling cuBLAS API during stream capture is currently unsupported")
        op = {"N": lambda t: t, "T": lambda t: t.T}
        r = alpha * (op[transa](a.astype(np.float64)) @ op[transb](b.astype(np.float64)))
        out[...] = r + beta * out if beta else r
        return out
    return types.SimpleNamespace(gemm=gemm)
