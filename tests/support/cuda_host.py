"""The CUDA backend's own kernels, run on the CPU, so that CI (which has no GPU) checks them.

Each `.cu` file of kernels/cuda is compiled by the host's C++ compiler with a small prelude that
defines what CUDA C++ adds (threadIdx, blockIdx, blockDim, gridDim, __shared__, __syncthreads,
min/max) and one launcher per kernel instance. A launch runs every block of the grid in turn; in a
block, each thread runs the kernel to its end, one after the other, except in kernels that call
__syncthreads, whose threads run as coroutines that meet at each barrier, with __shared__
storage per block. The CUDA backend itself (classviz.kernels.cuda: its __init__, the wrappers that
pick grids and pass arguments) runs unchanged on a host `Device` plugged into its one seam,
kernels/cuda/device.py (`backend(monkeypatch)`): NumPy arrays that stand in for CuPy's, streams,
events and graph capture modelled strictly (`Device` below), cuDNN done by NumPy (cudnn_host).

What this checks that the compile test cannot: the arithmetic and the indexing of every custom
kernel, and the wrappers' arguments, against the CPU twins. Arguments are checked as CuPy would
pass them: an array as a pointer to its first element, which must point at the parameter's type;
a NumPy scalar by value, which must be the parameter's type exactly (a np.int64 given for an
`int` would shift every later argument on a GPU); a Python int as long long, a float as double.
Every array is allocated between guard zones of NaN bytes, checked after each launch: a write
outside an array fails the launch, and a read outside one brings NaN into the result.

What it cannot check: anything that needs the GPU itself (timing, the memory model beyond
__syncthreads, warp-level behaviour, CuPy's compiler, cuDNN's arithmetic and what configurations it
accepts). Those are tests/test_cuda.py's cases with the real device."""
import ctypes
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import types
import weakref

import numpy as np

import classviz

DIR = os.path.join(os.path.dirname(classviz.__file__), "kernels", "cuda")


def _standalone(name):
    # a kernels/cuda module that needs only NumPy, loaded without its package (which imports CuPy)
    spec = importlib.util.spec_from_file_location(f"classviz_cuda_{name}", os.path.join(DIR, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SOURCE = _standalone("source")  # the compile flags every .cu file is built with
CXX = shutil.which(os.environ.get("CXX", "g++"))
GUARD = 256  # guard bytes on each side of every array
_FILLER = 0xFF  # all-ones bytes: NaN as float32 and float64

PRELUDE = r"""
#undef _FORTIFY_SOURCE
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>
#include <setjmp.h>
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

// Blocks whose kernel calls __syncthreads run each thread as a coroutine on this one OS thread:
// every live thread runs up to its next barrier (or its end) before any passes it, which is what
// the barrier promises. A thread that has returned takes part in no later barrier. A thread starts
// on its own stack through ucontext (makecontext, entered with setcontext); from then on it and the
// scheduler switch with _setjmp/_longjmp, which save no signal mask: swapcontext makes a system
// call for that at every switch, and that was most of the time of the kernels with barriers (the
// squeeze-and-excite networks' capture tests). _FORTIFY_SOURCE's checked longjmp refuses a jump
// to another stack, so it is off for this unit.
static ucontext_t cvh_start;  // the context each thread's start is made from (its stack set per thread)
static jmp_buf cvh_scheduler;
struct cvh_jump { jmp_buf at; };
static std::vector<cvh_jump> cvh_threads;  // where each suspended thread waits at a barrier
static std::vector<ucontext_t> cvh_entry;
static std::vector<std::vector<char>> cvh_stacks;
static std::vector<char> cvh_finished, cvh_started;
static const std::function<void()>* cvh_body = nullptr;
static unsigned cvh_running = 0;

static inline void __syncthreads() {
    if (!_setjmp(cvh_threads[cvh_running].at)) _longjmp(cvh_scheduler, 1);
}
static void cvh_thread_main() {
    (*cvh_body)();
    cvh_finished[cvh_running] = 1;
    _longjmp(cvh_scheduler, 1);  // never returns through uc_link
}

static cvh_dim3 cvh_index(unsigned t, cvh_dim3 block) {
    return {t % block.x, t / block.x % block.y, t / (block.x * block.y)};
}

static void cvh_launch(cvh_dim3 grid, cvh_dim3 block, bool syncs, const std::function<void()>& body) {
    gridDim = grid;
    blockDim = block;
    unsigned n = block.x * block.y * block.z;
    if (syncs && cvh_threads.size() < n) {
        getcontext(&cvh_start);
        cvh_threads.resize(n);
        cvh_entry.resize(n);
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
                cvh_started.assign(n, 0);
                for (unsigned live = n; live;) {
                    live = 0;
                    for (unsigned t = 0; t < n; ++t) {
                        if (cvh_finished[t]) continue;
                        cvh_running = t;
                        threadIdx = cvh_index(t, block);
                        if (!_setjmp(cvh_scheduler)) {
                            if (cvh_started[t]) _longjmp(cvh_threads[t].at, 1);
                            cvh_started[t] = 1;
                            // a copy of one captured context (its FPU state pointer still points into
                            // cvh_start, static and unchanged): getcontext per thread is a system call
                            cvh_entry[t] = cvh_start;
                            cvh_entry[t].uc_stack.ss_sp = cvh_stacks[t].data();
                            cvh_entry[t].uc_stack.ss_size = cvh_stacks[t].size();
                            cvh_entry[t].uc_link = nullptr;
                            makecontext(&cvh_entry[t], cvh_thread_main, 0);
                            setcontext(&cvh_entry[t]);
                        }
                        live += !cvh_finished[t];
                    }
                }
            }
}
"""

_KERNEL = re.compile(r"template <typename T>\s*__global__ void (\w+)\(([^)]*)\)\s*\{")
_C_TYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "long long": np.int64,
            "unsigned short": np.uint16, "unsigned char": np.uint8}  # all our kernels take (uint16: bf16 bits)


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
    """(name, C type for the launcher, 'ptr' or 'val', NumPy dtype of the pointee or value,
    whether the pointer is __restrict__)."""
    restrict = "__restrict__" in text
    words = text.replace("*", " * ").replace("__restrict__", " ").split()
    name, words = words[-1], [ctype if w == "T" else w for w in words[:-1]]
    ptr = "*" in words
    base = " ".join(w for w in words if w not in ("const", "*"))
    return name, " ".join(words), "ptr" if ptr else "val", np.dtype(_C_TYPES[base]), restrict


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
                     for i, (_, t, kind, _, _) in enumerate(params))
    return (f'extern "C" void cvh_{name}_{ctype}(const unsigned* grid, const unsigned* block, void** argv) {{\n'
            f"    cvh_launch({{grid[0], grid[1], grid[2]}}, {{block[0], block[1], block[2]}}, {str(syncs).lower()},\n"
            f"               [&] {{ {name}<{ctype}>({args}); }});\n}}\n")


class Module:
    """Stands in for cupy.RawModule: CUDA source `code` compiled for the host with the -D and -I
    flags of `options` (the .so cached by a hash of everything that goes into it)."""

    def __init__(self, code, options=()):
        parsed = _parse(code)
        self.kernels = {f"{k}<{t}>": (k, t, params) for k, t, _, params in parsed}
        unit = PRELUDE + code + "\n" + "".join(_launcher(*k) for k in parsed)
        flags = [o for o in options if o.startswith(("-D", "-I"))]
        digest = hashlib.sha1((unit + open(os.path.join(DIR, "common.cuh")).read() + " ".join(flags))
                              .encode()).hexdigest()[:16]
        lib = os.path.join(tempfile.gettempdir(), f"classviz-cuda-host-{digest}.so")
        if not os.path.exists(lib):
            tmp = f"{lib}.{os.getpid()}"  # renamed into place: concurrent test processes may build it too
            with open(tmp + ".cpp", "w") as f:
                f.write(unit)
            r = subprocess.run([CXX, "-std=c++17", "-O1", "-U_FORTIFY_SOURCE", "-shared", "-fPIC", "-I", DIR, *flags, "-o", tmp,
                                tmp + ".cpp"], capture_output=True, text=True)
            os.remove(tmp + ".cpp")
            if r.returncode:
                raise RuntimeError(f"CUDA source does not compile for the host:\n{r.stderr}")
            os.replace(tmp, lib)
        self.lib = ctypes.CDLL(lib)

    def get_function(self, expr):
        kernel, ctype, params = self.kernels[expr]
        return Kernel(getattr(self.lib, f"cvh_{kernel}_{ctype}"), expr, params)


def module(name):
    """kernels/cuda/`name`.cu compiled for the host with the backend's own flags."""
    with open(os.path.join(DIR, name + ".cu")) as f:
        return Module(f.read(), SOURCE.flags())


class Kernel:
    """Stands in for a cupy RawKernel function: k(grid, block, args)."""

    def __init__(self, fn, name, params):
        self.fn, self.name, self.params = fn, name, params

    def __call__(self, grid, block, args, shared_mem=0):
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, given {len(args)}")
        keep, argv = [], (ctypes.c_void_p * len(args))()
        for i, (a, (pname, _, kind, dtype, _)) in enumerate(zip(args, self.params)):
            keep.append(self._value(a, pname, kind, dtype))
            argv[i] = ctypes.cast(ctypes.pointer(keep[-1]), ctypes.c_void_p)
        dims = [(ctypes.c_uint * 3)(*(tuple(d) + (1, 1))[:3]) for d in (grid, block)]
        arrays = [(a, "const" in ctype.split()) for a, (_, ctype, kind, _, _) in zip(args, self.params) if kind == "ptr"]
        self._check_restrict(args)

        def run():
            self.fn(dims[0], dims[1], argv)
            for a, _ in arrays:
                _check_guards(a, self.name)
        DEVICE.run(self.name, [a for a, const in arrays if const], [a for a, const in arrays if not const], run)

    def _check_restrict(self, args):
        # nvcc may keep what a __restrict__ pointer reads in registers or the read-only cache, or
        # reorder its accesses, on the promise that no other argument reaches the same memory while
        # either writes it: a buffer passed so (say gy, and gy again as gx) is undefined behaviour
        ptrs = [(a, p) for a, p in zip(args, self.params) if p[2] == "ptr"]
        for i, (a, (pa, ca, _, _, ra)) in enumerate(ptrs):
            for b, (pb, cb, _, _, rb) in ptrs[i + 1:]:
                written = "const" not in ca.split() or "const" not in cb.split()
                if (ra or rb) and written and np.shares_memory(a, b):
                    raise AssertionError(f"{self.name}: arguments {pa!r} and {pb!r} share memory, and one of them "
                                         "is __restrict__ (undefined behaviour on a GPU)")

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


# --- the device: streams, graph capture, and which stream last wrote each buffer ------------------

class CaptureError(RuntimeError):
    """What CUDA (or CuPy) answers to a call it refuses while a stream is capturing."""


class Device:
    """The order of work on a GPU, strictly enough to fail where a real one would misbehave:
    - every kernel launch, cuDNN call, copy and elementwise op runs on the current stream; one that
      touches a buffer last written on another stream, with no event wait or synchronize between,
      is a race (AssertionError), except between the legacy default stream and blocking streams,
      which CUDA orders implicitly;
    - while any stream captures (CUDA's global capture mode), launches on it are recorded into its
      graph, not run, and what CUDA or CuPy refuses then raises CaptureError: allocating, copying
      between host and device, synchronizing, cudnnFind*, CuPy's cuBLAS wrapper."""

    def __init__(self):
        self.legacy = Stream(_null=True)
        self.stack = [self.legacy]
        self.written = {}  # id(raw buffer) -> (stream, its epoch when it wrote)
        self.launches = 0  # graph launches, for tests

    @property
    def current(self):
        return self.stack[-1]

    def capturing(self):
        return next((s for s in Stream.alive if s.graph is not None), None)

    def refuse(self, what):
        s = self.capturing()
        if s is not None:
            raise CaptureError(f"{what} while a stream is capturing (CUDA refuses it; the capture is invalidated)")

    def run(self, name, reads, writes, fn):
        """Run (or, on a capturing stream, record) fn, which reads and writes those arrays."""
        s = self.current
        if s.graph is not None:
            s.graph.ops.append((name, reads, writes, fn))
            return
        self.refuse(f"{name} on a stream that is not capturing")
        self.order(s, name, reads, writes)
        fn()

    def order(self, s, name, reads, writes):
        for a in list(reads) + list(writes):
            raw = _raw_of(a)
            if id(raw) not in self.written:
                continue
            t, epoch = self.written[id(raw)]
            if not s.after(t, epoch):
                raise AssertionError(f"race: {name} on {s} touches an array of shape {a.shape} last written on {t} "
                                     "with no event wait or synchronize between")
        s.epoch += 1
        for a in writes:
            self.written[id(_raw_of(a))] = (s, s.epoch)


class Stream:
    """Stands in for cupy.cuda.Stream."""
    alive = weakref.WeakSet()

    def __init__(self, null=False, non_blocking=False, ptr=None, _null=False):
        self.legacy, self.non_blocking = _null, non_blocking
        self.ptr = 0 if _null else id(self)
        self.epoch, self.synced, self.waits, self.graph = 0, 0, {}, None
        Stream.alive.add(self)

    def __repr__(self):
        return "the legacy default stream" if self.legacy else f"stream {self.ptr:#x}"

    def after(self, t, epoch):
        """True when work on this stream is ordered after stream t's work up to `epoch`."""
        if t is self or t.synced >= epoch or self.waits.get(t, 0) >= epoch:
            return True
        # the legacy default stream and blocking streams wait for each other
        return (self.legacy or t.legacy) and not (self.non_blocking or t.non_blocking)

    def __enter__(self):
        DEVICE.stack.append(self)
        return self

    def __exit__(self, *exc):
        DEVICE.stack.pop()

    def use(self):
        DEVICE.stack[-1:] = [self]

    def begin_capture(self, mode=None):
        if self.legacy:
            raise CaptureError("the legacy default stream cannot be captured")
        DEVICE.refuse("beginning a second capture")
        self.graph = Graph()

    def end_capture(self):
        g, self.graph = self.graph, None
        return g

    def is_capturing(self):
        return self.graph is not None

    def synchronize(self):
        DEVICE.refuse("a stream synchronize")
        self.synced = self.epoch

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        if event.stream is not None:
            self.waits[event.stream] = max(self.waits.get(event.stream, 0), event.epoch)


class Event:
    """Stands in for cupy.cuda.Event: marks a point of a stream's work that others can wait for."""

    def __init__(self, *a, **kw):
        self.stream, self.epoch = None, 0

    def record(self, stream=None):
        self.stream = stream or DEVICE.current
        self.epoch = self.stream.epoch

    def synchronize(self):
        DEVICE.refuse("an event synchronize")
        if self.stream is not None:
            self.stream.synced = max(self.stream.synced, self.epoch)


class Graph:
    """What a capture recorded; launch replays it on a stream, in order."""

    def __init__(self):
        self.ops = []

    def launch(self, stream=None):
        stream = stream or DEVICE.current
        DEVICE.launches += 1
        with stream:
            for name, reads, writes, fn in self.ops:
                DEVICE.order(stream, name, reads, writes)
                fn()


def _synchronize_all():
    DEVICE.refuse("a device synchronize")
    for s in Stream.alive:
        s.synced = s.epoch


DEVICE = Device()


def reset():
    """A fresh device: no streams' history, nothing capturing (each test starts here)."""
    global DEVICE
    DEVICE = Device()


# --- arrays: NumPy arrays between guard zones, with CuPy's .get() and .set() -----------------------

_guarded = weakref.WeakValueDictionary()  # id(raw bytes) -> raw bytes, for arrays still alive
_by_start = weakref.WeakValueDictionary()  # the same arrays by the address of their first byte
allocations = 0  # how many arrays `empty` has made: a lookup by address (cudnn_host) rebuilds its index when it grows


def _plain(a):
    return a.view(np.ndarray) if isinstance(a, Array) else a


class Array(np.ndarray):
    """A NumPy array standing in for a cupy.ndarray (views keep the type). NumPy's operations on it
    are the device's elementwise kernels: they run on the current stream, are recorded while it
    captures, and may not allocate then (an operation without `out=`)."""

    def get(self, stream=None):
        """A plain NumPy copy, as cupy.ndarray.get() (a device-to-host copy on the current stream)."""
        DEVICE.refuse("a device-to-host copy (.get())")
        DEVICE.order(stream or DEVICE.current, ".get()", [self], [])
        return np.array(self.view(np.ndarray), copy=True)

    def set(self, src, stream=None):
        """self[...] = src from the host, as cupy.ndarray.set() (on `stream`, else the current one)."""
        DEVICE.refuse("a host-to-device copy (.set()) from pageable memory")
        DEVICE.order(stream or DEVICE.current, ".set()", [], [self])
        np.copyto(self.view(np.ndarray), np.asarray(src).reshape(self.shape))

    def copy(self, order="C"):
        out = empty(self.shape, self.dtype)
        out[...] = self
        return out

    def __setitem__(self, key, value):
        def fn():
            np.ndarray.__setitem__(self.view(np.ndarray), key, _plain(value))
        DEVICE.run("a copy (a[...] = b)", [value] if isinstance(value, Array) else [], [self], fn)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kw):
        name = f"numpy's {ufunc.__name__}{'.' + method if method != '__call__' else ''}"
        ins = [_plain(a) for a in inputs]
        reads = [a for a in inputs if isinstance(a, Array)]
        if out is None:
            DEVICE.refuse(f"{name} allocating its result")
            DEVICE.order(DEVICE.current, name, reads, [])
            r = getattr(ufunc, method)(*ins, **kw)
            return asarray(r) if isinstance(r, np.ndarray) else r
        outs = tuple(_plain(o) for o in out)
        DEVICE.run(name, reads, [o for o in out if isinstance(o, Array)],
                   lambda: getattr(ufunc, method)(*ins, out=outs, **kw))
        return out[0] if len(out) == 1 else out


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
    DEVICE.refuse("allocating device memory")
    dtype = np.dtype(dtype)
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.full(nbytes + 2 * GUARD, _FILLER, np.uint8)
    _guarded[id(raw)] = raw
    _by_start[raw.ctypes.data] = raw
    global allocations
    allocations += 1
    return raw[GUARD:GUARD + nbytes].view(dtype).reshape(shape).view(Array)


def zeros(shape, dtype=np.float32):
    a = empty(shape, dtype)
    a[...] = 0
    return a


def asarray(a, dtype=None):
    if isinstance(a, Array) and (dtype is None or a.dtype == dtype):
        return a
    if isinstance(a, Array):
        a = a.get()
    a = np.asarray(a, dtype)
    out = empty(a.shape, a.dtype)
    out.set(a)
    return out


def empty_like(a):
    return empty(a.shape, a.dtype)


def asnumpy(a, stream=None):
    return a.get(stream) if isinstance(a, Array) else np.array(a, copy=True)


class _Pool:
    def free_bytes(self):
        return 0


def fake_cupy():
    """A module with the part of CuPy's interface that the CUDA backend and the tests use, over a
    fresh `Device` (streams, events, graphs; cuBLAS's GEMM done by NumPy, refused under capture as
    CuPy's wrapper refuses it)."""
    from . import cudnn_host
    reset()
    m = types.ModuleType("cupy")
    m.ndarray, m.empty, m.zeros, m.asarray, m.empty_like, m.asnumpy = Array, empty, zeros, asarray, empty_like, asnumpy
    m.ascontiguousarray = lambda a, dtype=None: asarray(np.ascontiguousarray(_plain(a) if not isinstance(a, Array)
                                                                             else a.get(), dtype))
    m.matmul, m.multiply, m.isfinite, m.clip = np.matmul, np.multiply, np.isfinite, np.clip
    m.cublas = cudnn_host.cublas()
    m.get_default_memory_pool = _Pool
    m.cuda = types.SimpleNamespace(
        Stream=Stream, Event=Event, get_current_stream=lambda: DEVICE.current,
        Device=lambda *a: types.SimpleNamespace(id=0, synchronize=_synchronize_all,
                                                attributes={"MultiProcessorCount": 4}),
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, memGetInfo=_mem_info))
    return m


def _mem_info():
    from classviz.kernels import cpu
    free = cpu.available_memory()
    return free, free


WORKSPACE_BYTES = 1 << 16  # conv.py's cuDNN workspace here (nothing uses it), not 128 MiB of guarded NaN


def device():
    """A host Device for kernels/cuda (kernels/cuda/device.py) over a fresh device model: the fake
    CuPy of `fake_cupy`, cudnn_host's cuDNN, host addresses as device pointers, kernels compiled
    by the C++ compiler, 4 multiprocessors."""
    from classviz.kernels.cuda import device as cuda_device

    from . import cudnn_host
    return cuda_device.Device(fake_cupy(), cudnn_host.cudnn(), cudnn_host.pointer,
                              lambda code, options, name_expressions: Module(code, options), WORKSPACE_BYTES, 4)


def backend(monkeypatch):
    """The CUDA backend, classviz.kernels.cuda itself, running on a fresh host `device()` for the
    rest of the test (monkeypatch puts the previous device back). Returns the backend module."""
    from classviz.kernels import cuda
    from classviz.kernels.cuda import device as cuda_device
    monkeypatch.setattr(cuda_device, "_current", device())
    return cuda
