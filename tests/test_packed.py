"""The packed-weights GEMM (kernels/cpu/packed.py) against a float64 NumPy product: shapes that leave
partial row panels, partial column blocks and partial vectors (and none), K of 1, row strides
wider than the rows, accumulation, the stacked form, and that nothing outside `out` is written.
float32 only, like the kernel; tolerance 2e-5 x sqrt(K), as for blas.py."""
import numpy as np
import pytest

from classviz.kernels.cpu import packed

# (m, k, n): n around the kernel's block (NR) and vector (W) sizes and past one task's CHUNK, m
# around its panel (MR), and GoogLeNet's own: conv1's backward (147 rows), the 7x7 stage (49
# columns), 14x14 (196)
SHAPES = [(1, 1, 1), (5, 3, 7), (packed.MR, 16, packed.NR), (packed.MR + 1, 9, packed.NR + packed.W + 3),
          (147, 64, 49), (64, 512, 196), (33, 1, 250), (2 * packed.MR - 1, 300, packed.W - 1),
          (20, 7, 2 * packed.CHUNK + 76), (9, 5, packed.CHUNK + 1)]


def _window(a, fill):
    # a window of a larger buffer: rows contiguous, row stride wider than the row
    big = np.full((a.shape[0] + 2, a.shape[1] + 5), fill, np.float32)
    big[1:-1, 2:-3] = a
    return big, big[1:-1, 2:-3]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matmul(m, k, n):
    rng = np.random.default_rng(m * 1000 + n)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    want = a.astype(np.float64) @ b
    tol = 2e-5 * np.sqrt(k)
    ap = packed.pack(a)
    assert ap.shape == (-(-m // packed.MR), k, packed.MR)
    for bv in (b, _window(b, np.nan)[1]):  # NaN beside b: a kernel that reads past a row fails
        big, out = _window(np.zeros((m, n), np.float32), 7.0)
        out[...] = np.nan  # overwritten, never read, when not accumulating
        packed.matmul(ap, bv, out)
        np.testing.assert_allclose(out, want, rtol=0, atol=tol)
        packed.matmul(ap, bv, out, accumulate=True)
        np.testing.assert_allclose(out, 2 * want, rtol=0, atol=2 * tol)
        big[1:-1, 2:-3] = 7.0
        assert (big == 7.0).all()


def test_matmul_of_a_transposed_view():
    # conv.py packs w.T (a Fortran-order view) for the backward
    rng = np.random.default_rng(2)
    w = rng.standard_normal((64, 147)).astype(np.float32)
    gy = rng.standard_normal((64, 49)).astype(np.float32)
    out = np.empty((147, 49), np.float32)
    packed.matmul(packed.pack(w.T), gy, out)
    np.testing.assert_allclose(out, w.T.astype(np.float64) @ gy, rtol=0, atol=2e-5 * 8)


@pytest.mark.parametrize("s,m,k,n", [(16, 37, 29, 53), (36, 64, 32, 56), (16, 8, 1, packed.NR)])
def test_matmul_stacked(s, m, k, n):
    rng = np.random.default_rng(s + m)
    a, b = rng.standard_normal((s, m, k)).astype(np.float32), rng.standard_normal((s, k, n)).astype(np.float32)
    out = np.full((s, m, n), np.nan, np.float32)
    packed.matmul_stacked(packed.pack(a), b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=0, atol=2e-5 * np.sqrt(k))


# (Cin, Cout, k, stride, pad, H): conv1, a 1x1, a Winograd 3x3 and 5x5, a 7x7-stage 3x3 (im2col)
LAYERS = [(3, 64, 7, 2, 3, 23), (48, 20, 1, 1, 0, 14), (16, 24, 3, 1, 1, 28), (8, 16, 5, 1, 2, 14),
          (24, 40, 3, 1, 1, 7)]


@pytest.mark.parametrize("cin,cout,k,stride,pad,h", LAYERS)
def test_conv_on_packed_weights_matches_openblas(monkeypatch, cin, cout, k, stride, pad, h):
    """conv.py's layers with their weights packed (what float32 gets where packed.PAYS) against the
    same layers on OpenBLAS, forward and backward, the backward also accumulating into a channel
    slice of a wider buffer (as the plan places a concat's inputs), batch 2, float32: 1e-5 of the
    largest value."""
    from classviz.kernels.cpu import conv
    from classviz.kernels.geometry import conv_window
    rng = np.random.default_rng(cin + cout)
    w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    x = rng.standard_normal((2, cin, h, h)).astype(np.float32)
    win = conv_window((k, k), (stride, stride), (pad,) * 4, (1, 1), h, h)
    gy = rng.standard_normal((2, cout, win.Ho, win.Wo)).astype(np.float32)
    got = {}
    for pays in (False, True):
        monkeypatch.setattr(packed, "PAYS", pays)
        cw = conv.prepare(w, b, win, 1, np.asarray)
        assert (cw.wp is not None or (cw.u is not None and cw.u.ndim == 4)) == pays
        work = np.empty(conv.work_size(cw, 2), np.float32)
        y = np.empty((2, cout, win.Ho, win.Wo), np.float32)
        conv.forward(x, cw, y, True, work)
        wide = np.ones((2, cin + 3, h, h), np.float32)
        conv.backward(gy.copy(), cw, wide[:, 2:2 + cin], True, work, relu_out=y)
        got[pays] = y, wide
    for old, new in zip(got[False], got[True]):
        np.testing.assert_allclose(new, old, rtol=0, atol=1e-5 * np.abs(old).max())
    assert (got[True][1][:, :2] == 1).all() and (got[True][1][:, 2 + cin:] == 1).all()
