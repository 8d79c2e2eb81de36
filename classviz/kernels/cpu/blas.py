"""GEMMs on the CPU: NumPy's own OpenBLAS, called from Numba's threads, each taking a share.

Why not np.matmul alone: OpenBLAS splits every GEMM across its threads and synchronises them on
each call, which on GoogLeNet's thin GEMMs costs more than the second core gives back. Winograd's
16 GEMMs of a 28x28 layer (16 x 192x128 @ 128x210) took 2.30 ms on 2 OpenBLAS threads and 1.69 ms
on one. Here OpenBLAS is held to one thread for the call, and Numba's threads each make one BLAS
call on their share: whole GEMMs of a stack, or a band of rows or of columns of one GEMM. That
layer then takes 0.84 ms (197 GFLOP/s), conv2's (16 x 192x64 @ 64x812) 2.24 -> 1.71 ms, and the
whole CPU step's GEMMs scale to both cores (2-core AMD EPYC, float32).

The functions are the OpenBLAS that NumPy's wheels bundle (scipy-openblas64: names prefixed
`scipy_`, suffixed `64_`, 64-bit integers). They are bound by symbol name as Numba external
functions rather than through ctypes pointers, because Numba will not cache a kernel that holds a
ctypes pointer (it would recompile, about 1 s, in every process). Where that library is not found
(a NumPy built on MKL or Accelerate, say), np.matmul does the work and its BLAS threads itself.
"""
import contextlib
import ctypes
import glob
import os

import numpy as np
from llvmlite import binding
from numba import njit, prange, types

_ROW_MAJOR, _N, _T = 101, 111, 112
_PREFIX, _SUFFIX = "scipy_", "64_"
_SMALL = 32 * 32 * 32  # multiply-adds below which one thread does the whole GEMM
BANDS = 8  # bands a larger GEMM is cut into, for Numba's threads to share out (matmul)


def _find_openblas():
    # NumPy's wheels keep their OpenBLAS in numpy.libs (Linux, Windows) or numpy/.dylibs (macOS)
    here = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*"):
        for path in sorted(glob.glob(os.path.join(here, pattern))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            names = [_PREFIX + n + _SUFFIX for n in ("cblas_sgemm", "cblas_dgemm", "openblas_set_num_threads",
                                                     "openblas_get_num_threads")]
            if all(hasattr(lib, n) for n in names):
                return path, lib
    return None, None


_path, _lib = _find_openblas()
if _path is not None:
    binding.load_library_permanently(_path)  # so that the external functions below resolve by name
    _set_threads = getattr(_lib, _PREFIX + "openblas_set_num_threads" + _SUFFIX)
    _get_threads = getattr(_lib, _PREFIX + "openblas_get_num_threads" + _SUFFIX)
    _set_threads.argtypes, _get_threads.restype = [ctypes.c_int], ctypes.c_int

_i32, _i64, _ptr = types.int32, types.int64, types.intp  # pointers travel as intp (LP64 ABI: same registers)
_sgemm = types.ExternalFunction(_PREFIX + "cblas_sgemm" + _SUFFIX, types.void(
    _i32, _i32, _i32, _i64, _i64, _i64, types.float32, _ptr, _i64, _ptr, _i64, types.float32, _ptr, _i64))
_dgemm = types.ExternalFunction(_PREFIX + "cblas_dgemm" + _SUFFIX, types.void(
    _i32, _i32, _i32, _i64, _i64, _i64, types.float64, _ptr, _i64, _ptr, _i64, types.float64, _ptr, _i64))

available = _path is not None  # False: every call below is np.matmul


def matmul(a, b, out, accumulate=False):
    """out = a @ b, or out += a @ b when accumulate.

    a: (M, K); b: (K, N); out: (M, N). Each may be a view whose rows or whose columns are
    contiguous (W.T, a band of channels of a larger buffer); out's rows must be. All float32 or
    all float64. Returns nothing."""
    la, lb, lc = _layout(a), _layout(b), _layout(out)
    if not available or None in (la, lb) or lc is None or lc[0] != _N or a.dtype != out.dtype \
            or b.dtype != out.dtype or out.dtype not in (np.float32, np.float64) or out.size == 0:
        _numpy(a, b, out, accumulate)
        return
    m, k = a.shape
    n = b.shape[1]
    rows = m >= n  # split the longer side, into bands of whole 16-element panels
    # BANDS of them whatever the thread count: OpenBLAS may sum an element in another order in a
    # band of another size (a band's last rows or columns go to its edge kernels: NumPy's OpenBLAS
    # on a Zen 5), so that bands cut by the thread count made results depend on it
    parts = 1 if m * n * k < _SMALL else BANDS
    share = -(-(m if rows else n) // parts)
    band = -(-share // 16) * 16
    with _one_blas_thread():
        _gemm_bands(out.dtype == np.float32, la[0], lb[0], m, n, k, a.ctypes.data, la[1], b.ctypes.data, lb[1],
                    float(accumulate), out.ctypes.data, lc[1], out.itemsize, rows, band)


def matmul_stacked(a, b, out):
    """out[i] = a[i] @ b[i] for every i.

    a: (B, M, K), b: (B, K, N), out: (B, M, N), each C-contiguous, all float32 or all float64.
    Returns nothing."""
    ok = all(x.flags.c_contiguous for x in (a, b, out)) and a.dtype == b.dtype == out.dtype
    if not available or not ok or out.dtype not in (np.float32, np.float64) or out.size == 0:
        np.matmul(a, b, out=out)
        return
    nb, m, k = a.shape
    n = b.shape[2]
    with _one_blas_thread():
        _gemm_stack(out.dtype == np.float32, nb, m, n, k, a.ctypes.data, b.ctypes.data, out.ctypes.data,
                    out.itemsize)


def _numpy(a, b, out, accumulate):
    if accumulate:
        out += a @ b
    else:
        np.matmul(a, b, out=out)


def _layout(x):
    # (transpose flag, leading dimension) of a 2-D view for a row-major BLAS call, or None
    (r, c), (sr, sc), item = x.shape, x.strides, x.itemsize
    if sr % item or sc % item:
        return None
    if sc == item or c == 1:
        ld = sr // item if r > 1 else c
        return (_N, ld) if ld >= max(1, c) else None
    if sr == item or r == 1:
        ld = sc // item if c > 1 else r
        return (_T, ld) if ld >= max(1, r) else None
    return None


def one_thread():
    """A context in which NumPy's OpenBLAS runs each call on one thread (nothing where NumPy has
    another BLAS): a product then sums each element in one order whatever the process's BLAS
    thread count (OpenBLAS's threads split a product into blocks, whose edges its kernels may sum
    in another order: NumPy's OpenBLAS on a Zen 5), which a Ray worker (one thread) and a
    process of its own (every core) must agree on."""
    return _one_blas_thread() if available else contextlib.nullcontext()


class _one_blas_thread:
    # OpenBLAS would otherwise hand each call to its own thread pool from both of Numba's threads
    # at once; the setting is put back after, so NumPy elsewhere in the process keeps its threads
    def __enter__(self):
        self.before = _get_threads()
        _set_threads(1)

    def __exit__(self, *exc):
        _set_threads(self.before)


@njit(cache=True, nogil=True)
def _call(single, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    if single:
        _sgemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc)
    else:
        _dgemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc)


@njit(cache=True, nogil=True, parallel=True)
def _gemm_bands(single, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc, item, rows, band):
    # band p: rows [p*band, ...) of op(a) and c, or columns of op(b) and c. A row of op(a) is a
    # row of a stored as is (ta == N) or a column of it stored transposed; likewise for op(b).
    total = m if rows else n
    for p in prange(-(-total // band)):
        lo = p * band
        size = min(band, total - lo)
        if rows:
            a_lo = a + lo * item * (lda if ta == _N else 1)
            _call(single, ta, tb, size, n, k, a_lo, lda, b, ldb, beta, c + lo * ldc * item, ldc)
        else:
            b_lo = b + lo * item * (1 if tb == _N else ldb)
            _call(single, ta, tb, m, size, k, a, lda, b_lo, ldb, beta, c + lo * item, ldc)


@njit(cache=True, nogil=True, parallel=True)
def _gemm_stack(single, nb, m, n, k, a, b, c, item):
    for i in prange(nb):
        _call(single, _N, _N, m, n, k, a + i * m * k * item, k, b + i * k * n * item, n, 0.0,
              c + i * m * n * item, n)
