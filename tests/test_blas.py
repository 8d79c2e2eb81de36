"""The CPU GEMM (kernels/cpu/blas.py) against a float64 NumPy product: odd shapes, transposed and
sliced views, accumulation, both dtypes, the banded and the stacked kernels, and the np.matmul
fallback for NumPys without a bundled OpenBLAS."""
import numpy as np
import pytest

from classviz.kernels.cpu import blas

SHAPES = [(1, 1, 1), (5, 7, 3), (33, 17, 1), (1, 1024, 1000), (300, 20, 301), (64, 147, 2000), (450, 530, 19)]


def _views(a):
    # the same matrix three ways: C order, Fortran order (a transposed view), and a window of a
    # larger buffer (rows contiguous, leading dimension larger than the width)
    big = np.zeros((a.shape[0] + 2, a.shape[1] + 3), a.dtype)
    big[1:-1, 2:-1] = a
    return [a, np.asfortranarray(a), big[1:-1, 2:-1]]


@pytest.fixture(params=[True, False], ids=["openblas", "numpy"])
def path(request, monkeypatch):
    if request.param and not blas.available:
        pytest.skip("NumPy's bundled OpenBLAS was not found: only the np.matmul path exists here")
    monkeypatch.setattr(blas, "available", request.param)
    return request.param


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matmul(path, m, k, n, dtype, tol):
    rng = np.random.default_rng(m * 1000 + n)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.sqrt(k)
    for av in _views(a):
        for bv in _views(b):
            big = np.full((m + 2, n + 4), 7.0, dtype)
            out = big[1:-1, 1:-3]  # a strided destination: nothing outside it may change
            blas.matmul(av, bv, out)
            np.testing.assert_allclose(out, want, rtol=0, atol=tol * scale)
            blas.matmul(av, bv, out, accumulate=True)
            np.testing.assert_allclose(out, 2 * want, rtol=0, atol=2 * tol * scale)
            big[1:-1, 1:-3] = 7.0
            assert (big == 7.0).all()


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_matmul_stacked(path, dtype, tol):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((16, 37, 29)).astype(dtype), rng.standard_normal((16, 29, 53)).astype(dtype)
    out = np.empty((16, 37, 53), dtype)
    blas.matmul_stacked(a, b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=0, atol=tol * np.sqrt(29))


def test_blas_threads_restored():
    if not blas.available:
        pytest.skip("NumPy's bundled OpenBLAS was not found")
    before = blas._get_threads()
    a = np.ones((200, 300), np.float32)
    blas.matmul(a, a.T, np.empty((200, 200), np.float32))
    assert blas._get_threads() == before


@pytest.mark.skipif(not blas.available, reason="NumPy has no OpenBLAS of its own here")
def test_the_bits_do_not_depend_on_the_thread_counts():
    """A product's bits are the same on one of Numba's threads or two (matmul's bands are cut the
    same), and the cubic resize's with OpenBLAS on one thread or two (it holds OpenBLAS to one): a
    Ray worker (one thread) and a process of its own draw the same picture. NumPy's OpenBLAS on a
    Zen 5 sums the edge rows of a block in another order, so that each of these failed there."""
    import numba
    from classviz.kernels.cpu import resize
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((301, 77)).astype(np.float32), rng.standard_normal((77, 263)).astype(np.float32)
    x = (rng.standard_normal((2, 3, 269, 269)) * 50).astype(np.float32)
    got = []
    before, blas_before = numba.get_num_threads(), blas._get_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            blas._set_threads(threads)
            out, big = np.empty((301, 263), np.float32), np.empty((2, 3, 322, 322), np.float32)
            blas.matmul(a, b, out)
            resize.forward(x, big)
            got.append((out, big))
    finally:
        numba.set_num_threads(before)
        blas._set_threads(blas_before)
    assert np.array_equal(got[0][0], got[1][0]) and np.array_equal(got[0][1], got[1][1])
