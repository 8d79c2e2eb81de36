"""The CUDA backend: CuPy arrays end to end, convolutions through cuDNN (cudnn.py), everything
else in the custom kernels of the `.cu` files beside their wrappers (compiled once through CuPy's
RawModule, see source.py).

Each op module here has a twin of the same name in `classviz.kernels.cpu` with the same function
signatures; the CPU twins are the reference the GPU tests compare against (tests/test_cuda.py).
A render runs on one non-blocking stream, and each octave's step is captured once into a CUDA
graph and replayed (`capture`)."""
import contextlib
import warnings

import numpy as np

from ...errors import Notice
from ..shared import PRECISIONS
from . import (activation, adam, add, affine, avgpool, blur, concat, conv, crop, device, diversity, fourier, gemm, lrn,
               maxpool, mul, objective, pixels, relu, resize, warp)

name = "cuda"
precisions = PRECISIONS  # what conv.prepare's precision can be (see conv.py)


def __getattr__(attr):
    # `xp`, the array module, is the device's (CuPy on a GPU; device.py), looked up when used
    if attr == "xp":
        return device.get().xp
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def _xp():
    return device.get().xp


def empty(shape, dtype):
    """An uninitialised CuPy array of `shape` and `dtype`."""
    return _xp().empty(shape, dtype)


def zeros(shape, dtype):
    """A zero-filled CuPy array."""
    return _xp().zeros(shape, dtype)


def asarray(a, dtype=None):
    """`a` (NumPy, CuPy or array-like) as a C-contiguous CuPy array, converted to `dtype` when given."""
    xp = _xp()
    return xp.ascontiguousarray(xp.asarray(a, dtype=dtype))


def to_numpy(a):
    """`a` copied to the host as a NumPy array."""
    return _xp().asnumpy(a)


def is_array(a):
    """True when `a` is a CuPy array."""
    return isinstance(a, _xp().ndarray)


def all_finite(a):
    """True when `a` holds no NaN or Inf (synchronises)."""
    return bool(_xp().isfinite(a).all())


def available_memory():
    """Bytes (int) a new allocation can use now: the device's free memory plus what CuPy's pool
    holds unused."""
    xp = _xp()
    free, _ = xp.cuda.runtime.memGetInfo()
    pool = xp.get_default_memory_pool()
    return int(free + pool.free_bytes())


def upload(dst, src):
    """dst[...] = src (a NumPy value) on the current stream, so it lands before the next replay."""
    dst.set(np.ascontiguousarray(src, dtype=dst.dtype), stream=_xp().cuda.get_current_stream())


@contextlib.contextmanager
def stream():
    """Make the render stream current for the block (yields it). It is non-blocking, since graphs
    cannot be captured on the legacy default stream, so nothing orders it against the stream that
    was current: on entry it waits for the work already queued there (the images' upload, buffers
    zeroed by the renderer), and on exit that stream waits for the render's work, so the images
    read after the block are the finished ones."""
    dev = device.get()
    render = dev.owned.get("render stream")
    if render is None:
        render = dev.owned["render stream"] = dev.xp.cuda.Stream(non_blocking=True)
    outer = dev.xp.cuda.get_current_stream()
    render.wait_event(outer.record())
    try:
        with render:
            yield render
    finally:
        outer.wait_event(render.record())


def capture(fn, keep=()):
    """A callable that does what fn() does, as one CUDA graph launch.

    fn runs once eagerly first (kernels compile, cuDNN picks algorithms, scratch is allocated: none
    of which may happen during a capture); the arrays in `keep` are restored afterwards, so that
    warm-up leaves no trace. Then fn is captured on the current stream and the replay returned.
    If capturing fails, a Notice says so and fn itself is returned (the step still runs, eagerly)."""
    s = _xp().cuda.get_current_stream()
    saved = [a.copy() for a in keep]
    fn()
    for a, b in zip(keep, saved):
        a[...] = b
    try:
        s.begin_capture()
        try:
            fn()
        finally:
            graph = s.end_capture()
    except Exception as e:  # noqa: BLE001 - any failure to capture falls back to eager, said out loud
        warnings.warn(f"CUDA graph capture failed ({type(e).__name__}: {e}); the step runs eagerly", Notice)
        return fn
    return lambda: graph.launch(s)


def available():
    """None when this backend can run here, else a one-line reason (no CuPy, no device, no cuDNN)."""
    try:
        import cupy
    except ImportError as e:
        return f"CuPy is not installed (pip install 'classviz[cuda]'): {e}"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy sees no CUDA device"
        from . import cudnn
        cudnn.lib()
    except Exception as e:  # noqa: BLE001 - CUDA errors come in many types
        return f"{type(e).__name__}: {e}"
    return None


__all__ = ["affine", "avgpool", "blur", "concat", "conv", "crop", "gemm", "lrn", "maxpool", "objective", "pixels",
           "relu", "resize"]
