"""The packed-weights GEMM (kernels/cpu/packed.py) against a float64 NumPy product: shapes that leave
partial row panels, partial column blocks and partial vectors (and none), the last 1-4
columns (with the last block or vector, or, alone, in the column kernels: in whole groups of
panels and not), every column the same bits whichever kernel takes it, K of 1, row strides
wider than the rows, accumulation, the stacked form, and that nothing outside `out` is written.
float32 only, like the kernel; tolerance 2e-5 x sqrt(K), as for blas.py."""
import numpy as np
import pytest

import classviz
from classviz.kernels.cpu import packed

# (m, k, n): n around the kernel's block (NR) and vector (W) sizes and past one task's CHUNK, m
# around its panel (MR), and GoogLeNet's own: conv1's backward (147 rows), the 7x7 stage (49
# columns), 14x14 (196)
SHAPES = [(1, 1, 1), (5, 3, 7), (packed.MR, 16, packed.NR), (packed.MR + 1, 9, packed.NR + packed.W + 3),
          (147, 64, 49), (64, 512, 196), (33, 1, 250), (2 * packed.MR - 1, 300, packed.W - 1),
          (20, 7, 2 * packed.CHUNK + 76), (9, 5, packed.CHUNK + 1),
          # the last 1-4 columns go with the last vector or block (W + 1, 2W + 2), or, with nothing else,
          # to the column kernels, panels at a time (8 or 4 of them), the panels after the last
          # whole group one by one
          (5 * packed.MR - 3, 11, 2 * packed.W + 2), (9 * packed.MR, 6, 2), (17 * packed.MR + 5, 40, packed.W + 1),
          (8 * packed.MR - 3, 13, 2 * packed.W + 1), (4 * packed.MR - 1, 7, packed.W + 2),  # a short last panel in a group
          # ... or ride with the last whole block (NR + 1, NR + 2), also at the end of a second chunk
          (2 * packed.MR + 3, 21, packed.NR + 1), (packed.MR - 3, 10, packed.NR + 2), (11, 4, 2 * packed.CHUNK + 2),
          (3 * packed.MR + 1, 17, packed.W + 3), (packed.MR + 5, 9, 6 * packed.NR + 4), (13, 5, packed.CHUNK + 4),
          # a long K: narrower chunks (CHUNK_BYTES), the last with a masked vector or riding columns
          (19, 600, 603), (13, 1100, 257), (3 * packed.MR - 2, 14, packed.NR + 3)]


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


@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("relu,cap", [(False, np.inf), (True, np.inf), (True, 6.0)], ids=["bias", "relu", "relu6"])
def test_matmul_bias_and_activation_as_stored(m, k, n, relu, cap):
    """The epilogue (bias, then a ReLU capped or not) equals the product followed by conv.bias_act,
    bit for bit: the same float32 operations, a sum of -0.0 kept without a bias, NaN kept NaN."""
    from classviz.kernels.cpu import conv
    rng = np.random.default_rng(m + 7 * n)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    b[:, :1] = 0.0  # a column whose sums are exact zeros (+0.0)
    b[:, 1:2] = np.nan if n > 2 else b[:, 1:2]
    a[:1] *= 10  # a row that reaches the cap
    bias = rng.standard_normal(m).astype(np.float32)
    ap = packed.pack(a)
    want = np.empty((m, n), np.float32)
    packed.matmul(ap, b, want)
    conv.bias_act(want.reshape(1, m, n, 1), bias, relu, np.float32(cap))
    big, out = _window(np.full((m, n), np.nan, np.float32), 7.0)
    packed.matmul(ap, b, out, bias=bias, relu=relu, cap=cap)
    np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))
    big[1:-1, 2:-3] = 7.0
    assert (big == 7.0).all()
    if relu:  # no bias: -0.0 sums and negative ones stay what bias_act makes of them
        packed.matmul(ap, -np.abs(b), want)
        conv.bias_act(want.reshape(1, m, n, 1), np.zeros(m, np.float32), False, np.float32(cap))
        np.minimum(want * (want > 0), np.float32(cap), out=want)
        packed.matmul(ap, -np.abs(b), out, relu=True, cap=cap)
        np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))
    with pytest.raises(ValueError, match="added"):
        packed.matmul(ap, b, out, accumulate=True, bias=bias)


@pytest.mark.parametrize("n", [1, 2, 3, packed.W + 1, packed.W + 2, packed.W + 3, packed.W + 4, packed.W + 5,
                               packed.NR + 1, packed.NR + 2, packed.NR + 3, packed.NR + 4, packed.NR + packed.W + 1,
                               6 * packed.NR + 4, packed.CHUNK + 1, 2 * packed.CHUNK + 4])
def test_every_column_is_the_same_chain_whichever_kernel_takes_it(n):
    """A column's sums are the same bits whether a block, a vector, the masked kernel, the last
    block's or vector's extra columns or a column kernel computes them, with the epilogue too: so
    how a product's columns fall (49 = 32 + 16 + 1) never changes a gradient."""
    m, k = 3 * packed.MR + 5, 300
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    bias = rng.standard_normal(m).astype(np.float32)
    ap = packed.pack(a)
    for extra in ({}, {"bias": bias, "relu": True}):
        # b and the product in windows of larger buffers (NaN and 7.0 around them): a kernel that
        # reads a column past b's rows, or writes one past the product's, fails here
        big, view = _window(np.zeros((m, n), np.float32), 7.0)
        packed.matmul(ap, _window(b, np.nan)[1], view, **extra)
        whole = view.copy()
        view[...] = 7.0
        assert (big == 7.0).all()
        for j in range(n):
            alone = np.empty((m, 1), np.float32)
            packed.matmul(ap, np.ascontiguousarray(b[:, j:j + 1]), alone, **extra)
            np.testing.assert_array_equal(whole[:, j].view(np.uint32), alone[:, 0].view(np.uint32), err_msg=f"column {j}")
        lead = n - n % packed.W
        if lead:  # the same columns without the last few: blocks and vectors only
            part = np.empty((m, lead), np.float32)
            packed.matmul(ap, np.ascontiguousarray(b[:, :lead]), part, **extra)
            np.testing.assert_array_equal(whole[:, :lead].view(np.uint32), part.view(np.uint32))


def test_matmul_of_a_transposed_view():
    # conv.py packs w.T (a Fortran-order view) for the backward
    rng = np.random.default_rng(2)
    w = rng.standard_normal((64, 147)).astype(np.float32)
    gy = rng.standard_normal((64, 49)).astype(np.float32)
    out = np.empty((147, 49), np.float32)
    packed.matmul(packed.pack(w.T), gy, out)
    np.testing.assert_allclose(out, w.T.astype(np.float64) @ gy, rtol=0, atol=2e-5 * 8)


@pytest.mark.parametrize("s,m,k,n", [(16, 37, 29, 53), (36, 64, 32, 56), (16, 8, 1, packed.NR), (4, 70, 9, 49),
                                     (3, 37, 5, 50)])
@pytest.mark.parametrize("pad", [0, 11], ids=["contiguous", "padded-rows"])
def test_matmul_stacked(s, m, k, n, pad):
    # padded: b's and out's rows (and stack entries) further apart than n, as Winograd's V and M
    # lie (each image's columns on whole cache lines); nothing past n may be written
    rng = np.random.default_rng(s + m)
    a = rng.standard_normal((s, m, k)).astype(np.float32)
    b = np.full((s, k + 1, n + pad), np.nan, np.float32)[:, :k, :n]
    b[...] = rng.standard_normal((s, k, n))
    whole = np.full((s, m + 1, n + pad), np.nan, np.float32)
    out = whole[:, :m, :n]
    packed.matmul_stacked(packed.pack(a), b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=0, atol=2e-5 * np.sqrt(k))
    assert np.isnan(whole[:, m:]).all() and np.isnan(whole[:, :, n:]).all()


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


def test_packed_weights_and_the_backends_buffers_start_on_cache_lines(model_path):
    """NumPy puts a large array 16 bytes into a page, so every 64-byte vector of its rows would
    straddle two cache lines: pack's output, the CPU backend's empty and zeros, and so every buffer
    a plan allocates (values, gradients, scratch; views into them aside) start on 64 bytes."""
    from classviz.kernels import cpu
    for shape in [(1 << 18,), (3, 5), (2, 64, 56, 56), ()]:
        for make in (cpu.empty, cpu.zeros):
            a = make(shape, np.float32)
            assert a.shape == shape and a.dtype == np.float32 and a.flags.c_contiguous and a.ctypes.data % 64 == 0
        assert not cpu.zeros(shape, np.float64).any()
    assert packed.pack(np.ones((300, 1000), np.float32)).ctypes.data % 64 == 0
    assert packed.pack(np.ones((16, 24, 40), np.float32)).ctypes.data % 64 == 0
    plan = classviz.load(model_path("bvlc_aux", 8), backend="cpu").plan("main", (1, 3, 224, 224))
    # a buffer of its own is a view of a byte array 64 bytes longer (aligned.py); the rest are views into those
    owned = [a for a in (*plan.values.values(), *plan.grads.values(), plan.work)
             if a is not None and a.base is not None and a.base.nbytes - a.nbytes == 64]
    assert len(owned) > 50 and all(a.ctypes.data % 64 == 0 for a in owned)
