"""The CUDA backend against its CPU twins (the reference), on seeded random inputs at odd sizes.

Tolerances (max |gpu - cpu| / max |cpu|): float32 elementwise, pooling, LRN and blur kernels 1e-5;
convolutions 1e-4 and 1e-11 (true fp32 math, FMA only); whole-network forward and gradient 1e-4 (float32,
see that test for how max-pool near-ties are handled) and 1e-10 (float64); other float64 1e-12.
Outputs are also written into channel slices of a larger buffer, as the plan does for the
branches of an inception module.

Most tests run twice: on the GPU through CuPy (skipped, with the reason, where CuPy cannot reach
one) and on the host (tests/support/cuda_host.py: the same .cu sources and Python wrappers, compiled by
the C++ compiler, on NumPy arrays, with cuDNN's convolutions done by NumPy in float64,
tests/support/cudnn_host.py), which is how CI checks them. cuDNN's own arithmetic and speed need the GPU;
streams and graph capture are modelled on the host (tests/test_cuda_capture.py).

Precision 'tf32' and 'bf16' layers are bounded against true float32, and on the host also held
to a model of their rounding to 1e-6 (test_conv_precision)."""
import functools
from types import SimpleNamespace

import numpy as np
import pytest
from support import cuda_host, cudnn_host

import classviz
from classviz import ascent, canvas, renderer, weights
from classviz.graph import Network
from classviz.kernels import cpu, cuda_unavailable, geometry
from classviz.net import Net

REASON = cuda_unavailable()
needs_gpu = pytest.mark.skipif(REASON is not None, reason=f"CUDA backend unavailable: {REASON}")
HOST = cuda_host.unavailable()
needs_cxx = pytest.mark.skipif(HOST is not None, reason=f"CUDA kernels cannot run on the host: {HOST}")

if REASON is None:
    from classviz.kernels import cuda as gpu

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _backend(where, monkeypatch):
    """classviz.kernels.cuda on the GPU (where='cuda') or on a fresh host device (cuda_host) for
    this test. Skips, saying why, where that side cannot run."""
    if where == "cuda":
        if REASON is not None:
            pytest.skip(f"CUDA backend unavailable: {REASON}")
        return gpu
    if HOST is not None:
        pytest.skip(f"CUDA kernels cannot run on the host: {HOST}")
    return cuda_host.backend(monkeypatch)


@pytest.fixture(params=["cuda", "host"])
def dev(request, monkeypatch):
    """xp: the array module (CuPy, or cuda_host's stand-in); ops: the kernels/cuda backend."""
    be = _backend(request.param, monkeypatch)
    return SimpleNamespace(xp=be.xp, ops=be, host=request.param == "host")


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def slot(xp, shape, dtype, extra=3):
    """A (N, C, H, W) view into a zeroed (N, off + C + extra, H, W) buffer, as a concat branch sees:
    its images are not contiguous with each other, and it starts `off` channels in, the fewest that
    keep it 128-byte aligned as the real network's slices are (GoogLeNet's branch widths are
    multiples of 16); a 4-byte-aligned pointer may be refused by cuDNN on a GPU."""
    n, c, h, w = shape
    plane = h * w * np.dtype(dtype).itemsize
    off = 128 // np.gcd(128, plane)
    big = xp.zeros((n, off + c + extra, h, w), dtype)
    return big[:, off:off + c]


@needs_cxx
def test_host_launch_refuses_what_a_gpu_would_get_wrong():
    """The host run's own checks (cuda_host.Kernel): a scalar of the wrong width, an array of the
    wrong dtype and a write past an array's end each fail the launch."""
    relu = cuda_host.module("relu").get_function("relu_forward<float>")
    x, y = cuda_host.asarray(np.arange(-5, 5, dtype=np.float32)), cuda_host.empty(10, np.float32)
    i64 = np.int64
    relu((1,), (32,), (x, y, i64(1), i64(10), i64(10), i64(10)))
    assert np.array_equal(y.get(), np.maximum(np.arange(-5, 5), 0))
    with pytest.raises(TypeError, match="'N': is int64, given int32"):
        relu((1,), (32,), (x, y, np.int32(1), i64(10), i64(10), i64(10)))
    with pytest.raises(TypeError, match="'y': points to float32, given an array of float64"):
        relu((1,), (32,), (x, cuda_host.empty(10, np.float64), i64(1), i64(10), i64(10), i64(10)))
    with pytest.raises(AssertionError, match="relu_forward<float> wrote outside an array of shape"):
        relu((1,), (32,), (x, y, i64(1), i64(12), i64(12), i64(12)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k, s, pads, ceil, hw", [
    (3, 2, (0, 0, 0, 0), True, (112, 112)), (3, 1, (1, 1, 1, 1), False, (28, 28)),
    (3, 2, (0, 0, 1, 1), False, (57, 55)), (2, 2, (0, 0, 0, 0), True, (13, 7)), (5, 3, (0, 0, 0, 0), True, (14, 14)),
])
def test_pooling_matches_cpu(dev, dtype, k, s, pads, ceil, hw):
    rng = np.random.default_rng(k * 100 + hw[0])
    x = rand(rng, (2, 5, *hw), dtype)
    win = geometry.pool_window((k, k), (s, s), pads, ceil, *hw)
    out = (2, 5, win.Ho, win.Wo)
    y, am = np.empty(out, dtype), np.empty(out, np.int32)
    cpu.maxpool.forward(x, win, y, am, np.empty(cpu.maxpool.work_size(win, 5), dtype))
    gy, gam = slot(dev.xp, out, dtype), dev.xp.empty(out, np.int32)
    dev.ops.maxpool.forward(dev.xp.asarray(x), win, gy, gam, None)
    assert rel(gy.get(), y) == 0 and np.array_equal(gam.get(), am)
    g = rand(rng, out, dtype)
    for acc in (False, True):
        gx = rand(rng, x.shape, dtype)
        ggx = dev.xp.asarray(gx)
        cpu.maxpool.backward(g, win, gx, am, acc)
        gg = slot(dev.xp, out, dtype)
        gg[...] = dev.xp.asarray(g)
        dev.ops.maxpool.backward(gg, win, ggx, gam, acc)
        assert rel(ggx.get(), gx) < TOL[dtype]
    xr = np.clip(x, 0, 0.5)  # a (capped) ReLU's output before the pool: each window's mask by its winner
    cpu.maxpool.forward(xr, win, y, am, np.empty(cpu.maxpool.work_size(win, 5), dtype))
    gyr = slot(dev.xp, out, dtype)
    dev.ops.maxpool.forward(dev.xp.asarray(xr), win, gyr, gam, None)
    for cap in (np.inf, 0.5):
        gx, ggx = np.empty_like(x), dev.xp.empty(x.shape, dtype)
        cpu.maxpool.backward(g, win, gx, am, False, y, cap)
        dev.ops.maxpool.backward(gg, win, ggx, gam, False, gyr, cap)
        assert rel(ggx.get(), gx) < TOL[dtype] and (gx == 0).any()
    for include in (False, True):
        y = np.empty(out, dtype)
        cpu.avgpool.forward(x, win, include, y)
        gy = slot(dev.xp, out, dtype)
        dev.ops.avgpool.forward(dev.xp.asarray(x), win, include, gy)
        assert rel(gy.get(), y) < TOL[dtype]
        gx = np.empty_like(x)
        cpu.avgpool.backward(g, win, include, gx, False)
        ggx = dev.xp.empty(x.shape, dtype)
        dev.ops.avgpool.backward(dev.xp.asarray(g), win, include, ggx, False)
        assert rel(ggx.get(), gx) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_pool_lrn_relu_match_cpu(dev, dtype):
    rng = np.random.default_rng(1)
    x = rand(rng, (3, 7, 9, 11), dtype, 3)
    y = np.empty((3, 7, 1, 1), dtype)
    cpu.avgpool.global_forward(x, y)
    gy = slot(dev.xp, y.shape, dtype)
    dev.ops.avgpool.global_forward(dev.xp.asarray(x), gy)
    assert rel(gy.get(), y) < TOL[dtype]
    gx = rand(rng, x.shape, dtype)
    ggx = dev.xp.asarray(gx)
    cpu.avgpool.global_backward(y, gx, True)
    dev.ops.avgpool.global_backward(dev.xp.asarray(y), ggx, True)
    assert rel(ggx.get(), gx) < TOL[dtype]

    y, sc = np.empty_like(x), np.empty_like(x)
    cpu.lrn.forward(x, 5, 1e-2, 0.75, 1.0, y, sc)
    gyv, gsc = slot(dev.xp, x.shape, dtype), dev.xp.empty(x.shape, dtype)
    dev.ops.lrn.forward(dev.xp.asarray(x), 5, 1e-2, 0.75, 1.0, gyv, gsc)
    assert rel(gyv.get(), y) < TOL[dtype] and rel(gsc.get(), sc) < TOL[dtype]
    g = rand(rng, x.shape, dtype)
    gx = np.empty_like(x)
    cpu.lrn.backward(g, x, y, sc, 5, 1e-2, 0.75, gx, False)
    ggx = dev.xp.empty(x.shape, dtype)
    dev.ops.lrn.backward(dev.xp.asarray(g), dev.xp.asarray(x), gyv, gsc, 5, 1e-2, 0.75, ggx, False)
    assert rel(ggx.get(), gx) < TOL[dtype]

    r = np.empty_like(x)
    cpu.relu.forward(x, r)
    gr = slot(dev.xp, x.shape, dtype)
    dev.ops.relu.forward(dev.xp.asarray(x), gr)
    assert rel(gr.get(), r) == 0
    gx = rand(rng, x.shape, dtype)
    ggx = dev.xp.asarray(gx)
    cpu.relu.backward(r, g, gx, True)
    dev.ops.relu.backward(gr, dev.xp.asarray(g), ggx, True)
    assert rel(ggx.get(), gx) < TOL[dtype]


CONV_SHAPES = [  # cin, cout, k (int or (kh, kw)), s, p (int or (top, left, bottom, right)), (h, w), group
    (3, 16, 7, 2, 3, (37, 41), 1), (32, 48, 1, 1, 0, (14, 14), 1), (24, 20, 3, 1, 1, (28, 27), 1), (8, 12, 3, 1, 1, (30, 29), 1),  # CPU: F(2x2), F(4x4) Winograd
    (16, 8, 5, 1, 2, (9, 9), 1), (12, 12, 3, 2, 1, (15, 15), 3),
    (16, 24, 5, 1, 2, (17, 15), 1),  # CPU: F(2x2, 5x5) Winograd
    (16, 16, 3, 1, 1, (15, 13), 16),  # depthwise (CPU: depthwise.py)
    (8, 16, 5, 2, (1, 2, 2, 1), (17, 16), 8),  # depthwise, 2 outputs per channel, asymmetric pads (a padded copy)
    (3, 8, 3, 2, (0, 0, 1, 1), (19, 18), 1),  # a folded Pad before a stride-2 conv: pads (0, 0, 1, 1)
    (6, 4, (1, 7), 1, (0, 3, 0, 3), (9, 12), 1),  # Inception-v3's 1x7
]


def _conv_both(dev, dtype, shape, precision="fp32"):
    """Run one layer forward (with and without ReLU) and backward (overwrite, accumulate, masked)
    on the CPU (float32/float64 as given) and through kernels/cuda/conv.py at `precision`, inputs
    and outputs channel slices on the device. Yields (what, device result, CPU result, model), model
    computing the same result in float64 from operands rounded by `rnd`, the output by `rnd_out`."""
    cin, cout, k, s, p, hw, group = shape
    k = k if isinstance(k, tuple) else (k, k)
    rng = np.random.default_rng(cin + k[0] + k[1])
    x = rand(rng, (2, cin, *hw), dtype)
    w = rand(rng, (cout, cin // group, *k), dtype, 0.1)
    b = rand(rng, (cout,), dtype)
    win = geometry.conv_window(k, (s, s), p if isinstance(p, tuple) else (p,) * 4, (1, 1), *hw)
    out = (2, cout, win.Ho, win.Wo)
    ccw = cpu.conv.prepare(w, b, win, group, cpu.asarray)
    gcw = dev.ops.conv.prepare(w, b, win, group, dev.xp.asarray, precision)
    work_c = np.empty(cpu.conv.work_size(ccw, 2), dtype)
    work_g = dev.xp.empty(dev.ops.conv.work_size(gcw, 2), dtype)
    res = rand(rng, out, dtype)
    gres = slot(dev.xp, out, dtype)  # a residual summand (a folded Add's), a channel slice as well
    gres[...] = dev.xp.asarray(res)
    # 2.0: a clipped ReLU (ReLU6 form) with a cap that clips some; with a residual: an Add's ReLU or none
    for relu, residual in ((False, None), (2.0, None), (True, None), (True, res), (False, res)):
        y = np.empty(out, dtype)
        cpu.conv.forward(x, ccw, y, relu, work_c, residual=residual)
        gy = slot(dev.xp, out, dtype)
        gx_in = slot(dev.xp, x.shape, dtype)  # the input a channel slice too, as merged siblings give it
        gx_in[...] = dev.xp.asarray(x)
        dev.ops.conv.forward(gx_in, gcw, gy, relu, work_g, residual=None if residual is None else gres)
        yield (f"forward relu={relu} residual={residual is not None}", gy.get(), y,
               functools.partial(_model_forward, x, w, b, win, group, relu, residual))
        if residual is None:
            y_act = y
    y = y_act  # the forward's output after its own fused ReLU, for the masks below
    g = rand(rng, out, dtype)
    # masked: after the fused ReLU (y from above); x_relu: the input's mask too (the layer before
    # fused an activation: conv.backward's x, x_relu), on the whole sum when accumulating
    for acc, masked, x_relu in ((False, False, False), (True, False, False), (False, True, False),
                                (False, 2.0, False), (False, 2.0, 0.5), (False, False, True), (True, False, True),
                                (True, True, 0.5)):
        gx = rand(rng, x.shape, dtype)
        ggx = slot(dev.xp, x.shape, dtype)
        ggx[...] = dev.xp.asarray(gx)
        before = gx.copy()
        cap = True if masked is True else masked
        cpu.conv.backward(g.copy(), ccw, gx, acc, work_c, relu_out=y if masked else None, relu=cap,
                          x=x if x_relu else None, x_relu=x_relu)
        gg = slot(dev.xp, out, dtype)
        gg[...] = dev.xp.asarray(g)
        dev.ops.conv.backward(gg, gcw, ggx, acc, work_g, relu_out=dev.xp.asarray(y) if masked else None, relu=cap,
                              x=gx_in if x_relu else None, x_relu=x_relu)
        keep = (y > 0) & (y < (np.inf if masked is True else masked)) if masked else True
        x_keep = (x > 0) & (x < (np.inf if x_relu is True else x_relu)) if x_relu else True
        yield (f"backward acc={acc} masked={masked} x_relu={x_relu}", ggx.get(), gx,
               functools.partial(_model_backward, g * keep, w, before, win, group, acc, x_keep))


def _model_forward(x, w, b, win, group, relu, residual, rnd, rnd_out):
    cw = cpu.conv.prepare(rnd(w), np.zeros(w.shape[0]), win, group, cpu.asarray)
    y = np.empty((x.shape[0], w.shape[0], win.Ho, win.Wo))
    cpu.conv.forward(rnd(x), cw, y, False, np.empty(cpu.conv.work_size(cw, x.shape[0])))
    y = rnd_out(y) + b[:, None, None] + (0 if residual is None else residual)
    if relu is False:
        return y
    return np.clip(y, 0, np.inf if relu is True else relu)


def _model_backward(g, w, before, win, group, acc, x_keep, rnd, rnd_out):
    cw = cpu.conv.prepare(rnd(w), np.zeros(w.shape[0]), win, group, cpu.asarray)
    gx = np.empty(before.shape)
    cpu.conv.backward(rnd(g), cw, gx, False, np.empty(cpu.conv.work_size(cw, g.shape[0])))
    return (rnd_out(gx) + (before if acc else 0)) * x_keep


def f32(a):
    return np.asarray(a, np.float32).astype(np.float64)


# precision: (operand rounding, output rounding, bound on the layer's error against true float32)
PRECISION = {"tf32": (cudnn_host.tf32, f32, 3e-3), "bf16": (cudnn_host.bf16, cudnn_host.bf16, 3e-2)}


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_conv_precision(dev, precision, shape):
    """tf32 and bf16 layers, float32 arrays. Against true float32 (the CPU): within the format's
    error (PRECISION's bound; the measured error is printed). On the host also against a model of
    the rounding (operands rounded to the format, float64 sums, the output rounded as the format
    stores it; bf16's bias and ReLU after): to 1e-6, which checks the bf16 path's glue (scratch
    layout, the ReLU mask fused into the rounding, accumulation) to the bit. On a GPU the model
    is only as good as cuDNN's own rounding (tf32 may truncate), so there only the bound holds."""
    rnd, rnd_out, bound = PRECISION[precision]
    errs = []
    for what, got, want, model in _conv_both(dev, np.float32, shape, precision):
        errs.append(rel(got, want))
        assert errs[-1] < bound, what
        if dev.host:
            assert rel(got, model(rnd, rnd_out)) < 1e-6, what
    print(f"{precision} {shape}: max error against float32 {max(errs):.1e}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_conv_matches_cpu(dev, dtype, shape):
    """True fp32 (FMA) math on the GPU; on the host, cudnn_host's float64 sums rounded to float32."""
    for what, got, want, _ in _conv_both(dev, dtype, shape):
        assert rel(got, want) < TOL[dtype] * 10, what


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, k, c", [(3, 7, 50), (1, 1000, 1024), (5, 13, 3)])
def test_gemm_matches_cpu(dev, dtype, n, k, c):
    """gemm.cu's kernels (no cuBLAS: they must capture) against the CPU's BLAS, at sizes with and
    without a remainder past the four-way unrolled sum, overwriting and accumulating."""
    rng = np.random.default_rng(n * k + c)
    x, w, b = rand(rng, (n, c), dtype), rand(rng, (k, c), dtype), rand(rng, (k,), dtype)
    y = np.empty((n, k), dtype)
    cpu.gemm.forward(x, w, b, y)
    gy = dev.xp.empty((n, k), dtype)
    dev.ops.gemm.forward(dev.xp.asarray(x), dev.xp.asarray(w), dev.xp.asarray(b), gy)
    assert rel(gy.get(), y) < TOL[dtype] * 10
    for acc in (False, True):
        gx = rand(rng, x.shape, dtype)
        ggx = dev.xp.asarray(gx)
        cpu.gemm.backward(y, w, gx, acc)
        dev.ops.gemm.backward(gy, dev.xp.asarray(w), ggx, acc)
        assert rel(ggx.get(), gx) < TOL[dtype] * 10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_mul_activation_match_cpu(dev, dtype):
    """add.cu, mul.cu (of one shape, and a (N, C, 1, 1) gate with its per-plane reduction),
    activation.cu (every kind): forward into a channel slice, backward overwriting and
    accumulating, against the CPU twins."""
    from classviz.kernels.shared import ACTIVATIONS
    rng = np.random.default_rng(5)
    a, b = rand(rng, (2, 5, 9, 7), dtype, 3), rand(rng, (2, 5, 9, 7), dtype, 3)
    gate = rand(rng, (2, 5, 1, 1), dtype)
    g = rand(rng, a.shape, dtype)
    d = dev.xp.asarray

    def both(cpu_fn, dev_fn, shape):
        want = np.empty(shape, dtype)
        cpu_fn(want)
        got = slot(dev.xp, shape, dtype)
        dev_fn(got)
        assert rel(got.get(), want) < TOL[dtype]

    for relu in (False, True):
        both(lambda y: cpu.add.forward(a, b, y, relu), lambda y: dev.ops.add.forward(d(a), d(b), y, relu), a.shape)
    for other in (b, gate):
        both(lambda y: cpu.mul.forward(a, other, y), lambda y: dev.ops.mul.forward(d(a), d(other), y), a.shape)
    params = ((0, 0), (0.2, 0.5), (1 / 6, 0.5), (-1.5, 2.0), (0, 0))  # (alpha, beta) of each kind, in order
    assert len(params) == len(ACTIVATIONS)
    for kind, (alpha, beta) in enumerate(params):
        both(lambda y: cpu.activation.forward(a, kind, alpha, beta, y),
             lambda y: dev.ops.activation.forward(d(a), kind, alpha, beta, y), a.shape)
    for acc in (False, True):
        base_a, base_b, base_g = rand(rng, a.shape, dtype), rand(rng, a.shape, dtype), rand(rng, gate.shape, dtype)
        for mask in (None, a):
            ca, da = base_a.copy(), d(base_a)
            cpu.add.backward(g, ca, acc, mask)
            dev.ops.add.backward(d(g), da, acc, None if mask is None else d(mask))
            assert rel(da.get(), ca) < TOL[dtype]
            # both inputs in one launch, the second one's flag the other way round
            ca, cb, da, db = base_a.copy(), base_b.copy(), d(base_a), d(base_b)
            cpu.add.backward(g, ca, acc, mask, cb, not acc)
            dev.ops.add.backward(d(g), da, acc, None if mask is None else d(mask), db, not acc)
            assert rel(da.get(), ca) < TOL[dtype] and rel(db.get(), cb) < TOL[dtype]
        for other, base in ((b, base_b), (gate, base_g)):
            ca, cb, da, db = base_a.copy(), base.copy(), d(base_a), d(base)
            cpu.mul.backward(g, a, other, ca, cb, acc, acc)
            dev.ops.mul.backward(d(g), d(a), d(other), da, db, acc, acc)
            assert rel(da.get(), ca) < TOL[dtype] and rel(db.get(), cb) < TOL[dtype] * 10
        y = np.empty_like(a)
        for kind, (alpha, beta) in enumerate(params):
            cpu.activation.forward(a, kind, alpha, beta, y)
            ca, da = base_a.copy(), d(base_a)
            cpu.activation.backward(a, y, g, kind, alpha, beta, ca, acc)
            dev.ops.activation.backward(d(a), d(y), d(g), kind, alpha, beta, da, acc)
            assert rel(da.get(), ca) < TOL[dtype], ACTIVATIONS[kind]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_matches_cpu(dev, dtype):
    """affine.cu (an input prologue, a BatchNormalization with no Conv before it): scale and shift
    of one image's shape, as graph.ops.Affine hands them over; the output a channel slice."""
    rng = np.random.default_rng(4)
    x = rand(rng, (2, 3, 9, 7), dtype)
    scale, shift = (np.broadcast_to(rand(rng, (3, 1, 1), dtype), x.shape[1:]).copy() for _ in range(2))
    y = np.empty_like(x)
    cpu.affine.forward(x, scale, shift, y)
    gy = slot(dev.xp, x.shape, dtype)
    dev.ops.affine.forward(dev.xp.asarray(x), dev.xp.asarray(scale), dev.xp.asarray(shift), gy)
    assert rel(gy.get(), y) < TOL[dtype]
    for acc in (False, True):
        g, gx = rand(rng, x.shape, dtype), rand(rng, x.shape, dtype)
        ggx = slot(dev.xp, x.shape, dtype)
        ggx[...] = dev.xp.asarray(gx)
        cpu.affine.backward(g, scale, gx, acc)
        dev.ops.affine.backward(dev.xp.asarray(g), dev.xp.asarray(scale), ggx, acc)
        assert rel(ggx.get(), gx) < TOL[dtype]


def test_blur_crop_pixels_objective_match_cpu(dev):
    rng = np.random.default_rng(2)
    f32 = np.float32
    for sigma, shape in ((0.3, (2, 3, 224, 224)), (2.5, (1, 3, 17, 23)), (3.0, (1, 2, 5, 7))):
        img = rng.uniform(0, 255, shape).astype(f32)
        r = cpu.blur.radius(sigma)
        taps = np.zeros(2 * r + 5, f32)  # zero-padded, as the renderer uploads them
        taps[2:-2] = cpu.blur.taps(sigma)
        ref = img.copy()
        cpu.blur.forward(ref, taps, np.empty(cpu.blur.work_size(shape, r + 2), f32))
        gimg = dev.xp.asarray(img)
        dev.ops.blur.forward(gimg, dev.xp.asarray(taps), dev.xp.empty(dev.ops.blur.work_size(shape, r + 2), f32))
        assert rel(gimg.get(), ref) < 1e-5

    big = rng.uniform(0, 255, (3, 3, 41, 37)).astype(f32)
    offs = np.array([[0, 0], [9, 5], [28, 26]], np.int64)
    win = np.empty((3, 3, 13, 11), f32)
    cpu.crop.crop(big, offs, win)
    gwin, gbig, goffs = dev.xp.empty(win.shape, f32), dev.xp.asarray(big), dev.xp.asarray(offs)
    dev.ops.crop.crop(gbig, goffs, gwin)
    assert np.array_equal(gwin.get(), win)
    new = rng.uniform(0, 255, win.shape).astype(f32)
    cpu.crop.paste(new, offs, big)
    dev.ops.crop.paste(dev.xp.asarray(new), goffs, gbig)
    assert np.array_equal(gbig.get(), big)

    order, scale, shift = np.array([2, 1, 0]), np.array([1.0, 2.0, 0.5], f32), np.array([-104, -117, -123], f32)
    px = rng.uniform(0, 255, (2, 3, 31, 29)).astype(f32)
    m = np.empty_like(px)
    cpu.pixels.to_model(px, order, scale, shift, m)
    gm = dev.xp.empty_like(dev.xp.asarray(px))
    args = [dev.xp.asarray(a) for a in (order, scale, shift)]
    dev.ops.pixels.to_model(dev.xp.asarray(px), *args, gm)
    assert rel(gm.get(), m) < 1e-6
    px = np.concatenate([px, px])
    g = rand(rng, px.shape, f32)
    g[1] = 0
    g[2, 1, 3, 4] = np.nan
    g[3, 0, 0, 0] = np.inf
    gpx = dev.xp.asarray(px)
    norm, gnorm = np.empty(4), dev.xp.asarray(np.full(4, -1.0))
    cpu.pixels.ascent(px, g, order, scale, np.array([6.0], f32), 0.0, 255.0, norm)
    dev.ops.pixels.ascent(gpx, dev.xp.asarray(g), args[0], args[1], dev.xp.asarray([6.0], f32), 0.0, 255.0, gnorm)
    assert rel(gpx.get(), px) < 1e-5
    assert rel(gnorm.get()[:2], norm[:2]) < 1e-6 and np.isnan(gnorm.get()[2]) and gnorm.get()[3] == np.inf

    cls = np.array([3, 0], np.int64)
    for shape in ((2, 10), (2, 6, 5, 7)):
        y = rand(rng, shape, f32)
        obj = np.empty(2, f32)
        cpu.objective.gather(y, cls, obj)
        gobj = dev.xp.empty(2, f32)
        dev.ops.objective.gather(dev.xp.asarray(y), dev.xp.asarray(cls), gobj)
        assert rel(gobj.get(), obj) < 1e-6
        s = np.empty(shape, f32)
        cpu.objective.seed(s, cls)
        gs = dev.xp.empty(shape, f32)
        dev.ops.objective.seed(gs, dev.xp.asarray(cls))
        assert np.array_equal(gs.get(), s)


def test_paste_add_matches_cpu(dev):
    rng = np.random.default_rng(13)
    image = rand(rng, (1, 3, 9, 12), np.float64)
    window, before = rand(rng, (2, 3, 4, 5), np.float64), rand(rng, (2, 3, 4, 5), np.float64)
    offsets = np.array([[1, 2], [3, 4]], np.int64)  # overlapping
    gi, gw, gb, go = (dev.xp.asarray(a) for a in (image, window, before, offsets))
    for k in range(2):
        cpu.crop.paste_add(window[k:k + 1], before[k:k + 1], offsets[k:k + 1], image, -0.5, 0.9)
        dev.ops.crop.paste_add(gw[k:k + 1], gb[k:k + 1], go[k:k + 1], gi, -0.5, 0.9)
    assert rel(gi.get(), image) < 1e-14


def test_weigh_matches_cpu(dev):
    rng = np.random.default_rng(14)
    g, w = rand(rng, (2, 3, 7, 9), np.float32), rand(rng, (7, 9), np.float32)
    gg = dev.xp.asarray(g)
    cpu.pixels.weigh(g, w)
    dev.ops.pixels.weigh(gg, dev.xp.asarray(w))
    assert np.array_equal(gg.get(), g)


def test_mask_matches_cpu(dev):
    rng = np.random.default_rng(12)
    px = rand(rng, (2, 3, 9, 11), np.float32) * 255
    keep = (rng.random((9, 11)) > 0.4).astype(np.uint8)
    bg = np.array([255.0, 16.0, 0.0], np.float32)
    gpx = dev.xp.asarray(px)
    cpu.pixels.mask(px, keep, bg)
    dev.ops.pixels.mask(gpx, dev.xp.asarray(keep), dev.xp.asarray(bg))
    assert np.array_equal(gpx.get(), px)
    assert (px[:, :, keep == 0] == bg[None, :, None]).all() and (px[:, :, keep == 1] != bg[None, :, None]).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_objective_matches_cpu(dev, dtype):
    """objective.weighted and weighted_seed (mixes, neurons, l2) on the device against the CPU:
    a tensor that is a channel slice of a wider one (images further apart than their size), an odd
    size per image (partial sums of a block that does not divide it), both accumulate flags."""
    rng = np.random.default_rng(11)
    wide = rand(rng, (3, 9, 5, 7), dtype)
    t = wide[:, 2:7]  # (3, 5, 5, 7), images 315 elements apart
    s, l2w = rand(rng, t.shape, dtype), np.array([0.5, 0.0, -2.0], dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    gt = dev.xp.asarray(wide)[:, 2:7]
    for accumulate in (False, True):
        obj = np.array([1.0, 2.0, 3.0], dtype)
        cpu.objective.weighted(t, s, l2w, obj, accumulate)
        gobj = dev.xp.asarray(np.array([1.0, 2.0, 3.0], dtype))
        dev.ops.objective.weighted(gt, dev.xp.asarray(s), dev.xp.asarray(l2w), gobj, accumulate)
        assert rel(gobj.get(), obj) < tol
        g = rand(rng, (3, 9, 5, 7), dtype)
        gg = dev.xp.asarray(g)
        cpu.objective.weighted_seed(t, s, l2w, g[:, 1:6], accumulate)
        dev.ops.objective.weighted_seed(gt, dev.xp.asarray(s), dev.xp.asarray(l2w), gg[:, 1:6], accumulate)
        assert rel(gg.get(), g) < tol


@pytest.fixture(params=["cuda", "host"])
def engine(request, monkeypatch):
    """A backend for classviz.Net: the CUDA backend on the GPU, or on the host (cuda_host.backend)."""
    return _backend(request.param, monkeypatch)


def _pools(cn, dn, head, shape, dtype):
    """(CPU op, device op) of every max-pool in the two nets' plans for (head, shape, dtype)."""
    pairs = zip(cn.plan(head, shape, dtype).steps, dn.plan(head, shape, dtype).steps)
    return [(c.op, d.op) for c, d in pairs if hasattr(c.op, "argmax")]


@pytest.mark.parametrize("flavour", ["bvlc_aux", "zoo", "torchvision"])
def test_whole_network_forward_and_gradient_match_cpu(engine, model_path, flavour):
    """float64: forward and gradient equal the CPU's to 1e-10, every max-pool window picking the same
    winner. float32: forward to 1e-4, and the gradient to 1e-4 once the device's backward runs from
    the CPU's forward: its max-pools route the gradient to the winners the CPU's picked, and its
    ReLUs pass what the CPU's passed. Without that, a window whose two largest values lie within
    float32 rounding of each other may pick the other one (the synthetic nets have a few such
    near-ties per step), and its gradient then goes to the neighbouring pixel: 2-3% of the
    gradient's largest value, in a handful of pixels; likewise a pre-activation within rounding of
    zero (torchvision's 4b/3x3 has one: 0.7% of the gradient). The float64 case shows no real
    difference."""
    be = engine
    path = model_path(flavour)
    cn, dn = classviz.load(path, backend="cpu"), Net(Network(weights.read(path)), be)
    cls = [5, 900]
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        x = (np.random.default_rng(3).standard_normal((2, 3, 224, 224)) * 60).astype(dtype)
        for head in cn.heads:
            assert rel(be.to_numpy(dn.forward(x, head)), cn.forward(x, head)) < tol
            co, cg = cn.gradient(x, cls, head)
            go, gg = dn.gradient(be.asarray(x), cls, head)
            assert rel(be.to_numpy(go), co) < tol
            pools = _pools(cn, dn, head, x.shape, dtype)
            changed = sum(int((be.to_numpy(d.argmax) != c.argmax).sum()) for c, d in pools)
            print(f"{flavour} {head} {dtype.__name__}: {changed} max-pool winners differ, gradient rel. "
                  f"error {rel(be.to_numpy(gg), cg):.1e} before routing as the CPU did")
            if dtype == np.float64:
                assert changed == 0
            else:
                for c, d in pools:
                    be.upload(d.argmax, c.argmax)
                cp, dp = cn.plan(head, x.shape, dtype), dn.plan(head, x.shape, dtype)
                for t, v in cp.values.items():  # the strided ones are views into contiguous ones
                    if dp.values[t].flags.c_contiguous:
                        be.upload(dp.values[t], v)
                seed_cls = be.asarray(np.array(cls, np.int64))
                gg = dp.backward(lambda g: be.objective.seed(g, seed_cls))
            assert rel(be.to_numpy(gg), cg) < tol


def _cosine(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_whole_network_precision(engine, model_path, precision):
    """tf32 and bf16 nets (float32 arrays) against the CPU's float32, every head. Printed (and
    recorded in benchmarks/README.md): the scores' error (max |d| / max |cpu|), the gradient's
    cosine similarity to the CPU's, how many max-pool windows picked another winner, and the
    cosine once the device's max-pools route the gradient as the CPU's did. On these synthetic
    nets the rounding decides many near-ties (main head, batch 2: 4,764 of 2.8 million windows at
    tf32, 45,162 at bf16), each sending a gradient to a neighbouring pixel, so the routed cosine
    is the one bounded. The bounds hold a wrong path out (a lost ReLU mask gives a cosine of
    0.003), not the exact error of a format on random weights."""
    be = engine
    path = model_path("bvlc_aux")
    cn, dn = classviz.load(path, backend="cpu"), Net(Network(weights.read(path)), be, precision)
    x = (np.random.default_rng(3).standard_normal((2, 3, 224, 224)) * 60).astype(np.float32)
    cls = [5, 900]
    for head in cn.heads:
        co, cg = cn.gradient(x, cls, head)
        go, gg = (be.to_numpy(a) for a in dn.gradient(be.asarray(x), cls, head))
        pools = _pools(cn, dn, head, x.shape, np.float32)
        changed = sum(int((be.to_numpy(d.argmax) != c.argmax).sum()) for c, d in pools)
        for c, d in pools:
            be.upload(d.argmax, c.argmax)
        seed_cls = be.asarray(np.array(cls, np.int64))
        routed = be.to_numpy(dn.plan(head, x.shape, np.float32).backward(lambda g: be.objective.seed(g, seed_cls)))
        print(f"{be.name} {precision} {head}: scores error {rel(go, co):.1e}; gradient cosine {_cosine(gg, cg):.4f}, "
              f"{changed} max-pool winners differ, routed as the CPU's {_cosine(routed, cg):.4f}")
        assert rel(go, co) < {"tf32": 1e-2, "bf16": 5e-2}[precision]
        assert _cosine(routed, cg) > {"tf32": 0.99, "bf16": 0.95}[precision]


# every kind of octave a schedule has (whole image, crops of an upscaled one, aux heads), short
SHORT = (ascent.sched.Octave("main", 3, 2.5, 0.78, 11, 11), ascent.sched.Octave("main", 2, 0.936, 0.78, 6, 6, 1.2),
         ascent.sched.Octave("aux2", 2, 0.936, 0.44, 6, 3, 1.2), ascent.sched.Octave("aux1", 1, 0.44, 0.304, 3, 3))


def _render(net, dtype):
    pre, _ = classviz.preprocess.for_model(net.model)
    r = renderer.Renderer(net, [281, 251], SHORT, ascent.octave_heads(net, SHORT), pre, 4, dtype)
    images = r.run()
    return net.backend.to_numpy(r.pixels).astype(np.float64), images


@pytest.mark.parametrize("kind", ["places", "path"])
def test_composition_render_matches_cpu(engine, model_path, kind):
    """A non-square canvas with two placements (one canvas, overlapping crops, a mix), or one class
    along a path (a moving crop, its gradient weighted by the soft disc): the device draws what
    the CPU draws, float64."""
    path = model_path("bvlc_aux", 8)
    dn, cn = Net(Network(weights.read(path)), engine), classviz.load(path, backend="cpu")
    targets = [281, "tiger + 0.2 * inception_4a/output:l2"] if kind == "places" else [281]
    kw = dict(places=[(0.4, 0.5), (0.6, 0.4)]) if kind == "places" else dict(path=canvas.parse_path("sine"))
    out = []
    for net in (dn, cn):
        pre, _ = classviz.preprocess.for_model(net.model)
        heads = ascent.octave_heads(net, SHORT)
        objs = ascent.parse_objectives(net, targets, SHORT, heads)
        r = renderer.Renderer(net, [o if o.plain is None else o.plain for o in objs], SHORT, heads, pre, 4, np.float64,
                            size=(300, 330), **kw)
        r.run()
        out.append(net.backend.to_numpy(r.pixels).astype(np.float64))
    assert out[0].shape == (1, 3, 300, 330) and np.abs(out[0] - out[1]).max() < 1e-8


@pytest.mark.parametrize("kind", ["batch", "places"])
def test_lucid_render_matches_cpu(engine, model_path, kind):
    """Fourier, Adam and transformed octaves (test_cuda_capture's LUCID_KINDS: the whole image,
    an upscaled canvas's crops, pixels with Adam and a blur, deepdraw's pixels with transforms) draw
    on the device what they draw on the CPU, float64, for a batch and for two placements."""
    from test_cuda_capture import LUCID_KINDS
    path = model_path("bvlc_aux", 8)
    dn, cn = Net(Network(weights.read(path)), engine), classviz.load(path, backend="cpu")
    kw = dict(places=[(0.4, 0.5), (0.6, 0.4)], size=(260, 300)) if kind == "places" else {}
    out = []
    for net in (dn, cn):
        pre, _ = classviz.preprocess.for_model(net.model)
        r = renderer.Renderer(net, [281, 5], LUCID_KINDS, ascent.octave_heads(net, LUCID_KINDS), pre, 4, np.float64,
                            **kw)
        r.run()
        out.append(net.backend.to_numpy(r.pixels).astype(np.float64))
    assert np.abs(out[0] - out[1]).max() < 1e-8


def test_facets_render_matches_cpu(engine, model_path):
    """Three facets pushed apart by the diversity term draw on the device what they draw on the
    CPU, float64."""
    from test_cuda_capture import LUCID_KINDS
    path = model_path("bvlc_aux", 8)
    dn, cn = Net(Network(weights.read(path)), engine), classviz.load(path, backend="cpu")
    octs = (SHORT[0]._replace(diversity=300.0), LUCID_KINDS[0])
    out = []
    for net in (dn, cn):
        pre, _ = classviz.preprocess.for_model(net.model)
        r = renderer.Renderer(net, [281] * 3, octs, ascent.octave_heads(net, octs), pre, 4, np.float64, facets=True)
        r.run()
        out.append(net.backend.to_numpy(r.pixels).astype(np.float64))
    assert np.abs(out[0] - out[1]).max() < 1e-8


def test_objective_render_matches_cpu(engine, model_path):
    """A batch of objectives (a class mix, a neuron plus an l2 on inner tensors, an aux head's
    class term through the schedule's heads) renders on the device as on the CPU, float64."""
    path = model_path("bvlc_aux", 8)
    dn, cn = Net(Network(weights.read(path)), engine), classviz.load(path, backend="cpu")
    exprs = ["tabby cat + 0.5 * tiger - 0.3 * 207", "inception_4a/output:3@4,4 + 0.1 * conv2/norm2:l2"]
    out = []
    for net in (dn, cn):
        pre, _ = classviz.preprocess.for_model(net.model)
        heads = ascent.octave_heads(net, SHORT)
        objs = ascent.parse_objectives(net, exprs, SHORT, heads)
        r = renderer.Renderer(net, objs, SHORT, heads, pre, 4, np.float64)
        r.run()
        out.append(net.backend.to_numpy(r.pixels).astype(np.float64))
    assert np.abs(out[0] - out[1]).max() < 1e-8


def test_render_matches_cpu(engine, model_path):
    """In float64 the device's render equals the CPU's to rounding: pixels within 1e-8, images
    (uint8) within 1. In float32 the two drift apart after a few steps (a max-pool near-tie that
    rounding decides sends a gradient elsewhere, and the ascent amplifies it), as two CPU renders
    of different seeds do too, so the PSNR is printed for the record, not asserted."""
    path = model_path("bvlc_aux", 8)
    dn, cn = Net(Network(weights.read(path)), engine), classviz.load(path, backend="cpu")
    (dp, di), (cp, ci) = _render(dn, np.float64), _render(cn, np.float64)
    assert np.abs(dp - cp).max() < 1e-8
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(di, ci))
    for a, b in zip(_render(dn, np.float32)[1], _render(cn, np.float32)[1]):
        mse = np.mean((a.astype(np.float64) - b) ** 2)
        print(f"CPU vs {engine.name} float32 render ({sum(o.iter_n for o in SHORT)} steps) PSNR: "
              f"{10 * np.log10(255.0 ** 2 / max(mse, 1e-12)):.1f} dB")


@needs_gpu
def test_graph_replay_equals_eager(model_path):
    path = model_path("bvlc_aux", 8)
    gn = classviz.load(path, backend="cuda")
    # one octave's captured step, replayed, equals the same step run eagerly
    octs = ascent.sched.get("quick")
    heads = ascent.octave_heads(gn, octs)
    pre, _ = classviz.preprocess.for_model(gn.model)
    eager, graph = (renderer.Renderer(gn, [1, 2], octs, heads, pre, 9) for _ in range(2))
    with gpu.stream() as s:
        for r, use_graph in ((eager, False), (graph, True)):
            fn = r.octave_step(octs[0], heads[0])
            step = gpu.capture(fn, keep=(r.pixels,)) if use_graph else fn
            for i in range(3):
                r.set_step(octs[0].sigma(i), octs[0].step_size(i))
                step()
        s.synchronize()
    assert np.array_equal(eager.pixels.get(), graph.pixels.get())


@pytest.mark.parametrize("name,style", [("resnet18", "dynamo"), ("mobilenet_v2", "legacy"),
                                        ("efficientnet_b0", "dynamo"), ("efficientnet_lite0", "legacy"),
                                        ("inception_v3", "legacy")])
def test_other_architectures_match_cpu(engine, tmp_path, name, style):
    """The other networks' ops through the CUDA backend (on the host: cuda_host): residual Adds
    with their fused ReLU, BatchNorm as affine, depthwise convolutions, fused ReLU6, SiLU, squeeze-
    and-excite gates, asymmetric pads (Lite0's folded Pads: a padded copy), 1x7 kernels, average
    pools counting their padding. float64, forward and gradient equal to the CPU's to 1e-10."""
    from classviz.testing import write_architecture
    path = write_architecture(str(tmp_path / f"{name}.onnx"), name, style, width=0.125, seed=4)
    cn, dn = classviz.load(path, backend="cpu"), Net(Network(weights.read(path)), engine)
    # each takes 160 (a global pool); one image: the host runs a block's threads as coroutines
    # where a kernel synchronises them (the gates' per-plane sums), one block per plane
    x = np.random.default_rng(5).standard_normal((1, 3, 160, 160))
    assert rel(engine.to_numpy(dn.forward(x)), cn.forward(x)) < 1e-10
    co, cg = cn.gradient(x, [800])
    go, gg = dn.gradient(engine.asarray(x), [800])
    assert rel(engine.to_numpy(go), co) < 1e-10 and rel(engine.to_numpy(gg), cg) < 1e-10


@needs_gpu
@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_large_batches_run_at_every_precision(model_path, precision):
    """Batches a gallery uses (64, 128) at every precision, every head: the first GPU run found
    cuDNN refusing at the call (BAD_PARAM) a bf16 dgrad algorithm its Find had ranked first, from
    batch 64; each image's gradient must also equal its own batch-1 gradient closely (same
    algorithms need not be picked at other batch sizes, so not bit for bit)."""
    net = classviz.load(model_path("bvlc_aux"), backend="cuda", precision=precision)
    rng = np.random.default_rng(5)
    for n in (64, 128):
        x = (rng.standard_normal((n, 3, 224, 224)) * 60).astype(np.float32)
        for head in net.heads:
            _, g = net.gradient(net.backend.asarray(x), list(range(n)), head=head)
            g = net.backend.to_numpy(g)
            assert np.isfinite(g).all()
            _, g0 = net.gradient(net.backend.asarray(x[n - 1:]), [n - 1], head=head)
            g0 = net.backend.to_numpy(g0)[0]
            cos = float((g[-1] * g0).sum() / np.linalg.norm(g[-1]) / np.linalg.norm(g0))
            assert cos > 0.9, (n, head, cos)  # max-pool near-ties may flip; a wrong result is near 0


def _transform_params(rng, n):
    # per image: a rotation up to 25 degrees, a scale 0.7..1.4 and a shift of up to 3 pixels
    from classviz import transforms
    tf = transforms.Transforms(jitter=3, scale=(0.7, 1.0, 1.4), rotate=25.0)
    return np.stack([transforms.draw(rng, tf) for _ in range(n)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_warp_matches_cpu(dev, dtype):
    """warp forward and its adjoint on the device against the CPU, on odd and even non-square sizes
    (lines of another length than the passes that cross them)."""
    rng = np.random.default_rng(21)
    for shape in ((2, 3, 13, 17), (1, 2, 10, 7)):
        params = _transform_params(rng, shape[0])
        x, gy = rand(rng, shape, dtype), rand(rng, shape, dtype)
        y, work, gx = np.empty_like(x), np.empty_like(x), np.empty_like(x)
        cpu.warp.forward(x, params, work, y)
        cpu.warp.backward(gy, params, work, gx)
        gp, gwork, gout = dev.xp.asarray(params), dev.xp.empty(shape, dtype), dev.xp.empty(shape, dtype)
        dev.ops.warp.forward(dev.xp.asarray(x), gp, gwork, gout)
        assert rel(gout.get(), y) < TOL[dtype]
        dev.ops.warp.backward(dev.xp.asarray(gy), gp, gwork, gout)
        assert rel(gout.get(), gx) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fourier_matches_cpu(dev, dtype):
    """The Fourier parameterization's forward and backward on the device (direct DFT sums) against
    the CPU's (NumPy's FFT), on odd and even heights and widths."""
    from classviz import fourier
    rng = np.random.default_rng(22)
    for n, h, w in ((2, 7, 9), (1, 8, 10), (1, 11, 6)):
        s = (rand(rng, fourier.shape(n, h, w), dtype) * 0.05).astype(dtype)
        g = rand(rng, (n, 3, h, w), dtype)
        fp = cpu.fourier.prepare((n, 3, h, w), dtype, fourier.scale(h, w), fourier.COLOUR, cpu.asarray)
        px, gs = np.empty((n, 3, h, w), dtype), np.empty(s.shape, dtype)
        cpu.fourier.to_pixels(s, fp, px)
        cpu.fourier.backward(g, px, fp, gs)
        gfp = dev.ops.fourier.prepare((n, 3, h, w), dtype, fourier.scale(h, w), fourier.COLOUR, dev.xp.asarray)
        gpx, ggs = dev.xp.empty(px.shape, dtype), dev.xp.empty(s.shape, dtype)
        dev.ops.fourier.to_pixels(dev.xp.asarray(s), gfp, gpx)
        assert rel(gpx.get(), px) < TOL[dtype]
        dev.ops.fourier.backward(dev.xp.asarray(g), dev.xp.asarray(px), gfp, ggs)
        assert rel(ggs.get(), gs) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_and_pixel_grad_match_cpu(dev, dtype):
    """adam.step over three steps (moments carried), with an image whose gradient is zero and one
    with a NaN (both stay), and pixels.to_pixel_grad, on the device against the CPU."""
    rng = np.random.default_rng(23)
    p, m, v = rand(rng, (4, 3, 5, 7), dtype), np.zeros((4, 3, 5, 7), dtype), np.zeros((4, 3, 5, 7), dtype)
    gp, gm, gv = (dev.xp.asarray(a) for a in (p, m, v))
    norm, gnorm = np.empty(4), dev.xp.asarray(np.full(4, -1.0))
    for t in (1, 2, 3):
        g = rand(rng, p.shape, dtype)
        g[1] = 0
        g[2, 0, 1, 1] = np.nan
        rate = np.array([cpu.adam.rate_of(0.05, t)], dtype)
        cpu.adam.step(p, g, m, v, rate, -0.7, 0.8, norm)
        dev.ops.adam.step(gp, dev.xp.asarray(g), gm, gv, dev.xp.asarray(rate), -0.7, 0.8, gnorm)
        assert rel(gp.get(), p) < TOL[dtype] and rel(gm.get(), m) < TOL[dtype] and rel(gv.get(), v) < TOL[dtype]
        assert rel(gnorm.get()[[0, 3]], norm[[0, 3]]) < TOL[dtype] and gnorm.get()[1] == 0
        assert np.isnan(gnorm.get()[2])
    order, scale = np.array([2, 0, 1]), np.array([1.0, 2.0, 0.5], dtype)
    g = rand(rng, (2, 3, 6, 5), dtype)
    out = np.empty_like(g)
    cpu.pixels.to_pixel_grad(g, order, scale, out)
    gout = dev.xp.empty(g.shape, dtype)
    dev.ops.pixels.to_pixel_grad(dev.xp.asarray(g), dev.xp.asarray(order), dev.xp.asarray(scale), gout)
    assert np.array_equal(gout.get(), out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_diversity_matches_cpu(dev, dtype):
    """diversity.seed on the device (gemm.cu's Grams, the pairwise dots, the adjoint) against the
    CPU, accumulating into a gradient already there, for facets that are channel slices of a
    wider tensor (a concat's output)."""
    rng = np.random.default_rng(24)
    wide = rand(rng, (3, 9, 5, 6), dtype)
    t = wide[:, 2:7]
    g0 = rand(rng, t.shape, dtype)
    g = g0.copy()
    cpu.diversity.seed(t, 3.0, np.empty((3, 5, 5), dtype), np.empty((3, 5, 5), dtype), np.empty((3, 3)), g)
    gwide = dev.xp.asarray(wide)
    gg = dev.xp.asarray(np.concatenate([np.zeros((3, 2, 5, 6), dtype), g0, np.zeros((3, 2, 5, 6), dtype)], 1))
    dev.ops.diversity.seed(gwide[:, 2:7], 3.0, dev.xp.empty((3, 5, 5), dtype), dev.xp.empty((3, 5, 5), dtype),
                           dev.xp.empty((3, 3), np.float64), gg[:, 2:7])
    out = gg.get()
    assert rel(out[:, 2:7], g) < TOL[dtype] and not out[:, :2].any() and not out[:, 7:].any()
    assert rel(g, g0) > 1e-3  # it added something
