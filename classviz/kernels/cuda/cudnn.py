"""A thin ctypes binding to cuDNN's convolution API: `libcudnn.so.9` from the nvidia-cudnn-cu13
wheel (CuPy 14 no longer ships a cuDNN module).

Why our own binding and not cuDNN Frontend's Python API: we need exactly two operations, forward
and backward-data, on plain NCHW float tensors whose output strides are our own (a branch writes
straight into its slice of the inception module's concat), with CuPy's device pointers and CuPy's
current stream, and inside a CUDA graph capture. cuDNN 9 still exports the legacy convolution
calls through its shim library (its docs say they "can still be directly used"), their C ABI is
stable, and a ctypes layer over them is a page of code with no compiled dependency, where every
choice (algorithm, workspace, math mode, determinism) stays visible and testable. Frontend graphs
would buy runtime-fused conv+bias+ReLU, worth measuring when a GPU is at hand (the README's CUDA
section lists what runs unfused and the plan for it)."""
import ctypes
import glob
import os

FLOAT, DOUBLE, BFLOAT16 = 0, 1, 9  # cudnnDataType_t
NCHW = 0                        # cudnnTensorFormat_t
CROSS_CORRELATION = 1           # cudnnConvolutionMode_t
# cudnnMathType_t: DEFAULT allows TF32 tensor cores for float data on Ampere and later, TENSOR_OP
# allows tensor cores (bf16 data), FMA is true fp32
DEFAULT_MATH, TENSOR_OP_MATH, FMA_MATH = 0, 1, 3
DETERMINISTIC = 1               # cudnnDeterminism_t
# algorithms whose error is not that of a direct sum: FFT (forward 4, 5; dgrad 2, 3) and Winograd
# (forward 6, 7; dgrad 4, 5) transform the operands, and their rounding compounds over 57 layers
INEXACT = {"forward": {4: "FFT", 5: "FFT_TILING", 6: "WINOGRAD", 7: "WINOGRAD_NONFUSED"},
           "dgrad": {2: "FFT", 3: "FFT_TILING", 4: "WINOGRAD", 5: "WINOGRAD_NONFUSED"}}
_lib = None
_handles = {}


# statuses with which a convolution call refuses the algorithm it was given for this configuration
# although its Find call ran it: cuDNN 9.19 on an H200 did so for bf16 dgrad algo 1 from batch 64
# (a 7x7/2 layer with 3 input channels; a 3x3 one from batch 128), where algo 0 runs
BAD_PARAM, NOT_SUPPORTED = 2000, 3000
REFUSALS = (BAD_PARAM, NOT_SUPPORTED)


class CudnnError(RuntimeError):
    """A cuDNN call failed, or cuDNN cannot be loaded. status: cuDNN's status code (int), or None."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class Perf(ctypes.Structure):
    """cudnnConvolutionFwdAlgoPerf_t / cudnnConvolutionBwdDataAlgoPerf_t (same layout)."""
    _fields_ = [("algo", ctypes.c_int), ("status", ctypes.c_int), ("time", ctypes.c_float),
                ("memory", ctypes.c_size_t), ("determinism", ctypes.c_int), ("mathType", ctypes.c_int),
                ("reserved", ctypes.c_int * 3)]


def lib():
    """The loaded libcudnn (ctypes.CDLL), loaded on first use. Raises CudnnError naming what was tried."""
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def _load():
    tried = []
    paths = [os.environ["CLASSVIZ_CUDNN"]] if os.environ.get("CLASSVIZ_CUDNN") else []
    try:
        import nvidia.cudnn
        for d in nvidia.cudnn.__path__:
            libdir = os.path.join(d, "lib")
            # the shim dlopens its sub-libraries by name: load them first, globally
            for sub in sorted(glob.glob(os.path.join(libdir, "libcudnn_*.so.9"))):
                try:
                    ctypes.CDLL(sub, mode=ctypes.RTLD_GLOBAL)
                except OSError as e:
                    tried.append(f"{sub}: {e}")
            paths.append(os.path.join(libdir, "libcudnn.so.9"))
    except ImportError:
        tried.append("python package nvidia.cudnn (pip install nvidia-cudnn-cu13) is not installed")
    paths += ["libcudnn.so.9", "libcudnn.so"]
    for p in paths:
        try:
            return ctypes.CDLL(p, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            tried.append(f"{p}: {e}")
    raise CudnnError("cannot load cuDNN (" + "; ".join(tried) + ")")


def check(status, what):
    """Raise CudnnError naming `what` unless status is CUDNN_STATUS_SUCCESS."""
    if status != 0:
        f = lib().cudnnGetErrorString
        f.restype = ctypes.c_char_p
        raise CudnnError(f"{what} failed: {f(status).decode()} ({status})", status)


def call(name, *args):
    """lib().name(*args), checked. Integers are passed as C ints, ctypes objects as they are."""
    check(getattr(lib(), name)(*args), name)


def handle(stream_ptr):
    """This process's cuDNN handle for the current device, bound to the stream `stream_ptr`."""
    import cupy
    dev = cupy.cuda.Device().id
    if dev not in _handles:
        h = ctypes.c_void_p()
        call("cudnnCreate", ctypes.byref(h))
        _handles[dev] = h
    h = _handles[dev]
    call("cudnnSetStream", h, ctypes.c_void_p(stream_ptr))
    return h


class _Desc:
    kind = ""

    def __init__(self):
        self.ptr = ctypes.c_void_p()
        call(f"cudnnCreate{self.kind}Descriptor", ctypes.byref(self.ptr))

    def __del__(self):
        if _lib is not None and self.ptr:
            getattr(_lib, f"cudnnDestroy{self.kind}Descriptor")(self.ptr)


class Tensor(_Desc):
    """A 4-D tensor descriptor: shape (n, c, h, w) with element strides (ns, cs, hs, ws)."""
    kind = "Tensor"

    def __init__(self, dtype, shape, strides):
        super().__init__()
        call("cudnnSetTensor4dDescriptorEx", self.ptr, dtype, *map(ctypes.c_int, shape), *map(ctypes.c_int, strides))


class Filter(_Desc):
    """A filter descriptor (k, c, h, w), NCHW."""
    kind = "Filter"

    def __init__(self, dtype, shape):
        super().__init__()
        call("cudnnSetFilter4dDescriptor", self.ptr, dtype, NCHW, *map(ctypes.c_int, shape))


class Convolution(_Desc):
    """A 2-D cross-correlation with symmetric pads (ph, pw), strides, dilations, groups, math type."""
    kind = "Convolution"

    def __init__(self, dtype, pads, strides, dilations, groups, math):
        super().__init__()
        call("cudnnSetConvolution2dDescriptor", self.ptr, *map(ctypes.c_int, (*pads, *strides, *dilations)),
             CROSS_CORRELATION, dtype)
        call("cudnnSetConvolutionGroupCount", self.ptr, ctypes.c_int(groups))
        call("cudnnSetConvolutionMathType", self.ptr, math)


def scalar(dtype, v):
    """The alpha/beta argument: a pointer to a float for float data, a double for double data."""
    return ctypes.byref(ctypes.c_double(v) if dtype == DOUBLE else ctypes.c_float(v))


def pick(perfs, count, ws_bytes, direction, exact):
    """The algorithms to use from a Find call's results (fastest first), for `direction` 'forward'
    or 'dgrad', best first: those that ran, fit the workspace, are deterministic (a replay gives
    the same bits) and, when `exact` (true fp32 and float64), are no FFT or Winograd algorithm, in
    the Find's order; then the others that ran and fit, each with why it falls short. The first is
    used; a later one only when the call refuses those before it (REFUSALS).
    Returns a list of (algo, why): why is None for the good ones, else a line to say once.
    Raises CudnnError when none runs at all."""
    runs = [p for p in perfs[:count] if p.status == 0 and p.memory <= ws_bytes]
    if not runs:
        found = ", ".join(f"algo {p.algo}: status {p.status}, {p.memory} bytes" for p in perfs[:count]) or "none"
        raise CudnnError(f"no {direction} convolution algorithm runs this layer within {ws_bytes} bytes of "
                         f"workspace (found: {found})")
    inexact = INEXACT[direction] if exact else {}
    kind = "deterministic direct" if exact else "deterministic"
    good = [(p.algo, None) for p in runs if p.determinism == DETERMINISTIC and p.algo not in inexact]
    rest = []
    for p in runs:
        if p.determinism != DETERMINISTIC or p.algo in inexact:
            why = "not deterministic" if p.determinism != DETERMINISTIC else f"{inexact[p.algo]}, not a direct sum"
            rest.append((p.algo, f"no {kind} {direction} algorithm fits; using algo {p.algo} ({why})"))
    return good + rest
