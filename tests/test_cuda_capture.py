"""The CUDA backend's order of work, checked on the host: every step of a render captured into a
graph, nothing a capture refuses done inside one, no stream reading what another wrote without an
event between, pointers handed to cuDNN aligned, deterministic and exact algorithms chosen.

tests/support/cuda_host.py's `Device` models what a GPU enforces: launches on a capturing stream are
recorded and replayed, not run; allocation, host<->device copies, synchronisation, cudnnFind* and
CuPy's cuBLAS wrapper raise while any stream captures; each buffer remembers the stream that last
wrote it. The real CUDA backend (kernels/cuda/__init__.py and its wrappers) runs on it unchanged."""
import warnings

import numpy as np
import pytest
from support import cuda_host, cudnn_host

import classviz
from classviz import ascent, canvas, renderer, weights
from classviz.errors import Notice
from classviz.graph import Network
from classviz.net import Net

pytestmark = pytest.mark.skipif(cuda_host.unavailable() is not None, reason=f"{cuda_host.unavailable()}")

# every kind of octave (the whole 224 image, crops of an upscaled one, an aux head), short
SHORT = (ascent.sched.Octave("main", 3, 2.5, 0.78, 11, 11), ascent.sched.Octave("main", 2, 0.936, 0.78, 6, 6, 1.2),
         ascent.sched.Octave("aux2", 2, 0.936, 0.44, 6, 3, 1.2), ascent.sched.Octave("aux1", 1, 0.44, 0.304, 3, 3))


@pytest.fixture
def be(monkeypatch):
    return cuda_host.backend(monkeypatch)


@pytest.fixture
def fake(be):
    return be.xp


def _renderer(be, path, flavour_classes=(281, 251), octaves=SHORT):
    net = Net(Network(weights.read(path)), be)
    pre, _ = classviz.preprocess.for_model(net.model)
    with warnings.catch_warnings():
        # a model without aux heads says so once here; under -W error::Notice (the GPU check) that
        # is not the failed capture these tests look for
        warnings.filterwarnings("ignore", "the model has no aux", Notice)
        heads = ascent.octave_heads(net, octaves)
    return renderer.Renderer(net, list(flavour_classes), octaves, heads, pre, 4)


@pytest.mark.parametrize("flavour", ["bvlc_aux", "torchvision"])
def test_every_octave_of_a_render_is_one_graph_replay(be, model_path, flavour):
    """No Notice (a failed capture says one and runs eagerly): each step is a launch of the
    octave's graph, and its replay draws what the eager step draws."""
    r = _renderer(be, model_path(flavour, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Notice)
        images = r.run()
    assert cuda_host.DEVICE.launches == sum(o.iter_n for o in SHORT)
    eager = _renderer(be, model_path(flavour, 8))
    eager.be = _Eager(be)
    assert all(np.array_equal(a, b) for a, b in zip(images, eager.run()))


def test_objectives_capture(be, model_path):
    """A batch of mixed objectives (terms on the heads, inner tensors, l2, a neuron), started from
    a picture and drawn inside a mask: still one graph launch per step, and the replay draws what
    the eager step draws."""
    path = model_path("bvlc_aux", 8)
    net = Net(Network(weights.read(path)), be)
    exprs = ["tabby cat + 0.5 * tiger - 0.3 * 207", "inception_4a/output:3@4,4 + 0.1 * conv2/norm2:l2"]
    objs = ascent.parse_objectives(net, exprs, SHORT)

    def make():
        pre, _ = classviz.preprocess.for_model(net.model)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "the model has no aux", Notice)
            heads = ascent.octave_heads(net, SHORT)
        photo = (np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)
        mask = np.zeros((30, 30))
        mask[5:25, 3:20] = 1
        return renderer.Renderer(net, objs, SHORT, heads, pre, 4, init=photo, mask=mask, background=(0.0, 10.0, 20.0))

    images = _replays_as_eager(be, make, SHORT)
    assert (images[0][0, 0] == [0, 10, 20]).all()  # masked out


@pytest.mark.parametrize("kind", ["places", "path"])
def test_compositions_capture(be, model_path, kind):
    """Placements on a canvas (a crop and a paste-add per placement), or a path (its soft disc
    weighing the gradient): one graph per step, and the replay equals eager."""
    net = Net(Network(weights.read(model_path("bvlc_aux", 8))), be)

    def make():
        pre, _ = classviz.preprocess.for_model(net.model)
        kw = dict(places=[(0.3, 0.5), (0.7, 0.5)]) if kind == "places" else dict(path=canvas.parse_path("circle"))
        return renderer.Renderer(net, [281, 5] if kind == "places" else [281], SHORT, ascent.octave_heads(net, SHORT),
                               pre, 4, size=(260, 300), **kw)

    (image,) = _replays_as_eager(be, make, SHORT)
    assert image.shape == (260, 300, 3)


# lucid's kinds of octave: Fourier + Adam + transforms on the whole image, Fourier + Adam on crops of
# an upscaled canvas (the spectrum refitted), pixels + Adam + transforms (the canvas blurred), and
# deepdraw's pixels with transforms
LUCID_KINDS = tuple(ascent.sched.validate([
    dict(head="main", iter_n=2, start_sigma=0, end_sigma=0, start_step_size=0.05, end_step_size=0.05,
         param="fourier", update="adam", transforms=dict(jitter=5, scale=[0.9, 1.1], rotate=10)),
    dict(head="main", iter_n=2, start_sigma=0, end_sigma=0, start_step_size=0.05, end_step_size=0.05, scale=1.2,
         param="fourier", update="adam"),
    dict(head="aux2", iter_n=2, start_sigma=0.9, end_sigma=0.5, start_step_size=2, end_step_size=2, update="adam",
         transforms=dict(rotate=5)),
    dict(head="aux1", iter_n=1, start_sigma=0.4, end_sigma=0.3, start_step_size=3, end_step_size=3,
         transforms=dict(jitter=3, scale=[1.05])),
], "lucid kinds"))


@pytest.mark.parametrize("kind", ["batch", "places", "mask"])
def test_lucid_octaves_capture(be, model_path, kind):
    """Every kind of Fourier, Adam and transformed octave (a batch of two; two placements on one
    canvas; a masked start picture): one graph launch per step, and the replay draws what the
    eager step draws (the capture's warm-up leaves the spectrum and the moments as they were)."""
    net = Net(Network(weights.read(model_path("bvlc_aux", 8))), be)

    def make():
        pre, _ = classviz.preprocess.for_model(net.model)
        kw = {"places": dict(places=[(0.3, 0.5), (0.7, 0.5)], size=(260, 300)),
              "mask": dict(init=(np.random.default_rng(0).random((50, 60, 3)) * 255).astype(np.uint8),
                           mask=np.tri(20), background=(0.0, 10.0, 20.0)), "batch": {}}[kind]
        return renderer.Renderer(net, [281, 5] if kind != "mask" else [281], LUCID_KINDS,
                               ascent.octave_heads(net, LUCID_KINDS), pre, 4, **kw)

    images = _replays_as_eager(be, make, LUCID_KINDS)
    if kind == "mask":
        assert (images[0][0, -1] == [0, 10, 20]).all()


def test_facets_capture(be, model_path):
    """Three facets with the diversity term (gemm.cu's Grams, the pairwise dots, the adjoint) in a
    pixel octave and a Fourier one: one graph per step, the replay equals eager."""
    net = Net(Network(weights.read(model_path("bvlc_aux", 8))), be)
    octs = (SHORT[0]._replace(diversity=300.0), LUCID_KINDS[0]._replace(diversity_layer="inception_4a/output"))

    def make():
        pre, _ = classviz.preprocess.for_model(net.model)
        return renderer.Renderer(net, [281] * 3, octs, ascent.octave_heads(net, octs), pre, 4, facets=True)

    _replays_as_eager(be, make, octs)


@pytest.mark.parametrize("name,style", [("efficientnet_lite0", "legacy"), ("efficientnet_b0", "dynamo"),
                                        ("resnet18", "dynamo")])
def test_other_architectures_capture(be, tmp_path, name, style):
    """The other networks' kernels keep the capture rules too: depthwise convolutions, the padded
    copies of asymmetric pads (Lite0's folded Pads), fused ReLU6 and Add+ReLU, SiLU, the
    squeeze-and-excite gate's per-plane reduction (shared memory, a fixed order). Two octaves
    (the whole image, then crops), 1/16 width: the host is slow at depthwise and gated layers."""
    from classviz.testing import write_architecture
    path = write_architecture(str(tmp_path / f"{name}.onnx"), name, style, width=0.0625, seed=2)
    octaves = SHORT[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Notice)  # no aux heads: said once when the heads are chosen
        r, eager = _renderer(be, path, (3,), octaves), _renderer(be, path, (3,), octaves)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Notice)
        images = r.run()
    assert cuda_host.DEVICE.launches == sum(o.iter_n for o in octaves)
    eager.be = _Eager(be)
    assert all(np.array_equal(a, b) for a, b in zip(images, eager.run()))


def _replays_as_eager(be, make, octaves):
    """Render make()'s renderer under capture (a failed capture's Notice is an error), check that each
    step was one graph launch, and that an eager render of a fresh make() draws the same images;
    returns the captured render's images."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Notice)
        images = make().run()
    assert cuda_host.DEVICE.launches == sum(o.iter_n for o in octaves)
    eager = make()
    eager.be = _Eager(be)
    assert all(np.array_equal(a, b) for a, b in zip(images, eager.run()))
    return images


class _Eager:
    """The backend with capture switched off (the step itself runs each time)."""

    def __init__(self, be):
        self.__dict__.update({k: getattr(be, k) for k in dir(be) if not k.startswith("__")})
        self.xp = be.xp  # the module's __getattr__ gives it, dir() does not list it
        self.capture = lambda fn, keep=(): fn


def test_a_capture_refuses_what_cuda_refuses(be, fake):
    x = fake.zeros((4,), np.float32)
    with be.stream() as s:
        s.begin_capture()
        try:
            for what, call in [("allocating", lambda: fake.empty((4,), np.float32)),
                               ("device-to-host", lambda: x.get()),
                               ("host-to-device", lambda: x.set(np.ones(4, np.float32))),
                               ("a stream synchronize", lambda: s.synchronize()),
                               ("a device synchronize", lambda: fake.cuda.Device().synchronize()),
                               ("allocating its result", lambda: x + 1)]:
                with pytest.raises(cuda_host.CaptureError, match=what):
                    call()
            with pytest.raises(NotImplementedError, match="cuBLAS API during stream capture"):
                fake.cublas.gemm("N", "T", x.reshape(2, 2), x.reshape(2, 2), out=x.reshape(2, 2))
            x += 1  # in place: recorded, not run
            assert x.view(np.ndarray).tolist() == [0, 0, 0, 0]
        finally:
            graph = s.end_capture()
        graph.launch(s)
        graph.launch(s)
    assert x.get().tolist() == [2, 2, 2, 2]


def test_cudnn_find_is_refused_under_capture(be, fake):
    from classviz.kernels import geometry
    win = geometry.conv_window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 8, 8)
    cw = be.conv.prepare(np.ones((4, 2, 3, 3), np.float32), np.zeros(4, np.float32), win, 1, be.asarray)
    x, y = fake.zeros((1, 2, 8, 8), np.float32), fake.empty((1, 4, 8, 8), np.float32)
    work = fake.empty((be.conv.work_size(cw, 1),), np.float32)
    with be.stream() as s:
        s.begin_capture()
        try:
            with pytest.raises(cuda_host.CaptureError, match="cudnnFindConvolutionForwardAlgorithmEx"):
                be.conv.forward(x, cw, y, False, work)
        finally:
            s.end_capture()
        be.conv.forward(x, cw, y, False, work)  # found before the capture: then it captures
        s.begin_capture()
        be.conv.forward(x, cw, y, True, work)
        s.end_capture()


def test_a_stream_that_does_not_wait_is_a_race(be, fake):
    """The render stream is non-blocking: nothing orders it after the legacy stream, where the
    renderer's images were uploaded, nor orders the legacy stream's read of the images after it.
    `be.stream()` hands over with events both ways; a plain stream is caught."""
    a = fake.asarray(np.ones(8, np.float32))  # written on the legacy default stream
    plain = fake.cuda.Stream(non_blocking=True)
    with plain:
        with pytest.raises(AssertionError, match="race: numpy's multiply on stream .* legacy default stream"):
            np.multiply(a, 2, out=a)
    with be.stream():
        np.multiply(a, 2, out=a)
    assert a.get().tolist() == [2] * 8  # read on the legacy stream, after the render stream's work


def test_a_render_without_the_handoff_is_caught(be, fake, model_path, monkeypatch):
    r = _renderer(be, model_path("bvlc_aux", 8))
    monkeypatch.setattr(r.be, "stream", lambda: fake.cuda.Stream(non_blocking=True))
    with pytest.raises(AssertionError, match="race"):
        r.run()


def test_cudnn_gets_16_byte_aligned_pointers_only(be, fake):
    from classviz.kernels import geometry
    win = geometry.conv_window((1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 5, 5)
    cw = be.conv.prepare(np.ones((3, 2, 1, 1), np.float32), np.zeros(3, np.float32), win, 1, be.asarray)
    big = fake.zeros((1, 6, 5, 5), np.float32)
    work = fake.empty((be.conv.work_size(cw, 1),), np.float32)
    y = fake.empty((1, 3, 5, 5), np.float32)
    with pytest.raises(AssertionError, match="not 16-byte aligned"):
        be.conv.forward(big[:, 1:3], cw, y, False, work)  # 25 floats in: 100 bytes, 4 off
    be.conv.forward(big[:, 4:6], cw, y, False, work)  # 400 bytes in: aligned


def test_a_cudnn_tensor_must_lie_inside_one_live_array(be, fake):
    """The host cuDNN finds the array a descriptor's tensor lies in by address, through an index
    rebuilt at each allocation: a tensor one element past its array's end fails, as does one in
    an array that has died since, and a tensor of an array allocated after the last lookup is found."""
    import gc
    m = cudnn_host.cudnn()

    def tensor(a, extra=0):
        n, c, h, w = a.shape
        return cudnn_host.Tensor(m.FLOAT, (n, c, h, w + extra), (c * h * w, h * w, w, 1)), cudnn_host.pointer(a)

    a = fake.zeros((1, 2, 3, 4), np.float32)
    assert cudnn_host._raw(m, *tensor(a)) is cuda_host._raw_of(a)
    with pytest.raises(AssertionError, match="reaches outside every array"):
        cudnn_host._raw(m, *tensor(a, extra=1))  # its last row one element longer: past the end
    b = fake.zeros((1, 2, 3, 4), np.float32)  # after the last lookup: the index must be rebuilt
    assert cudnn_host._raw(m, *tensor(b)) is cuda_host._raw_of(b)
    desc, ptr = tensor(b)
    del b
    gc.collect()
    with pytest.raises(AssertionError, match="reaches outside every array"):
        cudnn_host._raw(m, desc, ptr)  # a dead array's memory


@pytest.mark.parametrize("found, precision, chosen, notice", [
    ([(4, True), (6, True), (1, True)], "fp32", 1, None),             # FFT and Winograd pass over at fp32
    ([(4, True), (6, True), (1, True)], "tf32", 4, None),             # not at tf32
    ([(1, False), (0, True)], "fp32", 0, None),                       # a non-deterministic one never
    ([(1, False), (6, True)], "fp32", 1, "no deterministic direct forward algorithm fits; using algo 1"),
    ([(6, True)], "fp32", 6, "using algo 6 (WINOGRAD, not a direct sum)"),
])
def test_algorithm_choice(be, fake, monkeypatch, found, precision, chosen, notice):
    from classviz.kernels import geometry
    monkeypatch.setattr(cudnn_host, "FOUND", found)
    monkeypatch.setattr(be.conv, "_told", set())
    win = geometry.conv_window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 6, 6)
    cw = be.conv.prepare(np.ones((4, 2, 3, 3), np.float32), np.zeros(4, np.float32), win, 1, be.asarray, precision)
    x, y = fake.zeros((1, 2, 6, 6), np.float32), fake.empty((1, 4, 6, 6), np.float32)
    work = fake.empty((be.conv.work_size(cw, 1),), np.float32)
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        be.conv.forward(x, cw, y, False, work)
        be.conv.forward(x, cw, y, False, work)
    assert next(iter(cw.found.values()))[2][0][0] == chosen
    notices = [str(w.message) for w in told if issubclass(w.category, Notice)]
    assert notices == ([] if notice is None else [notices[0]]) and (notice is None or notice in notices[0])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_algorithm_refused_at_the_call_gives_way_to_the_next(be, fake, monkeypatch, precision):
    """cuDNN 9.19 on an H200 refused (BAD_PARAM) bf16 dgrad algo 1 at batch 64, which its Find had
    run and ranked first: the next algorithm takes over, for good, with one Notice, and the
    results are those of a layer that never met the refusal; anything but a refusal still raises."""
    from classviz.kernels import geometry
    monkeypatch.setattr(be.conv, "_told", set())
    win = geometry.conv_window((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 6, 6)
    w = np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32)
    x = fake.asarray(np.random.default_rng(1).standard_normal((2, 2, 6, 6)).astype(np.float32))
    gy = fake.asarray(np.random.default_rng(2).standard_normal((2, 4, 6, 6)).astype(np.float32))

    def run():
        cw = be.conv.prepare(w, np.zeros(4, np.float32), win, 1, be.asarray, precision)
        work = fake.empty((be.conv.work_size(cw, 2),), np.float32)
        y, gx = fake.empty((2, 4, 6, 6), np.float32), fake.empty((2, 2, 6, 6), np.float32)
        be.conv.forward(x, cw, y, False, work)
        be.conv.backward(gy.copy(), cw, gx, False, work, None, False)
        be.conv.backward(gy.copy(), cw, gx, True, work, None, False)  # the second call: no Notice again
        return cw, y.get(), gx.get()

    monkeypatch.setattr(cudnn_host, "FOUND", [(0, True)])
    _, y0, gx0 = run()
    monkeypatch.setattr(cudnn_host, "FOUND", [(1, True), (0, True)])
    monkeypatch.setattr(cudnn_host, "REFUSED", {"cudnnConvolutionBackwardData": {1}})
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always")
        cw, y1, gx1 = run()
    notices = [str(m.message) for m in told if issubclass(m.category, Notice)]
    assert len(notices) == 1 and "dgrad algo 1 refused at the call" in notices[0] and "using algo 0" in notices[0]
    assert [v[2][0][0] for k, v in cw.found.items() if k[0] == "bwd"] == [0]
    assert [v[2][0][0] for k, v in cw.found.items() if k[0] == "fwd"] == [1]  # forward was not refused
    assert np.array_equal(y0, y1) and np.array_equal(gx0, gx1)
    monkeypatch.setattr(cudnn_host, "FOUND", [(1, True)])  # nothing to fall back on: the error stands
    with pytest.raises(Exception, match="BAD_PARAM"):
        run()


def test_compile_key_holds_the_shared_constants_and_the_header(monkeypatch):
    """CuPy caches a module by its code and options: the #included common.cuh is in neither unless
    its hash goes into the options, and the constants Python shares with the kernels arrive as -D."""
    import hashlib

    from classviz.kernels.cuda import device, source
    seen = {}

    def compile(code, options, name_expressions):
        seen.update(code=code, options=options)
    monkeypatch.setattr(device, "_current", device.Device(None, None, None, compile, 0, 1))
    source.module("pixels")
    header = hashlib.sha1(open(f"{cuda_host.DIR}/common.cuh", "rb").read()).hexdigest()[:16]
    assert f"-DCV_COMMON_SHA1=0x{header}" in seen["options"]
    assert f"-DCV_PARTS={source.PARTS}" in seen["options"] and f"-DCV_THREADS={source.THREADS}" in seen["options"]
    assert "#define CV_PARTS" not in seen["code"]
