"""The CPU backend: NumPy arrays, GEMMs through NumPy's BLAS, everything else in Numba.

Each op module here has a twin of the same name in `classviz.kernels.cuda` with the same function
signatures; `classviz.graph` only ever talks to a backend through this module's names.

Threads: Numba's parallel regions run on Intel TBB (the `tbb` package, a dependency where it has a
wheel). A step is hundreds of short parallel regions; OpenMP's threads spin-wait at the end of
each, so while another process holds a core, every region waits out a time slice for a descheduled
sibling and a render runs 20-30x slower. TBB's workers yield instead, at the same quiet-machine
speed (benchmarks/threading_layers.py; numbers in benchmarks/README.md). Without TBB, Numba falls
back to OpenMP, then its own workqueue; $NUMBA_THREADING_LAYER still chooses.
"""
import contextlib
import os

import numba
import numpy as np

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER_PRIORITY = ["tbb", "omp", "workqueue"]

from . import affine, avgpool, blur, concat, conv, crop, gemm, lrn, maxpool, objective, pixels, relu, resize

name = "cpu"
xp = np
precisions = ("fp32",)  # float32 convolutions compute in float32 (conv.prepare's precision)


def empty(shape, dtype):
    """An uninitialised array of `shape` and `dtype` on this backend."""
    return np.empty(shape, dtype)


def zeros(shape, dtype):
    """A zero-filled array of `shape` and `dtype` on this backend."""
    return np.zeros(shape, dtype)


def asarray(a, dtype=None):
    """`a` (any array-like) as an array of this backend, converted to `dtype` when given."""
    return np.ascontiguousarray(a, dtype=dtype)


def to_numpy(a):
    """`a` as a NumPy array (no copy on the CPU)."""
    return np.asarray(a)


def is_array(a):
    """True when `a` is an array this backend can compute on."""
    return isinstance(a, np.ndarray)


def all_finite(a):
    """True when `a` holds no NaN or Inf."""
    return bool(np.isfinite(a).all())


def available_memory():
    """Bytes (int) of memory a new allocation can use now: Linux's MemAvailable (elsewhere, a
    number so large that it never refuses)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 62


def upload(dst, src):
    """dst[...] = src: a host (NumPy) value into a backend array, in stream order."""
    dst[...] = src


def stream():
    """The context that a render's work runs in (nothing to enter on the CPU)."""
    return contextlib.nullcontext()


def capture(fn, keep=()):
    """A callable that does what fn() does. On the CPU that is fn itself; the CUDA backend records
    fn's kernels once into a graph and returns its replay (`keep`: arrays its warm-up run must
    leave as they were)."""
    return fn


__all__ = ["affine", "avgpool", "blur", "concat", "conv", "crop", "gemm", "lrn", "maxpool", "objective", "pixels",
           "relu", "resize"]
