"""The CUDA sources beside this module, and how they are compiled and launched.

Every `.cu` file here is compiled once per process through CuPy's RawModule (NVRTC), with every
`template <typename T> __global__` kernel in it instantiated for float and double; the same rule
drives the CI test that builds each file with nvcc for sm_90 (tests/test_cuda_compile.py), so
what CI compiles is what runs. Kernels use grid-stride loops, so any grid size is correct; we
launch enough blocks to fill the GPU (16 per multiprocessor, counted on the device) and no more.

Constants that Python and CUDA share are defined here once and passed to every compile as -D
flags (`flags()`). CuPy caches compiled modules by their code and options; the text of
common.cuh is not in a file's code (it is #included), so its hash goes into the options too,
and an edit to the header alone recompiles every module."""
import functools
import glob
import hashlib
import os
import re

import numpy as np

DIR = os.path.dirname(os.path.abspath(__file__))
CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
TEMPLATE = re.compile(r"template <typename T>\s*__global__ void (\w+)")
THREADS = 256  # threads per block of every launch
PARTS = 64     # blocks per image in the first stage of pixels.cu's mean |g| reduction
BLOCKS_PER_SM = 16  # resident blocks per multiprocessor that a launch fills at most
DEFINES = {"CV_THREADS": THREADS, "CV_PARTS": PARTS}


def flags():
    """Compiler flags (list of str) every .cu file is built with: the shared constants as -D, and
    the hash of common.cuh (see the module docstring)."""
    with open(os.path.join(DIR, "common.cuh"), "rb") as f:
        header = hashlib.sha1(f.read()).hexdigest()[:16]
    return [f"-D{k}={v}" for k, v in DEFINES.items()] + [f"-DCV_COMMON_SHA1=0x{header}"]


def max_blocks():
    """Most blocks a grid-stride launch uses: BLOCKS_PER_SM per multiprocessor of the device."""
    from . import device
    return BLOCKS_PER_SM * device.get().multiprocessors


def sources():
    """Paths (str) of every .cu file of the CUDA backend, sorted."""
    return sorted(glob.glob(os.path.join(DIR, "*.cu")))


def instances(code):
    """Name expressions ('maxpool_forward<float>', ...) of every templated kernel in `code` (str)."""
    return [f"{name}<{t}>" for name in TEMPLATE.findall(code) for t in ("float", "double")]


def module(name):
    """`name`.cu compiled for the device in use (a cupy.RawModule on a GPU), once per device."""
    from . import device
    return _compiled(device.get(), name)


@functools.cache
def _compiled(dev, name):
    with open(os.path.join(DIR, name + ".cu")) as f:
        code = f.read()
    return dev.compile(code, ("-std=c++17", "-I" + DIR, *flags()), instances(code))


def kernel(name, fn, dtype):
    """Kernel `fn` of `name`.cu instantiated for numpy `dtype` (float32 or float64)."""
    return module(name).get_function(f"{fn}<{CTYPE[np.dtype(dtype)]}>")


def launch(k, total, args, threads=THREADS):
    """Launch kernel k over `total` elements with a grid-stride grid, on the current stream."""
    blocks = max(1, min(-(-int(total) // threads), max_blocks()))
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
