"""Kernels: one module per op per backend (`cpu/`, `cuda/`), with identical signatures."""
import os

from ..errors import ArgumentError
from .shared import BACKENDS, PRECISIONS


def get_backend(name="auto"):
    """The backend module for `name`: 'cpu', 'cuda' (CuPy + cuDNN on an NVIDIA GPU), or 'auto'
    (CUDA when it can run here, else the CPU).

    Raises ArgumentError for an unknown name, and for 'cuda' where it cannot run, saying why."""
    if name not in BACKENDS:
        raise ArgumentError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name != "cpu":
        reason = cuda_unavailable()
        if reason is None:
            from . import cuda
            return cuda
        if name == "cuda":
            raise ArgumentError(f"backend 'cuda' cannot run here: {reason}")
    check_thread_setting()
    from . import cpu
    return cpu


def check_thread_setting():
    """Raise ArgumentError unless $NUMBA_NUM_THREADS is unset or a whole number >= 1 (Numba's own
    import would raise a ValueError for 0, and ignore other values with a warning)."""
    value = os.environ.get("NUMBA_NUM_THREADS")
    if value is not None and not (value.strip().isascii() and value.strip().isdigit() and int(value) >= 1):
        raise ArgumentError(f"NUMBA_NUM_THREADS must be a whole number >= 1 (threads for the CPU backend), got "
                            f"{value!r}")


def cuda_unavailable():
    """None when the CUDA backend can run here, else why not (str, one line)."""
    try:
        from . import cuda
    except ImportError as e:
        return f"CuPy is not installed (pip install 'classviz[cuda]'): {e}"
    except Exception as e:  # noqa: BLE001 - a broken CUDA install raises many types
        return f"CuPy cannot start: {type(e).__name__}: {e}"
    return cuda.available()


__all__ = ["BACKENDS", "PRECISIONS", "check_thread_setting", "cuda_unavailable", "get_backend"]
