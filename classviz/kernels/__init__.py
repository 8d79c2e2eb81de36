"""Kernels: one module per op per backend (`cpu/`, `cuda/`), with identical signatures."""
from ..errors import ArgumentError

BACKENDS = ("auto", "cpu", "cuda")


def get_backend(name="auto"):
    """The backend module for `name` ('auto', 'cpu' or 'cuda').

    Raises ArgumentError for an unknown name, and for 'cuda' (not built yet)."""
    if name not in BACKENDS:
        raise ArgumentError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "cuda":
        # the CUDA twins of kernels/cpu are not written yet; say so rather than fall back silently
        raise ArgumentError("backend 'cuda' is not available in this version of classviz; use backend='cpu'")
    # 'auto' means the CPU until the CUDA backend exists
    from . import cpu
    return cpu
