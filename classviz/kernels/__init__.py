"""Kernels: one module per op per backend (`cpu/`, `cuda/`), with identical signatures."""
from ..errors import ArgumentError

BACKENDS = ("auto", "cpu", "cuda")


def cuda_available():
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no cupy, no driver, no device: all mean "not available"
        return False


def get_backend(name="auto"):
    """The backend module for `name` ('auto', 'cpu' or 'cuda'); 'auto' is CUDA when usable.

    Raises ArgumentError for an unknown name, or for 'cuda' on a machine without a usable GPU."""
    if name not in BACKENDS:
        raise ArgumentError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "auto":
        name = "cuda" if cuda_available() else "cpu"
    if name == "cuda":
        if not cuda_available():
            raise ArgumentError("backend 'cuda' asked for, but CuPy cannot reach a CUDA device")
        from . import cuda
        return cuda
    from . import cpu
    return cpu
