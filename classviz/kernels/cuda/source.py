"""The CUDA sources beside this module, and how they are compiled and launched.

Every `.cu` file here is compiled once per process through CuPy's RawModule (NVRTC), with every
`template <typename T> __global__` kernel in it instantiated for float and double; the same rule
drives the CI test that builds each file with nvcc for sm_90 (tests/test_cuda_compile.py), so
what CI compiles is what runs. Kernels use grid-stride loops, so any grid size is correct; we
launch enough blocks to fill the GPU and no more."""
import functools
import glob
import os
import re

import numpy as np

DIR = os.path.dirname(os.path.abspath(__file__))
CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
TEMPLATE = re.compile(r"template <typename T>\s*__global__ void (\w+)")
THREADS = 256
MAX_BLOCKS = 132 * 16  # H100/H200: 132 multiprocessors, 16 resident blocks each at most


def sources():
    """Paths (str) of every .cu file of the CUDA backend, sorted."""
    return sorted(glob.glob(os.path.join(DIR, "*.cu")))


def instances(code):
    """Name expressions ('maxpool_forward<float>', ...) of every templated kernel in `code` (str)."""
    return [f"{name}<{t}>" for name in TEMPLATE.findall(code) for t in ("float", "double")]


@functools.cache
def module(name):
    """The compiled cupy.RawModule of `name`.cu (memoised)."""
    import cupy
    with open(os.path.join(DIR, name + ".cu")) as f:
        code = f.read()
    return cupy.RawModule(code=code, options=("-std=c++17", "-I" + DIR), name_expressions=instances(code))


def kernel(name, fn, dtype):
    """Kernel `fn` of `name`.cu instantiated for numpy `dtype` (float32 or float64)."""
    return module(name).get_function(f"{fn}<{CTYPE[np.dtype(dtype)]}>")


def launch(k, total, args, threads=THREADS):
    """Launch kernel k over `total` elements with a grid-stride grid, on the current stream."""
    blocks = max(1, min(-(-int(total) // threads), MAX_BLOCKS))
    k((blocks,), (threads,), args)


def i32(v):
    """An `int` kernel argument (CuPy would pass a Python int as long long)."""
    return np.int32(v)


def i64(v):
    """A `long long` kernel argument."""
    return np.int64(v)


def batch_stride(a):
    """Elements between consecutive images of `a` (N, ...), whose images must each be contiguous
    (a channel slice of a concat output is; anything else is refused)."""
    if a.ndim > 1 and not a[0].flags.c_contiguous:
        raise ValueError(f"array of shape {a.shape} and strides {a.strides} is not contiguous per image")
    return np.int64(a.strides[0] // a.itemsize if a.shape[0] > 1 else int(np.prod(a.shape[1:])))
