"""The common ImageNet CNNs (classviz.testing.zoo), each written as ONNX in both of PyTorch's
exporter styles with seeded weights at 1/8 width: forward against onnxruntime, the gradient
against central differences in float64, a quick render, heads; and what those files contain:
float16 weights, external data in every layout ONNX allows."""
import os
import warnings

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from support.ort import ort_outputs

import classviz
from classviz.errors import ModelError, Notice
from classviz.testing import ARCHITECTURES, INPUT_SIZE, STYLES, write_architecture

WIDTH = 0.125


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """zoo(name, style) -> path of that architecture's file (written once per session)."""
    root = tmp_path_factory.mktemp("zoo")
    made = {}

    def get(name, style="legacy"):
        if (name, style) not in made:
            made[name, style] = write_architecture(str(root / f"{name}_{style}.onnx"), name, style, WIDTH, seed=3)
        return made[name, style]
    return get


def image(name, seed=0):
    s = INPUT_SIZE[name]
    return np.random.default_rng(seed).standard_normal((1, 3, s, s)).astype(np.float32)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_forward_matches_onnxruntime(zoo, name, style):
    path = zoo(name, style)
    net = classviz.load(path, backend="cpu")
    x = image(name)
    out = onnx.load(path, load_external_data=False).graph.output[0].name
    ref = ort_outputs(path, x, [out])[out]
    ours = net.forward(x)
    assert ours.shape == ref.shape == (1, 1000)
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    assert net.roles == {"main": net.heads[0]} and len(net.heads) == 1


@pytest.mark.parametrize("name,style", [(n, STYLES[i % 2]) for i, n in enumerate(ARCHITECTURES)])
def test_gradient_matches_finite_differences(zoo, name, style):
    """float64 end to end; the step is small enough (1e-7) that no ReLU, clip or max-pool kink is
    crossed along the random direction, which larger steps did (1% off on EfficientNet-Lite0)."""
    net = classviz.load(zoo(name, style), backend="cpu")
    x = image(name, 1).astype(np.float64)
    cls = 7
    _, grad = net.gradient(x, cls)
    d = np.random.default_rng(2).standard_normal(x.shape)
    h = 1e-7
    f = lambda z: net.forward(z)[0, cls]
    fd = (f(x + h * d) - f(x - h * d)) / (2 * h)
    assert abs(fd - np.vdot(grad, d)) <= 1e-5 * abs(fd), (fd, np.vdot(grad, d))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_quick_render_completes(zoo, name):
    """The quick schedule's aux octaves fall back to the main head with one Notice each kind; crops
    are the model's own input size (299 for Inception-v3: the image ends at 430, not 322)."""
    net = classviz.load(zoo(name, "dynamo" if name.startswith("eff") else "legacy"), backend="cpu")
    scores = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (img,) = classviz.render(net, [3], "quick", seed=0, on_step=lambda s: scores.append(float(s.scores[0])))
    side = {224: 322, 299: 430}[INPUT_SIZE[name]]
    assert classviz.schedule.final_size(classviz.schedule.get("quick"), INPUT_SIZE[name]) == side
    assert img.shape == (side, side, 3) and img.dtype == np.uint8 and img.std() > 1
    assert np.isfinite(scores).all() and scores[-1] != scores[0]
    assert any(issubclass(w.category, Notice) and "aux" in str(w.message) for w in caught)


def test_head_by_tensor_name_on_a_residual_network(zoo):
    net = classviz.load(zoo("resnet18"), backend="cpu")
    x = image("resnet18")
    adds = [n.outputs[0] for n in net.model.nodes if n.op == "Add"]
    y = net.forward(x, head=adds[-1])
    assert y.ndim == 4 and y.shape[0] == 1
    _, g = net.gradient(x, 0, head=adds[-1])
    assert g.shape == x.shape and np.any(g != 0)


def test_float16_weights_are_upcast_with_one_notice(zoo, tmp_path):
    src = onnx.load(zoo("mobilenet_v2"))
    for t in src.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size > 1:
            t.CopyFrom(numpy_helper.from_array(a.astype(np.float16), t.name))
    # an fp16 export also casts each weight back to float before its use
    path = str(tmp_path / "half.onnx")
    onnx.save(src, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = classviz.load(path, backend="cpu")
    notes = [str(w.message) for w in caught if issubclass(w.category, Notice)]
    assert len(notes) == 1 and "float16" in notes[0] and "float32" in notes[0]
    ref = classviz.load(zoo("mobilenet_v2"), backend="cpu")
    x = image("mobilenet_v2")
    a, b = net.forward(x), ref.forward(x)
    assert 0 < np.abs(a - b).max() <= 2e-2 * np.abs(b).max()  # fp16 rounding of the weights


@pytest.mark.parametrize("layout", ["one file", "file per tensor", "offsets in one file"])
def test_external_data_layouts(zoo, tmp_path, layout):
    model = onnx.load(zoo("resnet18"))
    path = str(tmp_path / "ext.onnx")
    if layout == "one file":
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
                  size_threshold=0)
    elif layout == "file per tensor":
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
    else:  # tensors at explicit offsets and lengths, in reverse order, with gaps: any layout is legal
        blob = bytearray()
        for t in reversed(model.graph.initializer):
            raw = numpy_helper.to_array(t).tobytes()
            blob += b"\0" * (64 - len(blob) % 64)
            off = len(blob)
            blob += raw
            t.ClearField("raw_data")
            t.ClearField("float_data")
            t.ClearField("int64_data")
            t.data_location = onnx.TensorProto.EXTERNAL
            del t.external_data[:]
            for k, v in (("location", "blob.dat"), ("offset", str(off)), ("length", str(len(raw)))):
                t.external_data.add(key=k, value=v)
        (tmp_path / "blob.dat").write_bytes(bytes(blob))
        onnx.save(model, path)
    net = classviz.load(path, backend="cpu")
    x = image("resnet18")
    np.testing.assert_allclose(net.forward(x), classviz.load(zoo("resnet18"), backend="cpu").forward(x), rtol=0, atol=0)


def test_missing_external_data_is_one_line(zoo, tmp_path):
    path = write_architecture(str(tmp_path / "m.onnx"), "mobilenet_v2", "dynamo", WIDTH)
    os.remove(path + ".data")
    with pytest.raises(ModelError) as e:
        classviz.load(path, backend="cpu")
    msg = str(e.value)
    assert "\n" not in msg and "m.onnx.data" in msg and "missing" in msg


def test_bfloat16_weights_are_upcast(tmp_path):
    import ml_dtypes  # onnx's own dependency
    from onnx import TensorProto, helper
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    wb = w.astype(ml_dtypes.bfloat16)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(wb, "w")])
    path = str(tmp_path / "bf16.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = classviz.load(path, backend="cpu")
    notes = [str(m.message) for m in caught if issubclass(m.category, Notice)]
    assert len(notes) == 1 and "bfloat16" in notes[0]
    np.testing.assert_array_equal(net.model.nodes[0].params["W"], wb.astype(np.float32))
