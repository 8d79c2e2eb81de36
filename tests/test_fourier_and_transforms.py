"""The Fourier parameterization (classviz/fourier.py, kernels/*/fourier.py), the transforms
(classviz/transforms.py, kernels/*/warp.py) and Adam (kernels/*/adam.py) on the CPU: round
trips, adjoint identities and finite differences in float64, on odd shapes. Their CUDA twins are
compared with these in tests/test_cuda.py."""
import math

import numpy as np
import pytest

from classviz import fourier, transforms
from classviz.errors import ArgumentError
from classviz.kernels import cpu

SHAPES = [(2, 7, 9), (1, 8, 10), (1, 11, 6), (1, 224, 224)]


def _prepared(n, h, w):
    return cpu.fourier.prepare((n, 3, h, w), np.float64, fourier.scale(h, w), fourier.COLOUR, cpu.asarray)


@pytest.mark.parametrize("n,h,w", SHAPES)
def test_fourier_round_trips(n, h, w):
    """from_pixels inverts to_pixels: pixels -> spectrum -> pixels comes back to rounding (pixels
    inside (0.5, 254.5): the sigmoid reaches neither end), and the kernel's to_pixels is the host's."""
    rng = np.random.default_rng(1)
    px = rng.uniform(1, 254, (n, 3, h, w))
    s = fourier.from_pixels(px)
    assert s.shape == fourier.shape(n, h, w)
    back = np.empty_like(px)
    cpu.fourier.to_pixels(s, _prepared(n, h, w), back)
    assert np.abs(back - px).max() < 1e-9
    assert np.array_equal(back, fourier.to_pixels(s, w))


@pytest.mark.parametrize("n,h,w", SHAPES[:3])
def test_fourier_gradient_matches_finite_differences(n, h, w):
    """<g, d pixels> along a random direction of the spectrum, by central differences, equals
    <backward(g), direction> to 1e-7 relative (float64)."""
    rng = np.random.default_rng(2)
    fp = _prepared(n, h, w)
    s = rng.normal(0, 0.05, fourier.shape(n, h, w))
    px, plus, minus = (np.empty((n, 3, h, w)) for _ in range(3))
    cpu.fourier.to_pixels(s, fp, px)
    g = rng.standard_normal(px.shape)
    gs = np.empty_like(s)
    cpu.fourier.backward(g, px, fp, gs)
    for _ in range(3):
        d = rng.standard_normal(s.shape)
        e = 1e-6
        cpu.fourier.to_pixels(s + e * d, fp, plus)
        cpu.fourier.to_pixels(s - e * d, fp, minus)
        fd = np.vdot(g, (plus - minus) / (2 * e))
        assert abs(fd - np.vdot(gs, d)) < 1e-7 * abs(fd)


def test_fourier_scale_is_one_over_frequency():
    """The spectrum scale: sqrt(HW)/4 / max(|f|, 1/max(H, W)): the DC term and the lowest frequency
    share the cap, and doubling a frequency halves its scale."""
    sc = fourier.scale(16, 16)
    assert sc[0, 0] == sc[0, 1] == pytest.approx(16 / 4 * 16)
    assert sc[0, 2] == pytest.approx(sc[0, 1] / 2) and sc[0, 4] == pytest.approx(sc[0, 2] / 2)


def _random_params(rng, n):
    tf = transforms.Transforms(jitter=3, scale=(0.7, 1.0, 1.4), rotate=25.0)
    return np.stack([transforms.draw(rng, tf) for _ in range(n)])


@pytest.mark.parametrize("shape", [(2, 3, 13, 17), (1, 2, 9, 9), (1, 3, 30, 11)])
def test_warp_adjoint_identity(shape):
    """<warp(x), u> = <x, warp^T(u)> in float64 to 1e-13, for random rotations, scales and shifts
    (with clamping at the edges) on odd and non-square shapes."""
    rng = np.random.default_rng(3)
    for _ in range(4):
        p = _random_params(rng, shape[0])
        x, u = rng.standard_normal(shape), rng.standard_normal(shape)
        y, work, g = np.empty(shape), np.empty(shape), np.empty(shape)
        cpu.warp.forward(x, p, work, y)
        cpu.warp.backward(u, p, work, g)
        a, b = np.vdot(y, u), np.vdot(x, g)
        assert abs(a - b) < 1e-13 * max(1.0, abs(a))


def test_warp_identity_and_geometry():
    """The identity's parameters leave an image as it is, bit for bit; a whole-pixel jitter shifts
    it by that many pixels (edge pixels repeated); a rotation by 90 degrees turns it (about its
    centre, to rounding); a scale of 2 reads the centre half."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 3, 9, 9))
    y, work = np.empty_like(x), np.empty_like(x)
    ident = np.tile([[1.0, 0.0, 0.0]], (1, 4, 1))
    cpu.warp.forward(x, ident, work, y)
    assert np.array_equal(x, y)
    shift = ident.copy()
    shift[0, 2, 2], shift[0, 3, 2] = 2, -1  # read 2 pixels right, 1 up
    cpu.warp.forward(x, shift, work, y)
    assert np.array_equal(y[..., 1:, :-2], x[..., :-1, 2:])
    # a smooth image turned by 10 degrees, zoomed by 1.25 and shifted: away from the edges (which
    # the shears clamp), each pixel reads the image where the map says, to the interpolation's error
    h = w = 41
    r, c = np.mgrid[0:h, 0:w].astype(np.float64)
    f = lambda r, c: np.sin(0.2 * r + 0.1 * c) + np.cos(0.15 * c - 0.05 * r)  # noqa: E731
    img = np.broadcast_to(f(r, c), (1, 2, h, w)).copy()
    a, s_, dy, dx = math.radians(10), 1.25, 2, -1
    p = np.array([[[1, -math.tan(a / 2), 0], [1, math.sin(a), 0], [1 / s_, -math.tan(a / 2), dx], [1 / s_, 0, dy]]])
    out, work = np.empty_like(img), np.empty_like(img)
    cpu.warp.forward(img, p, work, out)
    u, v = (r - 20) / s_ + dy, (c - 20) / s_ + dx  # about the centre (20, 20)
    src_r, src_c = 20 + math.cos(a) * u + math.sin(a) * v, 20 - math.sin(a) * u + math.cos(a) * v
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert np.abs(out[inner] - f(src_r, src_c)[8:-8, 8:-8]).max() < 0.03
    assert np.abs(out[inner] - img[inner]).max() > 0.5  # and it did move
    zoom = ident.copy()
    zoom[0, 2:, 0] = 0.5
    z = np.zeros((1, 1, 9, 9))
    z[..., 4, 4] = 1.0
    out, w1 = np.empty_like(z), np.empty_like(z)
    cpu.warp.forward(z, zoom, w1, out)
    assert out[0, 0, 4, 4] == 1.0 and out[0, 0, 3:6, 3:6].sum() > 1.0  # the centre pixel spread over more


def test_transforms_draw_and_check():
    """draw is reproducible from the Generator and stays within its ranges; check reads a table and
    names the field it refuses, in one line."""
    tf = transforms.check({"jitter": 4, "scale": [0.9, 1.1], "rotate": 10}, "here")
    a = transforms.draw(np.random.default_rng(5), tf)
    assert np.array_equal(a, transforms.draw(np.random.default_rng(5), tf))
    assert a[2, 0] in (1 / 0.9, 1 / 1.1) and abs(a[2, 2]) <= 4 and abs(a[3, 2]) <= 4
    assert abs(a[1, 1]) <= math.sin(math.radians(10)) + 1e-15
    for bad, field in (({"jitter": -1}, "jitter"), ({"scale": []}, "scale"), ({"scale": [9]}, "scale"),
                       ({"rotate": "x"}, "rotate"), ({"zoom": 1}, "zoom"), (3, "transforms")):
        with pytest.raises(ArgumentError, match=field) as e:
            transforms.check(bad, "octave 1")
        assert "\n" not in str(e.value)


def test_adam_steps_and_skips():
    """Adam's first step moves each element by the rate in the gradient's direction (m/sqrt(v) is
    sign(g) at t=1), clipped; an image with a zero or NaN gradient is left as it was, moments too."""
    rng = np.random.default_rng(6)
    p = rng.uniform(0.2, 0.8, (3, 2, 4, 5))
    g = rng.standard_normal(p.shape)
    g[1] = 0
    g[2, 0, 0, 0] = np.nan
    m, v, norm = np.zeros_like(p), np.zeros_like(p), np.empty(3)
    before = p.copy()
    cpu.adam.step(p, g, m, v, np.array([cpu.adam.rate_of(0.05, 1)]), 0.0, 1.0, norm)
    expect = np.clip(before[0] + cpu.adam.rate_of(0.05, 1) * 0.1 * g[0] / (np.sqrt(0.001) * np.abs(g[0]) + 1e-8), 0, 1)
    assert np.allclose(p[0], expect, rtol=0, atol=1e-12)
    assert np.array_equal(p[1:], before[1:]) and not m[1:].any() and not v[1:].any()
    assert norm[0] == pytest.approx(np.abs(g[0]).mean()) and norm[1] == 0 and np.isnan(norm[2])


# --- in a render --------------------------------------------------------------------------------

import classviz  # noqa: E402
from classviz import ascent, canvas, renderer, schedule  # noqa: E402

SHORT_LUCID = [dict(head="main", iter_n=12, start_sigma=0, end_sigma=0, start_step_size=0.05, end_step_size=0.05,
                    param="fourier", update="adam", transforms=transforms.LUCID.as_dict())]


@pytest.fixture(scope="module")
def net(model_path):
    return classviz.load(model_path("bvlc_aux", 8), backend="cpu")


def _scores(net, classes, octaves, **kw):
    seen = []
    images = classviz.render(net, classes, octaves, seed=1, on_step=lambda s: seen.append(s.scores), **kw)
    return images, np.array(seen)


def test_lucid_octaves_raise_the_score_and_reproduce(net):
    """A short lucid octave (Fourier, Adam, transforms) raises every image's objective, draws the
    same pixels again from the same seed, and draws something else than deepdraw's pixels would."""
    images, seen = _scores(net, [1, 7], SHORT_LUCID)
    assert (seen[-3:].mean(0) > seen[:3].mean(0) + 0.1 * np.abs(seen[:3].mean(0))).all(), seen[[0, -1]]
    again = classviz.render(net, [1, 7], SHORT_LUCID, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(images, again))
    normalized = [dict(SHORT_LUCID[0], update="normalized", start_step_size=0.5, end_step_size=0.5)]
    assert not np.array_equal(images[0], classviz.render(net, [1], normalized, seed=1)[0])
    pixels = [dict(SHORT_LUCID[0], param="pixels", update="normalized", start_step_size=3, end_step_size=3)]
    assert not np.array_equal(images[0], classviz.render(net, [1], pixels, seed=1)[0])
    assert images[0].std() > 5  # a picture, not a flat grey


def test_transforms_change_what_the_network_sees(net, monkeypatch):
    """With transforms, the window the network sees each step is the warped one (and differs from
    the crop); without, it is the crop itself; a rotation-only octave draws other pixels than none."""
    seen = []
    real = renderer.ObjectivePass.__call__
    monkeypatch.setattr(renderer.ObjectivePass, "__call__", lambda self, x, obj: (seen.append(x.copy()), real(self, x, obj))[1])
    octave = dict(head="main", iter_n=2, start_sigma=0.5, end_sigma=0.5, start_step_size=3, end_step_size=3)
    plain = classviz.render(net, [3], [octave], seed=2)[0]
    warped = classviz.render(net, [3], [dict(octave, transforms={"rotate": 20.0, "jitter": 4})], seed=2)[0]
    assert not np.array_equal(plain, warped)
    pre, _ = classviz.preprocess.for_model(net.model)
    first_plain, first_warped = seen[0], seen[2]  # the same start noise, seen straight and turned
    assert np.array_equal(first_plain.shape, first_warped.shape) and np.abs(first_plain - first_warped).max() > 1


def test_fourier_octave_starts_from_the_picture(net):
    """A Fourier octave fits its spectrum to the start picture: before any step the image is the
    photo resized, to one level (the sigmoid's ends kept half a level inside 0..255)."""
    p = (np.random.default_rng(0).random((150, 200, 3)) * 255).astype(np.uint8)
    octs = schedule.validate(SHORT_LUCID, "test")
    pre, _ = classviz.preprocess.for_model(net.model)
    r = renderer.Renderer(net, [1], octs, ascent.octave_heads(net, octs), pre, 0, init=p)
    r.octave_step(octs[0], ascent.octave_heads(net, octs)[0])  # what an octave's start does
    want = canvas.fit_picture(p, (224, 224)).astype(int)
    assert np.abs(r.images()[0].astype(int) - want).max() <= 1


def test_schedule_fields_check_and_record(tmp_path):
    """param, update and transforms read from a schedule file, are refused in one line when wrong,
    and are written back into the metadata's JSON only when set (deepdraw's text is unchanged)."""
    octs = schedule.get("lucid")
    assert octs[0].param == "fourier" and octs[0].update == "adam" and octs[0].transforms == transforms.LUCID
    assert schedule.validate([o.as_dict() for o in octs], "x") == octs
    assert "param" not in schedule.to_json(schedule.get("deepdraw"))
    base = dict(head="main", iter_n=3, start_sigma=0, end_sigma=0, start_step_size=1, end_step_size=1)
    for bad, words in ((dict(param="wavelet"), "'param' must be one of pixels, fourier"),
                       (dict(update="sgd"), "'update' must be one of normalized, adam"),
                       (dict(param="fourier", start_sigma=1.0), "give it start_sigma and end_sigma 0"),
                       (dict(transforms={"rotate": 400}), "'rotate' must be degrees")):
        with pytest.raises(ArgumentError, match=words):
            schedule.validate([dict(base, **bad)], "schedule")
