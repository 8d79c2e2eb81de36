"""The CUDA backend against its CPU twins (the reference), on seeded random inputs at odd sizes.

Tolerances (max |gpu - cpu| / max |cpu|): float32 elementwise, pooling, LRN and blur kernels 1e-5;
convolutions 1e-5 (true fp32 math, FMA only); whole-network forward and gradient 1e-4; float64
1e-12. Outputs are also written into channel slices of a larger buffer, as the plan does for
the branches of an inception module. Skipped, with the reason, where CuPy cannot reach a GPU."""
import numpy as np
import pytest

from classviz.kernels import cpu, cuda_unavailable, geometry

REASON = cuda_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"CUDA backend unavailable: {REASON}")

if REASON is None:
    import cupy

    from classviz.kernels import cuda as gpu

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def slot(shape, dtype, extra=3):
    """A (N, C, H, W) view into a zeroed (N, C + extra, H, W) buffer, as a concat branch sees."""
    n, c, h, w = shape
    big = cupy.zeros((n, c + extra, h, w), dtype)
    return big[:, 1:1 + c]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k, s, pads, ceil, hw", [
    (3, 2, (0, 0, 0, 0), True, (112, 112)), (3, 1, (1, 1, 1, 1), False, (28, 28)),
    (3, 2, (0, 0, 1, 1), False, (57, 55)), (2, 2, (0, 0, 0, 0), True, (13, 7)), (5, 3, (0, 0, 0, 0), True, (14, 14)),
])
def test_pooling_matches_cpu(dtype, k, s, pads, ceil, hw):
    rng = np.random.default_rng(k * 100 + hw[0])
    x = rand(rng, (2, 5, *hw), dtype)
    win = geometry.pool_window((k, k), (s, s), pads, ceil, *hw)
    out = (2, 5, win.Ho, win.Wo)
    y, am = np.empty(out, dtype), np.empty(out, np.int32)
    cpu.maxpool.forward(x, win, y, am, np.empty(cpu.maxpool.work_size(win, 5), dtype))
    gy, gam = slot(out, dtype), cupy.empty(out, np.int32)
    gpu.maxpool.forward(cupy.asarray(x), win, gy, gam, None)
    assert rel(gy.get(), y) == 0 and np.array_equal(gam.get(), am)
    g = rand(rng, out, dtype)
    for acc in (False, True):
        gx = rand(rng, x.shape, dtype)
        ggx = cupy.asarray(gx)
        cpu.maxpool.backward(g, win, gx, am, acc)
        gg = slot(out, dtype)
        gg[...] = cupy.asarray(g)
        gpu.maxpool.backward(gg, win, ggx, gam, acc)
        assert rel(ggx.get(), gx) < TOL[dtype]
    for include in (False, True):
        y = np.empty(out, dtype)
        cpu.avgpool.forward(x, win, include, y)
        gy = slot(out, dtype)
        gpu.avgpool.forward(cupy.asarray(x), win, include, gy)
        assert rel(gy.get(), y) < TOL[dtype]
        gx = np.empty_like(x)
        cpu.avgpool.backward(g, win, include, gx, False)
        ggx = cupy.empty(x.shape, dtype)
        gpu.avgpool.backward(cupy.asarray(g), win, include, ggx, False)
        assert rel(ggx.get(), gx) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_pool_lrn_relu_match_cpu(dtype):
    rng = np.random.default_rng(1)
    x = rand(rng, (3, 7, 9, 11), dtype, 3)
    y = np.empty((3, 7, 1, 1), dtype)
    cpu.avgpool.global_forward(x, y)
    gy = slot(y.shape, dtype)
    gpu.avgpool.global_forward(cupy.asarray(x), gy)
    assert rel(gy.get(), y) < TOL[dtype]
    gx = rand(rng, x.shape, dtype)
    ggx = cupy.asarray(gx)
    cpu.avgpool.global_backward(y, gx, True)
    gpu.avgpool.global_backward(cupy.asarray(y), ggx, True)
    assert rel(ggx.get(), gx) < TOL[dtype]

    y, sc = np.empty_like(x), np.empty_like(x)
    cpu.lrn.forward(x, 5, 1e-2, 0.75, 1.0, y, sc)
    gyv, gsc = slot(x.shape, dtype), cupy.empty(x.shape, dtype)
    gpu.lrn.forward(cupy.asarray(x), 5, 1e-2, 0.75, 1.0, gyv, gsc)
    assert rel(gyv.get(), y) < TOL[dtype] and rel(gsc.get(), sc) < TOL[dtype]
    g = rand(rng, x.shape, dtype)
    gx = np.empty_like(x)
    cpu.lrn.backward(g, x, y, sc, 5, 1e-2, 0.75, gx, False)
    ggx = cupy.empty(x.shape, dtype)
    gpu.lrn.backward(cupy.asarray(g), cupy.asarray(x), gyv, gsc, 5, 1e-2, 0.75, ggx, False)
    assert rel(ggx.get(), gx) < TOL[dtype]

    r = np.empty_like(x)
    cpu.relu.forward(x, r)
    gr = slot(x.shape, dtype)
    gpu.relu.forward(cupy.asarray(x), gr)
    assert rel(gr.get(), r) == 0
    gx = rand(rng, x.shape, dtype)
    ggx = cupy.asarray(gx)
    cpu.relu.backward(r, g, gx, True)
    gpu.relu.backward(gr, cupy.asarray(g), ggx, True)
    assert rel(ggx.get(), gx) < TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cin, cout, k, s, p, hw, group", [
    (3, 16, 7, 2, 3, (37, 41), 1), (32, 48, 1, 1, 0, (14, 14), 1), (24, 20, 3, 1, 1, (28, 27), 1), (8, 12, 3, 1, 1, (30, 29), 1),  # CPU: F(2x2), F(4x4) Winograd
    (16, 8, 5, 1, 2, (9, 9), 1), (12, 12, 3, 2, 1, (15, 15), 3),
    (16, 24, 5, 1, 2, (17, 15), 1),  # CPU: F(2x2, 5x5) Winograd
])
def test_conv_matches_cpu(dtype, cin, cout, k, s, p, hw, group):
    rng = np.random.default_rng(cin + k)
    x = rand(rng, (2, cin, *hw), dtype)
    w = rand(rng, (cout, cin // group, k, k), dtype, 0.1)
    b = rand(rng, (cout,), dtype)
    win = geometry.conv_window((k, k), (s, s), (p,) * 4, (1, 1), *hw)
    out = (2, cout, win.Ho, win.Wo)
    ccw = cpu.conv.prepare(w, b, win, group, cpu.asarray)
    gcw = gpu.conv.prepare(w, b, win, group, gpu.asarray)
    work_c, work_g = np.empty(cpu.conv.work_size(ccw, x.shape[0]), dtype), cupy.empty(gpu.conv.work_size(gcw, x.shape[0]), dtype)
    for relu in (False, True):
        y = np.empty(out, dtype)
        cpu.conv.forward(x, ccw, y, relu, work_c)
        gy = slot(out, dtype)
        gx_in = slot(x.shape, dtype)  # the input a channel slice too, as merged siblings give it
        gx_in[...] = cupy.asarray(x)
        gpu.conv.forward(gx_in, gcw, gy, relu, work_g)
        assert rel(gy.get(), y) < TOL[dtype] * 10
    g = rand(rng, out, dtype)
    for acc, masked in ((False, False), (True, False), (False, True)):  # masked: after the fused ReLU (y from above)
        gx = rand(rng, x.shape, dtype)
        ggx = slot(x.shape, dtype)
        ggx[...] = cupy.asarray(gx)
        cpu.conv.backward(g.copy(), ccw, gx, acc, work_c, relu_out=y if masked else None)
        gg = slot(out, dtype)
        gg[...] = cupy.asarray(g)
        gpu.conv.backward(gg, gcw, ggx, acc, work_g, relu_out=cupy.asarray(y) if masked else None)
        assert rel(ggx.get(), gx) < TOL[dtype] * 10


def test_gemm_blur_crop_pixels_objective_match_cpu():
    rng = np.random.default_rng(2)
    f32 = np.float32
    x, w, b = rand(rng, (3, 50), f32), rand(rng, (7, 50), f32), rand(rng, (7,), f32)
    y = np.empty((3, 7), f32)
    cpu.gemm.forward(x, w, b, y)
    gy = cupy.empty((3, 7), f32)
    gpu.gemm.forward(cupy.asarray(x), cupy.asarray(w), cupy.asarray(b), gy)
    assert rel(gy.get(), y) < 1e-5
    gx = rand(rng, x.shape, f32)
    ggx = cupy.asarray(gx)
    cpu.gemm.backward(y, w, gx, True)
    gpu.gemm.backward(gy, cupy.asarray(w), ggx, True)
    assert rel(ggx.get(), gx) < 1e-5

    for sigma, shape in ((0.3, (2, 3, 224, 224)), (2.5, (1, 3, 17, 23)), (3.0, (1, 2, 5, 7))):
        img = rng.uniform(0, 255, shape).astype(f32)
        r = cpu.blur.radius(sigma)
        taps = np.zeros(2 * r + 5, f32)  # zero-padded, as the renderer uploads them
        taps[2:-2] = cpu.blur.taps(sigma)
        ref = img.copy()
        cpu.blur.forward(ref, taps, np.empty(cpu.blur.work_size(shape, r + 2), f32))
        gimg = cupy.asarray(img)
        gpu.blur.forward(gimg, cupy.asarray(taps), cupy.empty(gpu.blur.work_size(shape, r + 2), f32))
        assert rel(gimg.get(), ref) < 1e-5

    big = rng.uniform(0, 255, (3, 3, 41, 37)).astype(f32)
    offs = np.array([[0, 0], [9, 5], [28, 26]], np.int64)
    win = np.empty((3, 3, 13, 11), f32)
    cpu.crop.crop(big, offs, win)
    gwin, gbig, goffs = cupy.empty(win.shape, f32), cupy.asarray(big), cupy.asarray(offs)
    gpu.crop.crop(gbig, goffs, gwin)
    assert np.array_equal(gwin.get(), win)
    new = rng.uniform(0, 255, win.shape).astype(f32)
    cpu.crop.paste(new, offs, big)
    gpu.crop.paste(cupy.asarray(new), goffs, gbig)
    assert np.array_equal(gbig.get(), big)

    order, scale, shift = np.array([2, 1, 0]), np.array([1.0, 2.0, 0.5], f32), np.array([-104, -117, -123], f32)
    px = rng.uniform(0, 255, (2, 3, 31, 29)).astype(f32)
    m = np.empty_like(px)
    cpu.pixels.to_model(px, order, scale, shift, m)
    gm = cupy.empty_like(cupy.asarray(px))
    args = [cupy.asarray(a) for a in (order, scale, shift)]
    gpu.pixels.to_model(cupy.asarray(px), *args, gm)
    assert rel(gm.get(), m) < 1e-6
    g = rand(rng, px.shape, f32)
    g[1] = 0
    gpx = cupy.asarray(px)
    cpu.pixels.ascent(px, g, order, scale, np.array([6.0], f32), 0.0, 255.0)
    gpu.pixels.ascent(gpx, cupy.asarray(g), args[0], args[1], cupy.asarray([6.0], f32), 0.0, 255.0)
    assert rel(gpx.get(), px) < 1e-5

    cls = np.array([3, 0], np.int64)
    for shape in ((2, 10), (2, 6, 5, 7)):
        y = rand(rng, shape, f32)
        obj = np.empty(2, f32)
        cpu.objective.gather(y, cls, obj)
        gobj = cupy.empty(2, f32)
        gpu.objective.gather(cupy.asarray(y), cupy.asarray(cls), gobj)
        assert rel(gobj.get(), obj) < 1e-6
        s = np.empty(shape, f32)
        cpu.objective.seed(s, cls)
        gs = cupy.empty(shape, f32)
        gpu.objective.seed(gs, cupy.asarray(cls))
        assert np.array_equal(gs.get(), s)


@pytest.mark.parametrize("flavour", ["bvlc_aux", "zoo", "torchvision"])
def test_whole_network_forward_and_gradient_match_cpu(model_path, flavour):
    import classviz
    path = model_path(flavour)
    cn, gn = classviz.load(path, backend="cpu"), classviz.load(path, backend="cuda")
    x = (np.random.default_rng(3).standard_normal((2, 3, 224, 224)) * 60).astype(np.float32)
    for head in cn.heads:
        assert rel(cupy.asnumpy(gn.forward(x, head)), cn.forward(x, head)) < 1e-4
        co, cg = cn.gradient(x, [5, 900], head)
        go, gg = gn.gradient(cupy.asarray(x), [5, 900], head)
        assert rel(go.get(), co) < 1e-4 and rel(gg.get(), cg) < 1e-4


def test_graph_replay_equals_eager_and_render_matches_cpu(model_path):
    import classviz
    from classviz import ascent
    path = model_path("bvlc_aux", 8)
    gn = classviz.load(path, backend="cuda")
    images_gpu = classviz.render(gn, [281, 251], "quick", seed=4)
    images_cpu = classviz.render(classviz.load(path, backend="cpu"), [281, 251], "quick", seed=4)
    for a, b in zip(images_gpu, images_cpu):
        mse = np.mean((a.astype(np.float64) - b) ** 2)
        psnr = 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))
        print(f"CPU vs GPU render PSNR: {psnr:.1f} dB")
        assert psnr > 30
    # one octave's captured step, replayed, equals the same step run eagerly
    octs = ascent.sched.get("quick")
    heads = ascent.octave_heads(gn, octs)
    pre, _ = classviz.preprocess.for_model(gn.model)
    eager, graph = (ascent.Renderer(gn, [1, 2], octs, heads, pre, 9) for _ in range(2))
    with gpu.stream():
        for r, use_graph in ((eager, False), (graph, True)):
            fn = r.octave_step(octs[0], heads[0])
            step = gpu.capture(fn, keep=(r.pixels,)) if use_graph else fn
            for i in range(3):
                r.set_step(octs[0].sigma(i), octs[0].step_size(i))
                step()
        gpu.stream().synchronize()
    assert np.array_equal(eager.pixels.get(), graph.pixels.get())
