"""The CUDA backend's own kernels, run on the CPU, so that CI (which has no GPU) checks them.

Each `.cu` file of kernels/cuda is compiled by the host's C++ compiler with a small prelude that
defines what CUDA C++ adds (threadIdx, blockIdx, blockDim, gridDim, __shared__, __syncthreads,
min/max) and one launcher per kernel instance. A launch runs every block of the grid in turn; in a
block, each thread runs the kernel to its end, one after the other, except in kernels that call
__syncthreads, whose threads run as coroutines that meet at each barrier, with __shared__
storage per block. The wrappers of kernels/cuda (the Python that picks grids and passes
arguments) run unchanged on NumPy arrays that stand in for CuPy's.

What this checks that the compile test cannot: the arithmetic and the indexing of every custom
kernel, and the wrappers' arguments, against the CPU twins. Arguments are checked as CuPy would
pass them: an array as a pointer to its first element, which must point at the parameter's type;
a NumPy scalar by value, which must be the parameter's type exactly (a np.int64 given for an
`int` would shift every later argument on a GPU); a Python int as long long, a float as double.
Every array is allocated between guard zones of NaN bytes, checked after each launch: a write
outside an array fails the launch, and a read outside one brings NaN into the result.

What it cannot check: anything that needs the GPU itself (timing, the memory model beyond
__syncthreads, warp-level behaviour, CuPy's compiler, cuDNN, cuBLAS, CUDA graphs). Those are
tests/test_cuda.py's cases with the real device."""
import ctypes
import functools
import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
import weakref

import numpy as np

import classviz

DIR = os.path.join(os.path.dirname(classviz.__file__), "kernels", "cuda")
CXX = shutil.which(os.environ.get("CXX", "g++"))
GUARD = 256  # guard bytes on each side of every array
_FILLER = 0xFF  # all-ones bytes: NaN as float32 and float64

PRELUDE = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>
#include <ucontext.h>

struct cvh_dim3 { unsigned x = 1, y = 1, z = 1; };
typedef cvh_dim3 uint3;
typedef cvh_dim3 dim3;
static cvh_dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static  /* one block runs at a time, so function statics are per block */
#define __launch_bounds__(...)

// CUDA's min/max take mixed integer and floating types through the usual promotions
template <class A, class B> inline auto min(A a, B b) -> decltype(a + b) { return b < a ? b : a; }
template <class A, class B> inline auto max(A a, B b) -> decltype(a + b) { return a < b ? b : a; }
using std::fabs; using std::pow; using std::sqrt; using std::exp; using std::log; using std::isfinite;
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }

// Blocks whose kernel calls __syncthreads run each thread as a coroutine (ucontext) on this one OS
// thread: every live thread runs up to its next barrier (or its end) before any passes it, which
// is what the barrier promises. A thread that has returned takes part in no later barrier.
static ucontext_t cvh_scheduler;
static std::vector<ucontext_t> cvh_threads;
static std::vector<std::vector<char>> cvh_stacks;
static std::vector<char> cvh_finished;
static const std::function<void()>* cvh_body = nullptr;
static unsigned cvh_running = 0;

static inline void __syncthreads() { swapcontext(&cvh_threads[cvh_running], &cvh_scheduler); }
static void cvh_thread_main() { (*cvh_body)(); cvh_finished[cvh_running] = 1; }

static cvh_dim3 cvh_index(unsigned t, cvh_dim3 block) {
    return {t % block.x, t / block.x % block.y, t / (block.x * block.y)};
}

static void cvh_launch(cvh_dim3 grid, cvh_dim3 block, bool syncs, const std::function<void()>& body) {
    gridDim = grid;
    blockDim = block;
    unsigned n = block.x * block.y * block.z;
    if (syncs && cvh_threads.size() < n) {
        cvh_threads.resize(n);
        cvh_stacks.resize(n, std::vector<char>(1 << 16));
    }
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = {bx, by, bz};
                if (!syncs) {
                    for (unsigned t = 0; t < n; ++t) { threadIdx = cvh_index(t, block); body(); }
                    continue;
                }
                cvh_body = &body;
                cvh_finished.assign(n, 0);
                for (unsigned t = 0; t < n; ++t) {
                    getcontext(&cvh_threads[t]);
                    cvh_threads[t].uc_stack.ss_sp = cvh_stacks[t].data();
                    cvh_threads[t].uc_stack.ss_size = cvh_stacks[t].size();
                    cvh_threads[t].uc_link = &cvh_scheduler;
                    makecontext(&cvh_threads[t], cvh_thread_main, 0);
                }
                for (unsigned live = n; live;) {
                    live = 0;
                    for (unsigned t = 0; t < n; ++t) {
                        if (cvh_finished[t]) continue;
                        cvh_running = t;
                        threadIdx = cvh_index(t, block);
                        swapcontext(&cvh_scheduler, &cvh_threads[t]);
                        live += !cvh_finished[t];
                    }
                }
            }
}
"""

_KERNEL = re.compile(r"template <typename T>\s*__global__ void (\w+)\(([^)]*)\)\s*\{")
_C_TYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "long long": np.int64,
            "unsigned short": np.uint16}  # all our kernels take (uint16: bfloat16 bits)


def unavailable():
    """None when kernels can run on the host here, else why not (str)."""
    return None if CXX else "no C++ compiler (g++) on PATH"


def _body(code, start):
    # text of the function body whose '{' is at code[start - 1]
    depth, i = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        i += 1
    return code[start:i]


def _param(text, ctype):
    """(name, C type for the launcher, 'ptr' or 'val', NumPy dtype of the pointee or value)."""
    words = text.replace("*", " * ").replace("__restrict__", " ").split()
    name, words = words[-1], [ctype if w == "T" else w for w in words[:-1]]
    ptr = "*" in words
    base = " ".join(w for w in words if w not in ("const", "*"))
    return name, " ".join(words), "ptr" if ptr else "val", np.dtype(_C_TYPES[base])


def _parse(code):
    """[(kernel, ctype, syncs, [params])] for every templated kernel instance in `code`."""
    out = []
    for m in _KERNEL.finditer(code):
        syncs = "__syncthreads" in _body(code, m.end())
        for ctype in ("float", "double"):
            params = [_param(p, ctype) for p in m.group(2).split(",") if p.strip()]
            out.append((m.group(1), ctype, syncs, params))
    return out


def _launcher(name, ctype, syncs, params):
    args = ", ".join(f"*({t}*)argv[{i}]" if kind == "val" else f"({t})*(void**)argv[{i}]"
                     for i, (_, t, kind, _) in enumerate(params))
    return (f'extern "C" void cvh_{name}_{ctype}(const unsigned* grid, const unsigned* block, void** argv) {{\n'
            f"    cvh_launch({{grid[0], grid[1], grid[2]}}, {{block[0], block[1], block[2]}}, {str(syncs).lower()},\n"
            f"               [&] {{ {name}<{ctype}>({args}); }});\n}}\n")


class Module:
    """Stands in for cupy.RawModule: `name`.cu compiled for the host (cached by source hash)."""

    def __init__(self, name):
        path = os.path.join(DIR, name + ".cu")
        code = open(path).read()
        parsed = _parse(code)
        self.kernels = {f"{k}<{t}>": (k, t, params) for k, t, _, params in parsed}
        unit = PRELUDE + f'#include "{path}"\n' + "".join(_launcher(*k) for k in parsed)
        digest = hashlib.sha1((unit + code + open(os.path.join(DIR, "common.cuh")).read()).encode()).hexdigest()[:16]
        lib = os.path.join(tempfile.gettempdir(), f"classviz-cuda-host-{name}-{digest}.so")
        if not os.path.exists(lib):
            tmp = f"{lib}.{os.getpid()}"  # renamed into place: concurrent test processes may build it too
            with open(tmp + ".cpp", "w") as f:
                f.write(unit)
            r = subprocess.run([CXX, "-std=c++17", "-O1", "-shared", "-fPIC", "-I", DIR, "-o", tmp, tmp + ".cpp"],
                               capture_output=True, text=True)
            os.remove(tmp + ".cpp")
            if r.returncode:
                raise RuntimeError(f"{name}.cu does not compile for the host:\n{r.stderr}")
            os.replace(tmp, lib)
        self.lib = ctypes.CDLL(lib)

    def get_function(self, expr):
        kernel, ctype, params = self.kernels[expr]
        return Kernel(getattr(self.lib, f"cvh_{kernel}_{ctype}"), expr, params)


class Kernel:
    """Stands in for a cupy RawKernel function: k(grid, block, args)."""

    def __init__(self, fn, name, params):
        self.fn, self.name, self.params = fn, name, params

    def __call__(self, grid, block, args, shared_mem=0):
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, given {len(args)}")
        keep, argv = [], (ctypes.c_void_p * len(args))()
        for i, (a, (pname, _, kind, dtype)) in enumerate(zip(args, self.params)):
            keep.append(self._value(a, pname, kind, dtype))
            argv[i] = ctypes.cast(ctypes.pointer(keep[-1]), ctypes.c_void_p)
        dims = [(ctypes.c_uint * 3)(*(tuple(d) + (1, 1))[:3]) for d in (grid, block)]
        self.fn(dims[0], dims[1], argv)
        for a in args:
            if isinstance(a, np.ndarray):
                _check_guards(a, self.name)

    def _value(self, a, pname, kind, dtype):
        where = f"{self.name}, argument {pname!r}"
        if kind == "ptr":
            if not isinstance(a, np.ndarray):
                raise TypeError(f"{where}: a pointer to {dtype} wants an array, got {type(a).__name__}")
            if a.dtype != dtype:
                raise TypeError(f"{where}: points to {dtype}, given an array of {a.dtype}")
            return ctypes.c_void_p(a.ctypes.data)
        if isinstance(a, np.ndarray) or not isinstance(a, (np.generic, int, float)):
            raise TypeError(f"{where}: wants a {dtype} value, got {type(a).__name__}")
        given = np.asarray(a).dtype if isinstance(a, np.generic) else np.dtype(np.int64 if isinstance(a, int)
                                                                                 else np.float64)
        if given != dtype:
            raise TypeError(f"{where}: is {dtype}, given {given} (CuPy passes the value's own type)")
        return np.ctypeslib.as_ctypes_type(dtype)(a.item() if isinstance(a, np.generic) else a)


# --- arrays: NumPy arrays between guard zones, with CuPy's .get() --------------------------------

_guarded = weakref.WeakValueDictionary()  # id(raw bytes) -> raw bytes, for arrays still alive


class Array(np.ndarray):
    """A NumPy array standing in for a cupy.ndarray (views keep the type)."""

    def get(self):
        """A plain NumPy copy, as cupy.ndarray.get()."""
        return np.array(self, copy=True).view(np.ndarray)


def _raw_of(a):
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a


def _check_guards(a, kernel):
    raw = _raw_of(a)
    if id(raw) in _guarded and raw.dtype == np.uint8 and raw.ndim == 1:
        if (raw[:GUARD] != _FILLER).any() or (raw[-GUARD:] != _FILLER).any():
            raise AssertionError(f"{kernel} wrote outside an array of shape {a.shape}")


def empty(shape, dtype=np.float32):
    """An Array of `shape` between guard zones; its contents are NaN bytes, as uninitialised
    device memory may hold anything."""
    dtype = np.dtype(dtype)
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.full(nbytes + 2 * GUARD, _FILLER, np.uint8)
    _guarded[id(raw)] = raw
    return raw[GUARD:GUARD + nbytes].view(dtype).reshape(shape).view(Array)


def zeros(shape, dtype=np.float32):
    a = empty(shape, dtype)
    a[...] = 0
    return a


def asarray(a, dtype=None):
    if isinstance(a, Array) and (dtype is None or a.dtype == dtype):
        return a
    a = np.asarray(a, dtype)
    out = empty(a.shape, a.dtype)
    out[...] = a
    return out


def empty_like(a):
    return empty(a.shape, a.dtype)


def asnumpy(a):
    return np.array(a, copy=True).view(np.ndarray)


def fake_cupy():
    """A module with the part of CuPy's interface that the kernel wrappers and tests use (cuBLAS's
    GEMM done by NumPy: cudnn_host.cublas)."""
    import cudnn_host
    m = types.ModuleType("cupy")
    m.ndarray, m.empty, m.zeros, m.asarray, m.empty_like, m.asnumpy = Array, empty, zeros, asarray, empty_like, asnumpy
    m.ascontiguousarray = lambda a, dtype=None: asarray(np.ascontiguousarray(a, dtype))
    m.matmul, m.multiply = np.matmul, np.multiply  # resize.py, affine.py
    m.cublas = cudnn_host.cublas()
    m.cuda = types.SimpleNamespace(get_current_stream=lambda: types.SimpleNamespace(ptr=0))
    return m


_PACKAGE = "classviz.kernels._cuda_on_host"
WRAPPERS = ("affine", "avgpool", "blur", "concat", "conv", "crop", "gemm", "lrn", "maxpool", "objective", "pixels",
            "relu", "resize")
WORKSPACE_BYTES = 1 << 16  # conv.py's cuDNN workspace here (nothing uses it), not 128 MiB of guarded NaN


def wrappers(*names):
    """The kernels/cuda wrapper modules `names`, loaded apart from classviz.kernels.cuda (whose
    __init__ needs CuPy) with their `source.module` compiling for the host, and conv.py calling
    cudnn_host's cuDNN. With cupy in sys.modules set to `fake_cupy()` (pixels.py allocates
    through it; gemm.py and conv.py reach cuBLAS and the stream through it)."""
    if _PACKAGE not in sys.modules:
        import cudnn_host
        pkg = types.ModuleType(_PACKAGE)
        pkg.__path__ = [DIR]
        sys.modules[_PACKAGE] = pkg
        importlib.import_module(_PACKAGE + ".source").module = functools.cache(Module)
        sys.modules[_PACKAGE + ".cudnn"] = cudnn_host.cudnn()
        conv = importlib.import_module(_PACKAGE + ".conv")
        conv._ptr, conv.WORKSPACE_BYTES = cudnn_host.pointer, WORKSPACE_BYTES
    mods = [importlib.import_module(f"{_PACKAGE}.{n}") for n in names]
    return types.SimpleNamespace(**dict(zip(names, mods)))


def backend():
    """A backend for classviz.Net made of every kernels/cuda wrapper and kernel, run on the host,
    with cuDNN's convolutions and cuBLAS's GEMM done by NumPy (cudnn_host). Arrays are plain NumPy
    arrays between guard zones. With cupy in sys.modules set to `fake_cupy()`."""
    from classviz.kernels import cpu
    be = types.SimpleNamespace(**{k: getattr(cpu, k) for k in (
        "xp", "to_numpy", "all_finite", "available_memory", "upload", "stream", "capture")})
    be.precisions = classviz.kernels.PRECISIONS
    be.__dict__.update(vars(wrappers(*WRAPPERS)))
    be.name = "cuda-kernels-on-host"
    be.empty = lambda shape, dtype: empty(shape, dtype).view(np.ndarray)
    be.zeros = lambda shape, dtype: zeros(shape, dtype).view(np.ndarray)
    be.asarray = lambda a, dtype=None: asarray(np.ascontiguousarray(a, dtype)).view(np.ndarray)
    # only arrays made here count as the device's: Net uploads any other, as it would to a GPU
    be.is_array = lambda a: isinstance(a, np.ndarray) and id(_raw_of(a)) in _guarded
    return be
