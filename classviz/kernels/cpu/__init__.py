"""The CPU backend: NumPy arrays, GEMMs through NumPy's BLAS, everything else in Numba.

Each op module here has a twin of the same name in `classviz.kernels.cuda` with the same function
signatures; `classviz.graph` only ever talks to a backend through this module's names.

Threads: Numba's parallel regions run on Intel TBB (the `tbb` package, a dependency where it has a
wheel). A step is hundreds of short parallel regions; OpenMP's threads spin-wait at the end of
each, so while another process holds a core, every region waits out a time slice for a descheduled
sibling. TBB's workers yield instead, and are as fast on a quiet machine; `Threads` then picks the
thread count by measuring (benchmarks/threading_layers.py and benchmarks/README.md have the
numbers). Without TBB, Numba falls back to OpenMP, then its own workqueue;
$NUMBA_THREADING_LAYER still chooses.
"""
import contextlib
import os
import statistics
import time

import numba
import numpy as np

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER_PRIORITY = ["tbb", "omp", "workqueue"]

from . import (activation, adam, add, affine, aligned, avgpool, blur, concat, conv, crop, diversity, fourier, gemm, lrn,
               maxpool, mul, objective, pixels, relu, resize, warp)

name = "cpu"
xp = np
precisions = ("fp32",)  # float32 convolutions compute in float32 (conv.prepare's precision)


def empty(shape, dtype):
    """An uninitialised array of `shape` and `dtype` on this backend, its data on a 64-byte
    boundary (aligned.py says why)."""
    return aligned.empty(shape, dtype)


def zeros(shape, dtype):
    """A zero-filled array of `shape` and `dtype` on this backend, aligned as `empty`'s."""
    return aligned.zeros(shape, dtype)


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
    """A callable that does what fn() does: on the CPU, fn on the number of threads that runs it
    fastest now (see `Threads`); the CUDA backend records fn's kernels once into a graph and
    returns its replay (`keep`: arrays its warm-up run must leave as they were)."""
    return THREADS.tuned(fn)


class Threads:
    """How many of Numba's threads a render's step runs on, chosen by measuring it.

    On a quiet machine every core helps. While other processes keep the cores busy, each of a
    step's hundreds of parallel regions waits for a sibling thread the OS has descheduled, and one
    thread can be faster (benchmarks/README.md measures both). So one step in every `every` runs
    on the other count (a probe per octave was tried: 4% on a 60-step render), and the count whose
    last `keep` timed steps of this same step function (one octave's: steps of other octaves cost
    otherwise; its first step warms caches and is not timed) took less time, by median, wins. The choice carries over between
    octaves and renders; each step's count is set around it and put back after."""

    def __init__(self, every=48, keep=3):
        self.every, self.keep = every, keep
        self.most = numba.config.NUMBA_NUM_THREADS
        self.current, self.since_probe = self.most, every - 8  # the first probe early in the first render

    def tuned(self, fn):
        """fn wrapped to run on the chosen count of threads, and sometimes on the other."""
        if self.most == 1:
            return fn
        times = {self.most: [], 1: []}  # seconds of this fn's last steps, per thread count
        calls = [0]

        def step():
            self.since_probe += 1
            calls[0] += 1
            probe = self.since_probe >= self.every
            n = (1 if self.current == self.most else self.most) if probe else self.current
            if probe:
                self.since_probe = 0
            before = numba.get_num_threads()
            numba.set_num_threads(n)
            try:
                t = time.perf_counter()
                fn()
                if calls[0] > 1:  # an octave's first step warms caches and pages: not a measure
                    self.record(times, n, time.perf_counter() - t)
            finally:
                numba.set_num_threads(before)
        return step

    def record(self, times, n, seconds):
        """Note that a step on n threads took `seconds` (in `times`, {count: [seconds]}); once both
        counts have times, the one with the lower median (the lower of two middles) becomes the
        choice."""
        times[n].append(seconds)
        del times[n][:-self.keep]
        if all(times.values()):
            self.current = min(times, key=lambda k: statistics.median_low(times[k]))


THREADS = Threads()


__all__ = ["affine", "avgpool", "blur", "concat", "conv", "crop", "gemm", "lrn", "maxpool", "objective", "pixels",
           "relu", "resize"]
