"""Every CPU op's backward is the adjoint of its forward linearisation: <J u, v> = <u, J^T v>,
checked in float64 on random data, odd sizes, ceil-mode edges and asymmetric pads
(relative error < 1e-10). Accumulating backwards must add exactly what they would write."""
import numpy as np
import pytest

from classviz.kernels import geometry
from classviz.kernels.cpu import activation, add, affine, avgpool, concat, conv, gemm, lrn, maxpool, mul, relu, winograd
from classviz.errors import ArgumentError
from classviz.kernels.shared import ACTIVATIONS

TOL = 1e-10
rng = np.random.default_rng(1234)


def close(ju, v, u, jtv):
    """<ju, v> == <u, jtv> to TOL relative to ||ju|| ||v||, which bounds both inner products: an
    inner product that happens to nearly cancel must not read as an error (it did, at 2e-10 of
    itself), while a wrong backward misses by about ||ju|| ||v|| / sqrt(size), far above TOL."""
    a, b = np.vdot(ju, v), np.vdot(u, jtv)
    scale = max(np.linalg.norm(ju) * np.linalg.norm(v), np.linalg.norm(u) * np.linalg.norm(jtv), 1e-300)
    assert abs(a - b) <= TOL * scale, (a, b, abs(a - b) / scale)


def check_accumulate(backward, gx_shape):
    """backward(gx, accumulate) must give base + fresh when accumulating onto base."""
    fresh = np.zeros(gx_shape)
    backward(fresh, False)
    base = rng.standard_normal(gx_shape)
    acc = base.copy()
    backward(acc, True)
    np.testing.assert_allclose(acc, base + fresh, rtol=1e-12, atol=1e-12)


CONVS = [  # (N, Cin, H, W, Cout, kernel, strides, pads t/l/b/r, dilations, group)
    (2, 5, 9, 7, 4, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (1, 3, 11, 13, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 4, 10, 9, 3, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1),
    (1, 3, 17, 15, 4, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1),
    (2, 3, 8, 11, 5, (3, 2), (2, 1), (0, 1, 2, 0), (1, 1), 1),
    (1, 4, 12, 10, 6, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1),
    (2, 6, 9, 9, 4, (3, 3), (1, 2), (1, 0, 1, 1), (1, 1), 2),
    (1, 4, 7, 7, 4, (1, 1), (2, 2), (0, 0, 1, 1), (1, 1), 1),
    (2, 3, 9, 8, 4, (1, 1), (2, 3), (0, 0, 0, 0), (1, 1), 1),     # unpadded strided 1x1: a subsample (im2col.py)
    (1, 3, 16, 14, 4, (3, 3), (2, 3), (1, 2, 0, 1), (2, 1), 1),   # dilated and strided: taps share phases
    (2, 2, 19, 17, 3, (5, 4), (3, 2), (2, 1, 2, 3), (1, 1), 1),
    # 3x3 stride 1 with outputs of 14x14 or more runs by Winograd: odd sizes, asymmetric pads,
    # no pads, pads of 2 (pads past 2 and small outputs go by im2col)
    (3, 4, 17, 14, 5, (3, 3), (1, 1), (0, 2, 1, 0), (1, 1), 1),
    (2, 3, 15, 16, 4, (3, 3), (1, 1), (2, 2, 2, 2), (1, 1), 1),
    (1, 2, 16, 17, 3, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (1, 2, 14, 14, 3, (3, 3), (1, 1), (3, 3, 3, 3), (1, 1), 1),
    # 5x5 stride 1 from 14x14 up by F(2x2, 5x5): odd sizes, asymmetric pads, pads of 4 (pads
    # past 4 go by im2col)
    (2, 3, 17, 15, 4, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1),
    (1, 4, 18, 19, 3, (5, 5), (1, 1), (0, 3, 1, 0), (1, 1), 1),
    (3, 2, 14, 16, 5, (5, 5), (1, 1), (4, 4, 4, 4), (1, 1), 1),
    (1, 2, 14, 14, 3, (5, 5), (1, 1), (5, 5, 5, 5), (1, 1), 1),
    # depthwise (depthwise.py): one input channel per group, 1 or 2 outputs each, strides,
    # asymmetric pads (a folded Pad), dilation, pads wider than the kernel's reach
    (2, 4, 9, 8, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4),
    (1, 3, 11, 10, 6, (5, 5), (2, 2), (0, 1, 2, 2), (1, 1), 3),
    (2, 3, 13, 12, 3, (3, 3), (2, 1), (0, 0, 1, 1), (2, 2), 3),
    (1, 2, 6, 7, 2, (3, 3), (3, 3), (4, 4, 4, 4), (1, 1), 2),
    (2, 3, 21, 18, 3, (5, 5), (1, 2), (2, 1, 2, 3), (1, 1), 3),
    (1, 4, 9, 11, 4, (3, 5), (2, 1), (1, 0, 2, 2), (2, 1), 4),
    # stride 1 (channels last: a gather backward over gy zero-padded): asymmetric pads with
    # dilation, pads past the kernel's reach (outputs that see only padding), a 5x3 kernel
    (1, 3, 10, 9, 3, (3, 3), (1, 1), (0, 2, 2, 1), (2, 2), 3),
    (1, 2, 6, 5, 2, (3, 3), (1, 1), (3, 0, 4, 1), (1, 1), 2),
    (2, 2, 7, 8, 2, (5, 3), (1, 1), (4, 0, 1, 2), (1, 1), 2),
]


@pytest.fixture(params=[2, 4], ids=["F2x2", "F4x4"])
def tiles(request, monkeypatch):
    """Winograd's output tile side for every usable layer of a test (GoogLeNet's own sizes pick
    4 only from 28x28 up, which no test case reaches)."""
    monkeypatch.setattr(winograd, "BIG_TILES_FROM", 1 if request.param == 4 else 10 ** 9)
    return request.param


@pytest.mark.parametrize("case", CONVS)
@pytest.mark.parametrize("min_tiles", [None, 1])
def test_conv(case, min_tiles, tiles, monkeypatch):
    n, cin, h, w, cout, k, s, p, d, g = case
    if min_tiles:  # Winograd layers then take one image per GEMM
        monkeypatch.setattr(winograd, "MIN_TILES", min_tiles)
    win = geometry.conv_window(k, s, p, d, h, w)
    assert winograd.usable(win, g) == (k in ((3, 3), (5, 5)) and s == (1, 1) and d == (1, 1) and g == 1 and
                                       max(p) <= k[0] - 1 and min(win.Ho, win.Wo) >= 14)
    cw = conv.prepare(rng.standard_normal((cout, cin // g) + k), np.zeros(cout), win, g, np.asarray)
    work = np.empty(conv.work_size(cw, n))
    u = rng.standard_normal((n, cin, h, w))
    v = rng.standard_normal((n, cout, win.Ho, win.Wo))
    ju = np.empty_like(v)
    conv.forward(u, cw, ju, False, work)
    jtv = np.empty_like(u)
    conv.backward(v, cw, jtv, False, work)
    close(ju, v, u, jtv)
    check_accumulate(lambda gx, a: conv.backward(v, cw, gx, a, work), u.shape)
    # after a fused ReLU, J = diag(y > 0) C with y the forward's output, which the backward takes
    # as relu_out (Winograd applies it in its phase split; gy may be overwritten, so copies)
    y = rng.standard_normal(v.shape)
    conv.backward(v.copy(), cw, jtv, False, work, relu_out=y)
    close(ju * (y > 0), v, u, jtv)
    check_accumulate(lambda gx, a: conv.backward(v.copy(), cw, gx, a, work, relu_out=y), u.shape)
    # a fused clipped ReLU (ReLU6 with cap 6; here 0.7): J = diag(0 < y < cap) C
    conv.backward(v.copy(), cw, jtv, False, work, relu_out=y, relu=0.7)
    close(ju * ((y > 0) & (y < 0.7)), v, u, jtv)
    check_accumulate(lambda gx, a: conv.backward(v.copy(), cw, gx, a, work, relu_out=y, relu=0.7), u.shape)


@pytest.mark.parametrize("case", [c for c in CONVS if c[9] > 1 and c[1] == c[9]])
@pytest.mark.parametrize("small", [0, 10 ** 6], ids=["rows", "channels-last"])
def test_depthwise_both_layouts(case, small, monkeypatch):
    """depthwise.py's two loop layouts (padded rows split by phase; channels last) on each
    depthwise case, against the direct sum forward and by the adjoint identity backward."""
    from classviz.kernels.cpu import depthwise
    monkeypatch.setattr(depthwise, "SMALL", small)
    n, cin, h, w, cout, k, s, p, d, g = case
    win = geometry.conv_window(k, s, p, d, h, w)
    wt, b = rng.standard_normal((cout, 1) + k), rng.standard_normal(cout)
    cw = conv.prepare(wt, b, win, g, np.asarray)
    assert cw.dw is not None
    work = np.empty(conv.work_size(cw, n))
    x = rng.standard_normal((n, cin, h, w))
    y = np.empty((n, cout, win.Ho, win.Wo))
    conv.forward(x, cw, y, False, work)
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[2] + 8), (p[1], p[3] + 8)))
    ref = np.empty_like(y)
    for o in range(cout):
        for oy in range(win.Ho):
            for ox in range(win.Wo):
                patch = xp[:, o // (cout // cin), oy * s[0]:oy * s[0] + (k[0] - 1) * d[0] + 1:d[0],
                           ox * s[1]:ox * s[1] + (k[1] - 1) * d[1] + 1:d[1]]
                ref[:, o, oy, ox] = (patch * wt[o, 0]).sum((1, 2)) + b[o]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    for relu, want in ((True, np.maximum(ref, 0)), (0.5, np.clip(ref, 0, 0.5))):
        conv.forward(x, cw, y, relu, work)
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    cw0 = conv.prepare(wt, np.zeros(cout), win, g, np.asarray)
    v = rng.standard_normal(y.shape)
    conv.forward(x, cw0, y, False, work)
    jtv = np.empty_like(x)
    conv.backward(v, cw0, jtv, False, work)
    close(y, v, x, jtv)
    check_accumulate(lambda gx, a: conv.backward(v, cw0, gx, a, work), x.shape)


@pytest.mark.parametrize("case", [c for c in CONVS if c[9] > 1 and c[1] == c[9]])
@pytest.mark.parametrize("small", [0, 10 ** 6], ids=["rows", "channels-last"])
@pytest.mark.parametrize("cap", [np.inf, 0.5], ids=["relu", "relu-capped"])
def test_depthwise_applies_both_masks(case, small, cap, monkeypatch):
    """A depthwise backward given its own fused activation's output (relu_out) and its input's
    (x, x_relu: a layer before it fused a ReLU) returns exactly (its transposed convolution of
    gy * (0 < y < cap)) * (0 < x < cap), what masking before and after as passes of their own
    gives, on both loop layouts; accumulating, the input mask applies to the sum."""
    from classviz.kernels.cpu import depthwise
    monkeypatch.setattr(depthwise, "SMALL", small)
    n, cin, h, w, cout, k, s, p, d, g = case
    r = np.random.default_rng(3)  # its own stream: the case must see zeros in y, whatever ran before
    win = geometry.conv_window(k, s, p, d, h, w)
    cw = conv.prepare(r.standard_normal((cout, 1) + k), r.standard_normal(cout), win, g, np.asarray)
    work = np.empty(conv.work_size(cw, n))
    relu = True if cap == np.inf else cap
    x = np.clip(r.standard_normal((n, cin, h, w)), 0, cap)  # an activation's output: zeros, caps, between
    y = np.empty((n, cout, win.Ho, win.Wo))
    conv.forward(x, cw, y, relu, work)
    assert 0 < (y == 0).mean() < 1 and 0 < (x == 0).mean() < 1
    gy = r.standard_normal(y.shape)
    want = np.empty_like(x)
    conv.backward(gy * ((y > 0) & (y < cap)), cw, want, False, work)
    want *= (x > 0) & (x < cap)
    got = np.full_like(x, np.nan)
    conv.backward(gy.copy(), cw, got, False, work, relu_out=y, relu=relu, x=x, x_relu=relu)
    np.testing.assert_array_equal(got, want)
    base = r.standard_normal(x.shape)
    want = base.copy()
    conv.backward(gy.copy(), cw, want, True, work)
    want *= (x > 0) & (x < cap)
    got = base.copy()
    conv.backward(gy.copy(), cw, got, True, work, x=x, x_relu=relu)
    np.testing.assert_array_equal(got, want)
    assert not conv.masks_input(cw, True)  # that mask is a pass after the sum: not one the plan hands on


@pytest.mark.parametrize("case", [CONVS[3], (2, 3, 5, 6, 4, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1)],
                         ids=["cols", "pointwise"])
def test_conv_input_mask_as_a_pass(case):
    """Where `masks_input` is False the backward still honours x, x_relu (a pass after the dgrad)."""
    n, cin, h, w, cout, k, s, p, d, g = case
    win = geometry.conv_window(k, s, p, d, h, w)
    cw = conv.prepare(rng.standard_normal((cout, cin // g) + k), rng.standard_normal(cout), win, g, np.asarray)
    assert not conv.masks_input(cw)
    work = np.empty(conv.work_size(cw, n))
    x = np.clip(rng.standard_normal((n, cin, h, w)), 0, 0.5)
    gy = rng.standard_normal((n, cout, win.Ho, win.Wo))
    want, got = np.empty_like(x), np.empty_like(x)
    conv.backward(gy.copy(), cw, want, False, work)
    want *= (x > 0) & (x < 0.5)
    conv.backward(gy.copy(), cw, got, False, work, x=x, x_relu=0.5)
    np.testing.assert_array_equal(got, want)


RESIDUAL_CASES = [CONVS[0], CONVS[3], CONVS[8], CONVS[12], (1, 3, 29, 30, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
                  CONVS[16], (1, 6, 9, 9, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 6),
                  (1, 40, 7, 7, 19, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
                  (2, 17, 1, 2, 9, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", RESIDUAL_CASES,
                         ids=["pointwise", "cols", "subsample", "winograd2", "winograd4", "winograd5", "depthwise",
                              "pointwise49", "pointwise2"])
def test_residual_and_accumulated_input_mask_are_the_passes_they_replace(case, dtype):
    """conv.forward with a residual is the layer, then add.py's forward (the Add the plan folds
    into it) and a cap; conv.backward with an input mask, written or accumulated, is the dgrad,
    then the mask (the pass of the Add's or layer's backward the plan hands on): bit for bit, on
    every path, float32 (the packed GEMM's epilogue: pointwise layers, and im2col's GEMM) and
    float64 (Winograd's output transform applies the mask in both). The 1x1 cases' widths (63,
    49, 2 columns) take the blocks, the columns that ride along and the column kernels."""
    n, cin, h, w, cout, k, s, p, d, g = case
    r = np.random.default_rng(11)
    win = geometry.conv_window(k, s, p, d, h, w)
    cw = conv.prepare(r.standard_normal((cout, cin // g) + k).astype(dtype), r.standard_normal(cout).astype(dtype),
                      win, g, np.asarray)
    work = np.empty(conv.work_size(cw, n), dtype)
    x = r.standard_normal((n, cin, h, w)).astype(dtype)
    shape = (n, cout, win.Ho, win.Wo)
    res = r.standard_normal(shape).astype(dtype)
    for act in (False, True, 0.5):  # conv.forward's relu flag (not the relu module)
        want = np.empty(shape, dtype)
        conv.forward(x, cw, want, False, work)
        add.forward(want, res, want, act is not False)
        if act is not True:
            np.minimum(want, act if act else np.inf, out=want)
        got = np.full(shape, np.nan, dtype)
        conv.forward(x, cw, got, act, work, residual=res)
        assert 0 < (got == 0).mean() < 1 or act is False
        np.testing.assert_array_equal(got, want, err_msg=f"relu={act}")
    gy = r.standard_normal(shape).astype(dtype)
    xa = np.clip(x, 0, 0.5)  # an activation's output: zeros, caps, between
    for cap in (True, 0.5):
        for acc in (False, True):
            base = r.standard_normal(x.shape).astype(dtype)
            want = base.copy()
            conv.backward(gy.copy(), cw, want, acc, work)
            keep = (xa > 0) if cap is True else (xa > 0) & (xa < cap)
            want *= keep
            got = base.copy()
            conv.backward(gy.copy(), cw, got, acc, work, x=xa, x_relu=cap)
            np.testing.assert_array_equal(got, want, err_msg=f"cap={cap} acc={acc}")
    pointwise = k == (1, 1) and s == (1, 1) and not any(p)
    assert conv.masks_input(cw, True) == ((dtype == np.float32 and conv.packed.PAYS and pointwise)
                                          or winograd.usable(win, g))


@pytest.mark.parametrize("case", [c for c in CONVS if c[9] == 1])
def test_conv_forward_matches_direct_sum(case, tiles):
    n, cin, h, w, cout, k, s, p, d, g = case
    win = geometry.conv_window(k, s, p, d, h, w)
    if winograd.usable(win, g):
        assert winograd.tile(win) == (tiles if k == (3, 3) else 2)
    wt, b = rng.standard_normal((cout, cin) + k), rng.standard_normal(cout)
    cw = conv.prepare(wt, b, win, 1, np.asarray)
    x = rng.standard_normal((n, cin, h, w))
    y = np.empty((n, cout, win.Ho, win.Wo))
    conv.forward(x, cw, y, False, np.empty(conv.work_size(cw, n)))
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[2] + 8), (p[1], p[3] + 8)))
    ref = np.zeros_like(y)
    for oy in range(win.Ho):
        for ox in range(win.Wo):
            y0, x0 = oy * s[0], ox * s[1]
            patch = xp[:, :, y0:y0 + (k[0] - 1) * d[0] + 1:d[0], x0:x0 + (k[1] - 1) * d[1] + 1:d[1]]
            ref[:, :, oy, ox] = np.einsum("nchw,ochw->no", patch, wt) + b
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    conv.forward(x, cw, y, True, np.empty(conv.work_size(cw, n)))
    np.testing.assert_allclose(y, np.maximum(ref, 0), rtol=1e-12, atol=1e-12)
    conv.forward(x, cw, y, 0.5, np.empty(conv.work_size(cw, n)))  # a clipped ReLU, cap 0.5
    np.testing.assert_allclose(y, np.clip(ref, 0, 0.5), rtol=1e-12, atol=1e-12)


POOLS = [  # (N, C, H, W, kernel, strides, pads, ceil_mode)
    (2, 3, 11, 9, (3, 3), (2, 2), (0, 0, 0, 0), 1),
    (1, 4, 14, 14, (3, 3), (2, 2), (0, 0, 1, 1), 0),
    (2, 3, 7, 8, (3, 3), (1, 1), (1, 1, 1, 1), 1),
    (1, 2, 13, 10, (5, 5), (3, 3), (0, 0, 0, 0), 1),
    (1, 3, 9, 12, (2, 3), (2, 2), (1, 0, 0, 2), 1),
    (2, 2, 16, 16, (2, 2), (2, 2), (0, 0, 0, 0), 1),
    # 3x3, stride 1, padding 1 (maxpool's own path): the smallest plane, three blocks of planes
    # (the last short), a wide one
    (2, 3, 3, 3, (3, 3), (1, 1), (1, 1, 1, 1), 0),
    (1, 37, 6, 5, (3, 3), (1, 1), (1, 1, 1, 1), 0),
    (1, 2, 4, 17, (3, 3), (1, 1), (1, 1, 1, 1), 0),
    # 3x3, stride 2, output rows of STRIDE2_FROM or more (maxpool's plane-by-plane path): ceil
    # mode's clipped last window, ResNet's stem padding, uneven padding
    (1, 2, 29, 30, (3, 3), (2, 2), (0, 0, 0, 0), 1),
    (2, 3, 28, 31, (3, 3), (2, 2), (1, 1, 1, 1), 0),
    (1, 2, 30, 28, (3, 3), (2, 2), (1, 0, 0, 1), 1),
]


@pytest.mark.parametrize("case", POOLS)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("block,one_set", [(None, False), (40, False), (40, True), (250, False)])
def test_maxpool(case, ties, block, one_set, monkeypatch):
    n, c, h, w, k, s, p, ceil = case
    if block:  # blocks of one plane or less, or (250) of two planes for most cases, so that the last
        # block of three channels is short: the forward walks the channels block by block
        monkeypatch.setattr(maxpool, "BLOCK", block)
    win = geometry.pool_window(k, s, p, ceil, h, w)
    # ties: values from {0, 1, 2}, so most windows hold several maxima and the first must win
    x = rng.integers(0, 3, (n, c, h, w)).astype(float) if ties else rng.standard_normal((n, c, h, w))
    y = np.empty((n, c, win.Ho, win.Wo))
    am = np.empty(y.shape, np.int32)
    # one_set: scratch for one thread only, which then takes every block itself
    size = maxpool.work_size(win, c) // maxpool._sets(win, c) if one_set else maxpool.work_size(win, c)
    maxpool.forward(x, win, y, am, np.empty(size))
    # the plain reference: first maximum of each clipped window, row-major
    for (i, j, oy, ox), val in np.ndenumerate(y):
        y0, x0 = oy * s[0] - p[0], ox * s[1] - p[1]
        patch = x[i, j, max(y0, 0):min(y0 + k[0], h), max(x0, 0):min(x0 + k[1], w)]
        assert val == patch.max()
        py, px = np.unravel_index(np.argmax(patch), patch.shape)
        assert am[i, j, oy, ox] == (max(y0, 0) + py) * w + max(x0, 0) + px
    u, v = rng.standard_normal(x.shape), rng.standard_normal(y.shape)
    ju = np.take_along_axis(u.reshape(n, c, -1), am.reshape(n, c, -1).astype(np.int64), 2).reshape(y.shape)
    jtv = np.empty_like(x)
    maxpool.backward(v, win, jtv, am, False)
    close(ju, v, u, jtv)
    check_accumulate(lambda gx, a: maxpool.backward(v, win, gx, am, a), x.shape)


@pytest.mark.parametrize("case", POOLS)
@pytest.mark.parametrize("cap", [np.inf, 0.5], ids=["relu", "relu-capped"])
def test_maxpool_applies_its_inputs_mask(case, cap):
    """Given its output y, the backward returns exactly its plain backward times the input's
    mask (0 < x < cap), what the fused activation before it would apply as a pass of its own: each
    window's gradient times (0 < y < cap) of its winner. Inputs with zeros and caps in windows
    (a ReLU's output), ties among them; accumulating with the mask is refused."""
    n, c, h, w, k, s, p, ceil = case
    win = geometry.pool_window(k, s, p, ceil, h, w)
    r = np.random.default_rng(5)
    x = np.clip(r.standard_normal((n, c, h, w)), 0, cap)
    y, am = np.empty((n, c, win.Ho, win.Wo)), np.empty((n, c, win.Ho, win.Wo), np.int32)
    maxpool.forward(x, win, y, am, np.empty(maxpool.work_size(win, c)))
    assert 0 < (y == 0).mean() < 1 or min(k) > 2
    gy = r.standard_normal(y.shape)
    want = np.empty_like(x)
    maxpool.backward(gy, win, want, am, False)
    want *= (x > 0) & (x < cap)
    got = np.full_like(x, np.nan)
    maxpool.backward(gy, win, got, am, False, y, cap)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ArgumentError, match="alone"):
        maxpool.backward(gy, win, got, am, True, y, cap)


def test_maxpool_same_size_path_matches_the_padded_one_bit_for_bit():
    # the 3x3 stride-1 pool with an output laid out per image goes its own way (no copy into a
    # padded buffer); into a channel slice of a larger buffer it goes the padded way: same bits
    x = rng.standard_normal((2, 21, 9, 11)).astype(np.float32)
    x[0, 3] = 1.0  # a plane of ties
    win = geometry.pool_window((3, 3), (1, 1), (1, 1, 1, 1), 0, 9, 11)
    work = np.empty(maxpool.work_size(win, 21), np.float32)
    y, am = np.empty(x.shape, np.float32), np.empty(x.shape, np.int32)
    maxpool.forward(x, win, y, am, work)
    wide = np.full((2, 30, 9, 11), np.nan, np.float32)
    maxpool.forward(x, win, wide[:, 4:25], am2 := np.empty(x.shape, np.int32), work)
    np.testing.assert_array_equal(y, wide[:, 4:25])
    np.testing.assert_array_equal(am, am2)
    assert np.isnan(wide[:, :4]).all() and np.isnan(wide[:, 25:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_stride2_path_matches_the_blocks_bit_for_bit(dtype, monkeypatch):
    # GoogLeNet's pool1 and pool2 shapes, fewer planes: the plane-by-plane path against the blocks
    # of padded phases (the path it stood in for), values and winners, with ties (a ReLU's zeros
    # and a plane of equal values); into a channel slice of a larger buffer it takes the blocks
    for c, h in ((5, 112), (7, 56)):
        win = geometry.pool_window((3, 3), (2, 2), (0, 0, 0, 0), 1, h, h)
        assert maxpool._stride2(win)
        x = np.maximum(rng.standard_normal((2, c, h, h)), 0).astype(dtype)
        x[1, 2] = 0.5
        work = np.empty(maxpool.work_size(win, c), dtype)
        y, am = np.empty((2, c, win.Ho, win.Wo), dtype), np.empty((2, c, win.Ho, win.Wo), np.int32)
        maxpool.forward(x, win, y, am, work)
        wide = np.full((2, c + 3, win.Ho, win.Wo), np.nan, dtype)
        maxpool.forward(x, win, wide[:, 1:c + 1], am2 := np.empty_like(am), work)
        monkeypatch.setattr(maxpool, "STRIDE2_FROM", 10 ** 6)
        y3, am3 = np.empty_like(y), np.empty_like(am)
        maxpool.forward(x, win, y3, am3, work)
        monkeypatch.undo()
        for got, winners in ((y, am), (wide[:, 1:c + 1], am2)):
            np.testing.assert_array_equal(got, y3)
            np.testing.assert_array_equal(winners, am3)


def test_maxpool_ties_go_to_the_first():
    x = np.zeros((1, 1, 4, 4))
    win = geometry.pool_window((3, 3), (1, 1), (1, 1, 1, 1), 0, 4, 4)
    y, am = np.empty((1, 1, 4, 4)), np.empty((1, 1, 4, 4), np.int32)
    maxpool.forward(x, win, y, am, np.empty(maxpool.work_size(win, 1)))
    assert am[0, 0, 2, 2] == 1 * 4 + 1 and am[0, 0, 0, 0] == 0


@pytest.mark.parametrize("case", POOLS)
@pytest.mark.parametrize("include_pad", [False, True])
def test_avgpool(case, include_pad):
    n, c, h, w, k, s, p, ceil = case
    win = geometry.pool_window(k, s, p, ceil, h, w)
    u = rng.standard_normal((n, c, h, w))
    v = rng.standard_normal((n, c, win.Ho, win.Wo))
    ju, jtv = np.empty_like(v), np.empty_like(u)
    avgpool.forward(u, win, include_pad, ju)
    avgpool.backward(v, win, include_pad, jtv, False)
    close(ju, v, u, jtv)
    check_accumulate(lambda gx, a: avgpool.backward(v, win, include_pad, gx, a), u.shape)


def test_global_avgpool():
    u, v = rng.standard_normal((2, 5, 7, 3)), rng.standard_normal((2, 5, 1, 1))
    ju, jtv = np.empty_like(v), np.empty_like(u)
    avgpool.global_forward(u, ju)
    np.testing.assert_allclose(ju[:, :, 0, 0], u.mean(axis=(2, 3)), rtol=1e-12, atol=1e-14)
    avgpool.global_backward(v, jtv, False)
    close(ju, v, u, jtv)


@pytest.mark.parametrize("size,beta", [(5, 0.75), (3, 0.6), (4, 0.75), (1, 1.0)])
def test_lrn(size, beta):
    n, c, h, w = 2, 7, 5, 3
    alpha, bias = 0.3, 1.5  # large alpha so the cross-channel term matters
    x = rng.standard_normal((n, c, h, w)) * 2
    y, scale = np.empty_like(x), np.empty_like(x)
    lrn.forward(x, size, alpha, beta, bias, y, scale)
    lo, hi = (size - 1) // 2, size // 2
    ref_s = np.empty_like(x)
    for ch in range(c):
        ref_s[:, ch] = bias + alpha / size * (x[:, max(0, ch - lo):min(c, ch + hi + 1)] ** 2).sum(1)
    np.testing.assert_allclose(scale, ref_s, rtol=1e-13)
    np.testing.assert_allclose(y, x * ref_s ** -beta, rtol=1e-12)
    # J u from the formula: dy = du*s^-b - b*x*s^(-b-1) * alpha/size * sum_window 2*x*du
    u, v = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    ds = np.empty_like(x)
    for ch in range(c):
        sl = slice(max(0, ch - lo), min(c, ch + hi + 1))
        ds[:, ch] = alpha / size * (2 * x[:, sl] * u[:, sl]).sum(1)
    ju = u * ref_s ** -beta - beta * x * ref_s ** (-beta - 1) * ds
    jtv = np.empty_like(x)
    lrn.backward(v, x, y, scale, size, alpha, beta, jtv, False)
    close(ju, v, u, jtv)
    check_accumulate(lambda gx, a: lrn.backward(v, x, y, scale, size, alpha, beta, gx, a), x.shape)


def test_relu():
    x = rng.standard_normal((2, 3, 5, 7))
    y = np.empty_like(x)
    relu.forward(x, y)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    u, v = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    jtv = np.empty_like(x)
    relu.backward(y, v, jtv, False)
    close(u * (x > 0), v, u, jtv)
    strided = np.empty((2, 6, 5, 7))[:, 1:4]  # a channel slice, as concat placement produces
    relu.backward(y, v, strided, False)
    np.testing.assert_array_equal(strided, jtv)
    check_accumulate(lambda gx, a: relu.backward(y, v, gx, a), x.shape)


@pytest.mark.parametrize("rows", [[3], [0, 12], [2, 5, 8]], ids=["one-hot", "two", "a quarter"])
def test_gemm_backward_reads_only_the_rows_it_needs(rows):
    """A gy that is zero outside a few rows of W (a class score's gradient) takes the path that
    reads only those: adjoint, accumulating, and for one 1 per image exactly that row of W."""
    k, c, n = 13, 11, 3
    w = rng.standard_normal((k, c))
    u, v = rng.standard_normal((n, c)), np.zeros((n, k))
    v[:, rows] = rng.standard_normal((n, len(rows)))
    v[1, rows[0]] = 0.0  # a row another image needs
    ju, jtv = np.empty((n, k)), np.full((n, c), np.nan)
    gemm.forward(u, w, np.zeros(k), ju)
    gemm.backward(v, w, jtv, False)
    close(ju, v, u, jtv)
    check_accumulate(lambda gx, a: gemm.backward(v, w, gx, a), u.shape)
    np.testing.assert_allclose(jtv, v @ w, rtol=1e-13, atol=1e-13)
    onehot, gx = np.zeros((2, k), np.float32), np.full((2, c), np.nan, np.float32)
    onehot[0, rows[-1]], onehot[1, rows[0]] = 1, -2
    gemm.backward(onehot, w.astype(np.float32), gx, False)
    np.testing.assert_array_equal(gx, [w[rows[-1]].astype(np.float32), -2 * w[rows[0]].astype(np.float32)])
    gemm.backward(np.zeros((n, k)), w, jtv, False)  # no row at all
    assert (jtv == 0).all()


@pytest.mark.parametrize("n", [1, 3, 8, 9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_forward_by_rows_and_by_blas(n, dtype):
    """Contiguous arrays take a dot product per row of W and image, views take BLAS: each is
    x @ W.T + b (odd sizes: sums of 1037 terms split over vector lanes)."""
    k, c = 29, 1037
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((n, c), (k, c), (k,)))
    want = x.astype(np.float64) @ w.T.astype(np.float64) + b
    tol = 1e-5 if dtype == np.float32 else 1e-12
    y = np.full((n, k), np.nan, dtype)
    gemm.forward(x, w, b, y)
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol * np.sqrt(c))
    wide = np.full((n, 2 * k), np.nan, dtype)  # y a view with rows apart: BLAS
    gemm.forward(x, w, b, wide[:, ::2])
    np.testing.assert_allclose(wide[:, ::2], want, rtol=tol, atol=tol * np.sqrt(c))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_gives_each_image_the_bits_it_gets_alone(dtype):
    """Forward and backward, each image's row is bit for bit the row it gets in a batch of one,
    whatever shares its batch (a gallery's pictures rely on it; NumPy's OpenBLAS on a Zen 5 sums a
    one-row product in another order than a several-row one); a dense gy (an inner layer's) and a
    sparse one (a class score's), odd sizes, a column block cut short (COLUMNS)."""
    k, c = 1031, gemm.COLUMNS * 2 + 37
    w, b = rng.standard_normal((k, c)).astype(dtype), rng.standard_normal(k).astype(dtype)
    x, dense = rng.standard_normal((6, c)).astype(dtype), rng.standard_normal((6, k)).astype(dtype)
    sparse = np.zeros((6, k), dtype)
    sparse[np.arange(6), [5, 900, 5, 17, 1030, 0]] = [1, -2, 0.5, 1, 3, -1]
    y, gx = np.empty((6, k), dtype), np.empty((6, c), dtype)
    gemm.forward(x, w, b, y)
    for gy in (dense, sparse):
        gemm.backward(gy, w, gx, False)
        for n in range(6):
            y1, gx1 = np.empty((1, k), dtype), np.empty((1, c), dtype)
            gemm.forward(x[n:n + 1], w, b, y1)
            gemm.backward(gy[n:n + 1], w, gx1, False)
            assert np.array_equal(y1[0], y[n]) and np.array_equal(gx1[0], gx[n]), n
        want = gy.astype(np.float64) @ w.astype(np.float64)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(gx, want, rtol=tol, atol=tol * np.abs(want).max())


def test_gemm_affine_concat():
    w, b = rng.standard_normal((5, 9)), rng.standard_normal(5)
    u, v = rng.standard_normal((3, 9)), rng.standard_normal((3, 5))
    ju, jtv = np.empty((3, 5)), np.empty((3, 9))
    gemm.forward(u, w, np.zeros(5), ju)
    gemm.backward(v, w, jtv, False)
    close(ju, v, u, jtv)
    check_accumulate(lambda gx, a: gemm.backward(v, w, gx, a), u.shape)

    scale, shift = rng.standard_normal((3, 1, 1)), np.zeros((3, 1, 1))
    u, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    ju, jtv = np.empty_like(u), np.empty_like(u)
    affine.forward(u, scale, shift, ju)
    affine.backward(v, scale, jtv, False)
    close(ju, v, u, jtv)

    u, big = rng.standard_normal((2, 3, 4, 5)), np.zeros((2, 7, 4, 5))
    concat.forward(u, 2, big)
    v = rng.standard_normal(big.shape)
    jtv = np.empty_like(u)
    concat.backward(v, 2, jtv, False)
    close(big, v, u, jtv)


@pytest.mark.parametrize("size,k,s,pb,pe,ceil,want", [
    (112, 3, 2, 0, 0, 1, 56), (112, 3, 2, 0, 1, 0, 56), (14, 5, 3, 0, 0, 1, 4), (16, 5, 3, 0, 0, 1, 5),
    (7, 2, 2, 0, 0, 1, 4), (6, 3, 2, 1, 1, 1, 4), (5, 3, 3, 1, 1, 1, 2)])
def test_pool_output_size(size, k, s, pb, pe, ceil, want):
    assert geometry.pool_out(size, k, s, pb, pe, ceil) == want


def test_add():
    u1, u2 = rng.standard_normal((2, 3, 5, 7)), rng.standard_normal((2, 3, 5, 7))
    v = rng.standard_normal(u1.shape)
    y = np.empty_like(u1)
    add.forward(u1, u2, y, False)
    np.testing.assert_array_equal(y, u1 + u2)
    g1 = np.empty_like(u1)
    add.backward(v, g1, False)
    close(y, v, np.concatenate([u1, u2]), np.concatenate([g1, g1]))  # J = [I I]
    check_accumulate(lambda gx, a: add.backward(v, gx, a), u1.shape)
    # with the ReLU after it fused: y = max(a + b, 0), J = diag(y > 0) [I I]
    add.forward(u1, u2, y, True)
    np.testing.assert_array_equal(y, np.maximum(u1 + u2, 0))
    add.backward(v, g1, False, relu_out=y)
    close(y, v * (y > 0), np.concatenate([u1, u2]), np.concatenate([g1, g1]))
    check_accumulate(lambda gx, a: add.backward(v, gx, a, relu_out=y), u1.shape)


@pytest.mark.parametrize("acc1,acc2", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("relu", [False, True])
def test_add_backward_to_both_inputs(acc1, acc2, relu):
    """The two-input backward (one pass) writes or adds, each input on its own, exactly what a
    pass per input does; the first input's buffer is a channel slice (any strides)."""
    v = rng.standard_normal((2, 3, 5, 7))
    y = np.maximum(rng.standard_normal(v.shape), 0) if relu else None
    base1, base2 = rng.standard_normal((2, 5, 5, 7)), rng.standard_normal(v.shape)
    want1, want2 = base1.copy(), base2.copy()
    add.backward(v, want1[:, 1:4], acc1, y)
    add.backward(v, want2, acc2, y)
    got1, got2 = base1.copy(), base2.copy()
    add.backward(v, got1[:, 1:4], acc1, y, got2, acc2)
    np.testing.assert_array_equal(got1, want1)
    np.testing.assert_array_equal(got2, want2)


@pytest.mark.parametrize("gate", [False, True], ids=["same-shape", "per-channel"])
def test_mul(gate):
    """The linearisation of a*b at (a0, b0) is da*b0 + a0*db: checked by the adjoint identity on
    (da, db) jointly, both for b of a's shape and for a (N, C, 1, 1) gate."""
    a0 = rng.standard_normal((2, 3, 5, 7))
    b0 = rng.standard_normal((2, 3, 1, 1) if gate else a0.shape)
    da, db = rng.standard_normal(a0.shape), rng.standard_normal(b0.shape)
    v = rng.standard_normal(a0.shape)
    y = np.empty_like(a0)
    mul.forward(a0, b0, y)
    np.testing.assert_allclose(y, a0 * b0, rtol=1e-15)
    ju = da * b0 + a0 * db
    ga, gb = np.empty_like(a0), np.empty_like(b0)
    mul.backward(v, a0, b0, ga, gb, False, False)
    close(ju, v, np.concatenate([da.ravel(), db.ravel()]), np.concatenate([ga.ravel(), gb.ravel()]))
    check_accumulate(lambda gx, acc: mul.backward(v, a0, b0, gx, None, acc, False), a0.shape)
    check_accumulate(lambda gx, acc: mul.backward(v, a0, b0, None, gx, False, acc), b0.shape)


def test_mul_of_a_tensor_by_itself():
    """x * x: the plan hands the same gradient buffer twice, the second accumulating: 2 x v."""
    x, v = rng.standard_normal((1, 2, 3, 4)), rng.standard_normal((1, 2, 3, 4))
    g = np.empty_like(x)
    mul.backward(v, x, x, g, g, False, True)
    np.testing.assert_allclose(g, 2 * x * v, rtol=1e-14)


ACTIVATION_PARAMS = {"sigmoid": (0.0, 0.0), "hardsigmoid": (0.2, 0.5), "hardswish": (1 / 6, 0.5), "clip": (-0.7, 1.3),
                     "silu": (0.0, 0.0)}


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_activation(kind):
    """Each activation against its formula, and its backward against central differences of the
    forward (float64, points away from the kinks)."""
    k, (alpha, beta) = ACTIVATIONS.index(kind), ACTIVATION_PARAMS[kind]
    x = rng.standard_normal((2, 3, 5, 7)) * 3
    y = np.empty_like(x)
    activation.forward(x, k, alpha, beta, y)
    h = np.clip(alpha * x + beta, 0, 1)
    want = {"sigmoid": 1 / (1 + np.exp(-x)), "hardsigmoid": h, "hardswish": x * h,
            "clip": np.clip(x, alpha, beta), "silu": x / (1 + np.exp(-x))}[kind]
    np.testing.assert_allclose(y, want, rtol=1e-14, atol=1e-15)
    v = rng.standard_normal(x.shape)
    g = np.empty_like(x)
    activation.backward(x, y, v, k, alpha, beta, g, False)
    eps = 1e-6
    yp, ym = np.empty_like(x), np.empty_like(x)
    activation.forward(x + eps, k, alpha, beta, yp)
    activation.forward(x - eps, k, alpha, beta, ym)
    np.testing.assert_allclose(g, v * (yp - ym) / (2 * eps), rtol=1e-7, atol=1e-7)
    assert np.count_nonzero(g) > x.size // 5  # the derivative is not zero everywhere
    check_accumulate(lambda gx, a: activation.backward(x, y, v, k, alpha, beta, gx, a), x.shape)


@pytest.mark.parametrize("kind", ["sigmoid", "silu"])
def test_float32_exp_activations(kind):
    """float32 sigmoid and SiLU (their exp a vectorised loop of activation.py's own, not libm's):
    within 4 float32 ulps of the float64 formula where the value is not tiny, to 1e-36 where it
    is, across exp's whole float32 range and past it (+-200, +-88.5), on both the flat path and the
    strided one (libm's exp, as reference), forward and SiLU's backward, overwriting and
    accumulating; zeros, not subnormals, past exp's range; NaN stays NaN. The module's kind numbers are ACTIVATIONS'."""
    assert (activation.SIGMOID, activation.SILU) == (ACTIVATIONS.index("sigmoid"), ACTIVATIONS.index("silu"))
    k, (alpha, beta) = ACTIVATIONS.index(kind), ACTIVATION_PARAMS[kind]
    x = np.concatenate([np.linspace(-100, 100, 40_001), rng.standard_normal(20_000) * 5,
                        [-200, 200, -88.5, 88.5, -87.4, 88.4, 0, -0.0, 1e-30, np.nan]]).astype(np.float32)
    x = np.pad(x, (0, -x.size % 70)).reshape(-1, 2, 5, 7)
    x64 = x.astype(np.float64)
    s64 = 1 / (1 + np.exp(-x64))
    want = s64 if kind == "sigmoid" else x64 * s64
    y = np.empty_like(x)
    activation.forward(x, k, alpha, beta, y)
    strided = np.empty((x.shape[0], 4, 5, 7), np.float32)[:, 1:3]  # not contiguous: the libm path
    activation.forward(x, k, alpha, beta, strided)

    def close(got, ref):
        finite = np.isfinite(ref)
        assert np.array_equal(np.isnan(got), np.isnan(ref))
        err = np.abs(got[finite] - ref[finite])
        assert (err <= np.maximum(4 * np.spacing(np.abs(ref[finite]).astype(np.float32)), 1e-36)).all(), err.max()
    close(y, want)
    close(strided, want)
    # past the exp's clamp (exp(-x) > 2e38) the values are exact zeros, not subnormals (a product
    # with a subnormal costs a microcode assist: clamped, they made EfficientNet-B0's step 4x slower)
    beyond = x < -88.4
    assert beyond.sum() > 1000 and (y[beyond] == 0).all()
    if kind == "silu":  # float32's own error in s (1 + x (1 - s)): 1 - s is off by an ulp of s, times x
        gy = rng.standard_normal(x.shape).astype(np.float32)
        d = gy * (s64 * (1 + x64 * (1 - s64)))
        ok = np.isfinite(d)
        for start in (None, rng.standard_normal(x.shape).astype(np.float32)):
            g = np.empty_like(x) if start is None else start.copy()
            activation.backward(x, y, gy, k, alpha, beta, g, start is not None)
            got = g if start is None else g - start
            assert np.array_equal(np.isnan(got), ~ok)
            tol = 2.5e-7 * np.abs(gy[ok]) * (2 + np.abs(x[ok])) + (0 if start is None else 4 * np.spacing(np.abs(start[ok])))
            assert (np.abs(got[ok] - d[ok]) <= tol).all()


@pytest.mark.parametrize("case", [(2, 300, 7, 7, 260, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
                                  (1, 64, 7, 7, 300, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
                                  (1, 32, 14, 13, 48, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
                                  (2, 24, 9, 11, 256, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1)],
                         ids=["pointwise7", "cols7", "cols-strided", "subsample"])
def test_operands_on_cache_lines_change_no_bit(case, monkeypatch):
    """float32 layers whose planes are not whole cache lines (7x7: 49 floats): the packed GEMM
    reads im2col's columns, and in a pointwise layer of 256 rows or more a copy of its input
    (forward) or of gy (backward), from rows padded to 16 floats. Forward, and backward with an
    input mask and accumulating, are the bits of the same layer with unpadded rows."""
    n, cin, h, w, cout, k, s, p, d, g = case
    r = np.random.default_rng(8)
    win = geometry.conv_window(k, s, p, d, h, w)
    cw = conv.prepare(r.standard_normal((cout, cin) + k).astype(np.float32), r.standard_normal(cout).astype(np.float32),
                      win, g, np.asarray)
    assert cw.wp is not None or not conv.packed.PAYS
    x = np.clip(r.standard_normal((n, cin, h, w)), 0, None).astype(np.float32)
    gy = r.standard_normal((n, cout, win.Ho, win.Wo)).astype(np.float32)
    base = r.standard_normal(x.shape).astype(np.float32)

    def run():
        work = np.full(conv.work_size(cw, n), np.nan, np.float32)  # what is not written stays NaN
        y = np.empty(gy.shape, np.float32)
        conv.forward(x, cw, y, True, work)
        gx = base.copy()
        conv.backward(gy.copy(), cw, gx, True, work, x=x, x_relu=True)
        return y, gx
    padded = run()
    monkeypatch.setattr(conv, "_row_stride", lambda cw, hw: hw)
    plain = run()
    for a, b in zip(padded, plain):
        np.testing.assert_array_equal(a, b)
