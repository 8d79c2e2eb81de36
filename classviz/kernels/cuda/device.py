"""The CUDA backend's one seam to the machine: the array module, device pointers, the cuDNN
binding, how a .cu file is compiled, the cuDNN workspace and the multiprocessor count. Every
module of kernels/cuda reaches the GPU only through `get()`; the host emulation of the tests plugs
in a Device of its own with `use()` (NumPy arrays in guard zones, kernels built by the C++
compiler, cuDNN's convolutions done by NumPy) and the backend's code runs unchanged.

A GPU's Device is made on first use, so that importing this package needs no CuPy."""
import ctypes

WORKSPACE_BYTES = 128 << 20  # cuDNN's workspace, per layer call: algorithms are chosen within it


class Device:
    """xp: the array module (CuPy); cudnn: the binding module (kernels/cuda/cudnn.py);
    pointer(a): the device address of array `a` as ctypes.c_void_p; compile(code, options,
    name_expressions): a compiled module with get_function(name_expression), like
    cupy.RawModule; workspace_bytes: cuDNN's workspace; multiprocessors: the device's count;
    owned: what the backend keeps per device (the render stream, reduction scratch)."""

    def __init__(self, xp, cudnn, pointer, compile, workspace_bytes, multiprocessors):
        self.xp, self.cudnn, self.pointer, self.compile = xp, cudnn, pointer, compile
        self.workspace_bytes, self.multiprocessors = workspace_bytes, multiprocessors
        self.owned = {}


def _gpu():
    import cupy

    from . import cudnn
    return Device(cupy, cudnn, lambda a: ctypes.c_void_p(a.data.ptr),
                  lambda code, options, name_expressions: cupy.RawModule(code=code, options=options,
                                                                         name_expressions=name_expressions),
                  WORKSPACE_BYTES, cupy.cuda.Device().attributes["MultiProcessorCount"])


_current = None


def get():
    """The Device in use (the GPU's, made on first use, unless `use` set another)."""
    global _current
    if _current is None:
        _current = _gpu()
    return _current


def use(device):
    """Make `device` the one every kernels/cuda module uses (None: the GPU's again, on next use).
    Returns the previous Device (or None). What is compiled or kept is kept per device."""
    global _current
    previous, _current = _current, device
    return previous
