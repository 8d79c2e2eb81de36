"""Bad input: each gives a classviz error whose message is one line naming the problem."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import classviz
from classviz import ArgumentError, ClassvizError, ModelError, renderer


def one_line(excinfo, *words):
    msg = str(excinfo.value)
    assert "\n" not in msg and msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.fixture(scope="module")
def net(model_path):
    return classviz.load(model_path("bvlc_aux", 8), backend="cpu")


def test_missing_truncated_and_non_onnx_files(tmp_path, model_path):
    with pytest.raises(ModelError) as e:
        classviz.load(tmp_path / "nope.onnx", backend="cpu")
    one_line(e, "not found")
    data = open(model_path("bvlc_aux", 8), "rb").read()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError) as e:
        classviz.load(tmp_path / "cut.onnx", backend="cpu")
    one_line(e, "cut.onnx")
    (tmp_path / "text.onnx").write_text("this is not a model\n" * 10)
    with pytest.raises(ModelError) as e:
        classviz.load(tmp_path / "text.onnx", backend="cpu")
    one_line(e, "text.onnx")


def save(tmp_path, nodes, inits=(), name="m.onnx", opset=13):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    path = str(tmp_path / name)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


def test_empty_graph(tmp_path):
    with pytest.raises(ModelError) as e:
        classviz.load(save(tmp_path, []), backend="cpu")
    one_line(e, "empty")


def test_unsupported_op_names_type_and_node(tmp_path):
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["r"], name="ok"),
                           helper.make_node("Tanh", ["r"], ["y"], name="squash")])
    with pytest.raises(ModelError) as e:
        classviz.load(path, backend="cpu")
    one_line(e, "Tanh", "squash")


def test_external_data_outside_the_model_folder(tmp_path):
    w = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for where in ("../secret.bin", "/etc/passwd"):
        del w.external_data[:]
        w.external_data.add(key="location", value=where)
        path = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="c")], [w],
                    name=f"ext{len(where)}.onnx")
        with pytest.raises(ModelError) as e:
            classviz.load(path, backend="cpu")
        one_line(e, "outside the model's folder", where)


def test_external_data_inside_the_folder_loads(tmp_path):
    w = np.random.default_rng(0).standard_normal((2, 3, 1, 1)).astype(np.float32)
    (tmp_path / "w.bin").write_bytes(w.tobytes())
    t = numpy_helper.from_array(w, "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="w.bin")
    net = classviz.load(save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="c")], [t]), backend="cpu")
    x = np.ones((1, 3, 8, 8), np.float32)
    np.testing.assert_allclose(net.forward(x)[0, :, 0, 0], w.reshape(2, 3).sum(1), rtol=1e-6)


def test_bad_head(net):
    with pytest.raises(ArgumentError) as e:
        net.forward(np.zeros((1, 3, 224, 224), np.float32), head="loss9/classifier")
    one_line(e, "loss9/classifier", "main")


@pytest.mark.parametrize("x,words", [
    (np.zeros((3, 224, 224), np.float32), ["shape"]),
    (np.zeros((1, 4, 224, 224), np.float32), ["channels"]),
    (np.zeros((1, 3, 224, 224), np.int32), ["float32", "int32"]),
    (np.zeros((1, 3, 224, 224), np.float16), ["float16"]),
    (np.zeros((1, 3, 40, 40), np.float32), ["too small"]),
    ([[1.0]], ["array"]),
])
def test_bad_x(net, x, words):
    with pytest.raises(ArgumentError) as e:
        net.gradient(x, 0)
    one_line(e, *words)


def test_nan_and_inf_in_x(net):
    for bad in (np.nan, np.inf):
        x = np.zeros((1, 3, 224, 224), np.float32)
        x[0, 1, 5, 5] = bad
        with pytest.raises(ArgumentError) as e:
            net.gradient(x, 0)
        one_line(e, "NaN or Inf")


def test_class_out_of_range_and_wrong_count(net):
    x = np.zeros((2, 3, 224, 224), np.float32)
    with pytest.raises(ArgumentError) as e:
        net.gradient(x, [1, 1000])
    one_line(e, "1000", "out of range")
    with pytest.raises(ArgumentError) as e:
        net.gradient(x, [-1, 0])
    one_line(e, "-1")
    with pytest.raises(ArgumentError) as e:
        net.gradient(x, [1, 2, 3])
    one_line(e, "2 ints")
    with pytest.raises(ArgumentError):
        net.gradient(x, [0.5, 1.0])


def test_unknown_backend(model_path):
    with pytest.raises(ArgumentError) as e:
        classviz.load(model_path("bvlc_aux", 8), backend="tpu")
    one_line(e, "tpu")


@pytest.mark.parametrize("precision, words", [("bf16", ["'bf16' needs the CUDA backend"]),
                                               ("fp16", ["unknown precision 'fp16'", "fp32, tf32, bf16"])])
def test_precision_the_backend_cannot_do(model_path, precision, words):
    with pytest.raises(ArgumentError) as e:
        classviz.load(model_path("bvlc_aux", 8), backend="cpu", precision=precision)
    one_line(e, *words)


def test_errors_are_classviz_errors():
    assert issubclass(ModelError, ClassvizError) and issubclass(ArgumentError, ValueError)


def test_unflattenable_reshape(tmp_path):
    shape = numpy_helper.from_array(np.array([3, -1, 2], np.int64), "s")
    path = save(tmp_path, [helper.make_node("Reshape", ["x", "s"], ["y"], name="odd")], [shape])
    with pytest.raises(ModelError) as e:
        classviz.load(path, backend="cpu")
    one_line(e, "Reshape", "odd")


def _damaged(model_path, tmp_path, name, value, where=(0, 0, 0, 0)):
    """The narrow BVLC model with one value of initializer `name` set to `value`; returns its path."""
    m = onnx.load(model_path("bvlc_aux", 8))
    i = [t.name for t in m.graph.initializer].index(name)
    a = numpy_helper.to_array(m.graph.initializer[i]).copy()
    a[where[:a.ndim]] = value
    m.graph.initializer[i].CopyFrom(numpy_helper.from_array(a, name))
    path = str(tmp_path / f"damaged_{abs(hash((name, str(value))))}.onnx")
    onnx.save(m, path)
    return path


@pytest.mark.parametrize("value, words", [(np.nan, "1 NaN and 0 Inf"), (np.inf, "0 NaN and 1 Inf")])
def test_nan_or_inf_weights_are_refused_at_load_naming_the_tensor(model_path, tmp_path, value, words):
    path = _damaged(model_path, tmp_path, "conv1/7x7_s2.weight", value)
    with pytest.raises(ModelError) as e:
        classviz.load(path, backend="cpu")
    one_line(e, "'conv1/7x7_s2.weight'", words, "damaged")


def test_a_render_stops_when_the_gradient_turns_nan(model_path):
    # weights that were finite at load and turned NaN later: the render must not go on drawing noise
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    node = next(n for n in net.network.model.nodes if n.op == "Conv")
    node.params["W"] = node.params["W"].copy()
    node.params["W"][0, 0, 0, 0] = np.nan
    with pytest.raises(classviz.RenderFailed) as e:
        classviz.render(net, [3, 4], "quick", seed=0)
    one_line(e, "class 3 (image 1 of 2)", "became NaN or Inf at step 1 of 60", "octave 1", "loss3/classifier")
    assert e.value.steps_done == 0 and e.value.steps == 60


def test_a_render_stops_when_the_gradient_is_identically_zero(model_path, tmp_path):
    m = onnx.load(model_path("bvlc_aux", 8))
    for i, t in enumerate(m.graph.initializer):
        if t.name.startswith("loss3/classifier."):  # an all-zero main classifier: every score is 0
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(t)), t.name))
    onnx.save(m, tmp_path / "zero.onnx")
    net = classviz.load(tmp_path / "zero.onnx", backend="cpu")
    with pytest.raises(classviz.RenderFailed) as e:
        classviz.render(net, 7, "quick", seed=0)
    one_line(e, "class 7", f"is identically zero at step 1 of 60 and the {renderer.ZERO_STEPS - 1} steps after it",
             "loss3/classifier", "does not depend on the pixels")
    assert e.value.steps_done == renderer.ZERO_STEPS - 1


def test_a_zero_gradient_stops_a_render_only_when_it_lasts():
    """A single unit's objective is zero while the unit is off: a few such steps in a row go on
    (the update leaves the image as it was), ZERO_STEPS in a row stop the render, naming the first
    of them; a NaN stops it at once. Each image counts its own steps (placements: the canvas's)."""
    from types import SimpleNamespace
    from classviz.kernels import get_backend
    fake = SimpleNamespace(be=get_backend("cpu"), zero_run=None, cls=[3, 5], places=None, n=2, done=0, steps=99)
    check = lambda norm: (setattr(fake, "norm", np.array(norm, float)), renderer.Renderer.check(fake, 2, "aux1"))  # noqa: E731
    z = renderer.ZERO_STEPS
    for _ in range(z - 1):  # image 2 off for ZERO_STEPS - 1 steps, then on again
        check([1.0, 0.0])
        fake.done += 1
    check([1.0, 2.0])
    fake.done += 1
    for _ in range(z - 1):
        check([0.0, 0.0])
        fake.done += 1
    with pytest.raises(classviz.RenderFailed) as e:  # image 1's tenth in a row
        check([0.0, 1.0])
    one_line(e, "class 3 (image 1 of 2)", f"is identically zero at step {z + 1} of 99 and the {z - 1} steps after it",
             "octave 3", "aux1")
    fake.zero_run = None
    with pytest.raises(classviz.RenderFailed, match="class 5 .image 2 of 2. became NaN or Inf at step"):
        check([1.0, np.nan])


@pytest.mark.parametrize("seed, words", [(-1, "seed must be >= 0, got -1"), (1.5, "got float 1.5"),
                                         ("7", "got str '7'"), (True, "got bool")])
def test_bad_seeds_are_one_line(net, seed, words):
    with pytest.raises(ArgumentError) as e:
        classviz.render(net, 1, "quick", seed=seed)
    one_line(e, words)


@pytest.mark.parametrize("kw, words", [
    ({"path": None}, ["path must be a file name", "NoneType"]),
    ({"path": 3}, ["path must be a file name", "int"]),
    ({"backend": None}, ["backend must be a name"]),
    ({"precision": None}, ["unknown precision None"]),
    ({"max_memory": 0}, ["max_memory must be a number of bytes above 0"]),
    ({"max_memory": "1G"}, ["max_memory must be"]),
])
def test_load_rejects_wrong_types_in_one_line(model_path, kw, words):
    kw = {"path": model_path("bvlc_aux", 8), "backend": "cpu", **kw}
    with pytest.raises(ArgumentError) as e:
        classviz.load(**kw)
    one_line(e, *words)


@pytest.mark.parametrize("out, words", [
    (np.zeros((2, 3, 224, 224), np.int8), ["dtype float32, got shape (2, 3, 224, 224) and dtype int8"]),
    (np.zeros((2, 3, 224, 223), np.float32), ["x's shape (2, 3, 224, 224)", "got shape (2, 3, 224, 223)"]),
    ([[0.0]], ["out must be a cpu backend array like x, got list"]),
])
def test_gradient_out_is_checked_before_any_work(net, monkeypatch, out, words):
    x = np.zeros((2, 3, 224, 224), np.float32)
    monkeypatch.setattr(net, "plan", lambda *a, **k: pytest.fail("no work may start"))
    with pytest.raises(ArgumentError) as e:
        net.gradient(x, [1, 2], out=out)
    one_line(e, *words)


def test_read_only_out_is_refused(net):
    x = np.zeros((1, 3, 224, 224), np.float32)
    out = np.zeros_like(x)
    out.flags.writeable = False
    with pytest.raises(ArgumentError) as e:
        net.gradient(x, [1], out=out)
    one_line(e, "read-only")


def test_a_plan_larger_than_the_memory_is_refused_with_its_estimate(model_path, monkeypatch):
    net = classviz.load(model_path("torchvision", 8), backend="cpu", max_memory=20 << 20)
    net.forward(np.zeros((1, 3, 224, 224), np.float32))  # about 7 MiB: fits
    with pytest.raises(ArgumentError) as e:
        net.forward(np.zeros((1, 3, 800, 800), np.float32))
    one_line(e, "(1, 3, 800, 800)", "buffers would need about", "more than max_memory (20 MiB)")
    # without max_memory the limit is what the backend has available now
    free = classviz.load(model_path("torchvision", 8), backend="cpu")
    monkeypatch.setattr(free.backend, "available_memory", lambda: 1 << 20)
    with pytest.raises(ArgumentError) as e:
        free.forward(np.zeros((1, 3, 224, 224), np.float32))
    one_line(e, "more than the memory available to the cpu backend (1 MiB)")


def test_estimate_covers_what_a_plan_allocates(model_path):
    import tracemalloc
    net = classviz.load(model_path("torchvision", 8), backend="cpu")
    tracemalloc.start()
    plan = net.plan(None, (2, 3, 320, 320))
    got = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    weights = 4 * net.model.parameter_count()
    # the estimate (buffers only) may exceed what was allocated, but not fall far short of it
    assert got - 3 * weights <= plan.memory_estimate() <= 4 * got, (got, plan.memory_estimate(), weights)


def test_every_unsupported_op_is_listed_in_one_line(tmp_path):
    w = numpy_helper.from_array(np.zeros((1, 8, 3), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((1, 8, 2), np.float32), "R")
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["a"], name="ok"),
                           helper.make_node("Tanh", ["a"], ["b"], name="squash"),
                           helper.make_node("Tanh", ["b"], ["c"], name="squash2"),
                           helper.make_node("NonZero", ["c"], ["nz"], name="where"),
                           helper.make_node("LSTM", ["c", "W", "R"], ["y"], name="memory", hidden_size=2)], [w, r])
    with pytest.raises(ModelError) as e:
        classviz.load(path, backend="cpu")
    one_line(e, "'Tanh' in nodes 'squash', 'squash2'", "'NonZero' (data-dependent shape) in node 'where'",
             "'LSTM' (recurrent) in node 'memory'")


@pytest.mark.parametrize("nodes,opset,words", [
    ([helper.make_node("Pad", ["x", "p"], ["q"], name="edgy", mode="reflect"), helper.make_node("Relu", ["q"], ["y"])],
     13, ("Pad node 'edgy'", "reflect")),
    ([helper.make_node("Pad", ["x", "p"], ["q"], name="lonely"), helper.make_node("Relu", ["q"], ["y"])],
     13, ("Pad node 'lonely'", "cannot be folded")),
    ([helper.make_node("Pad", ["x", "p"], ["q"], name="pm"),
      helper.make_node("MaxPool", ["q"], ["y"], kernel_shape=[2, 2])], 13, ("Pad node 'pm'", "MaxPool")),
    ([helper.make_node("ReduceMean", ["x"], ["y"], name="chan", axes=[1])], 13, ("ReduceMean node 'chan'", "(2, 3)")),
    ([helper.make_node("Sub", ["x", "x"], ["y"], name="diff")], 13, ("Sub node 'diff'", "two computed tensors")),
    ([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Expand", ["x", "s"], ["y"], name="grow")], 13,
     ("node 'grow'", "shape of an activation")),
])
def test_unsupported_forms_name_the_node(tmp_path, nodes, opset, words):
    p = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "p")
    with pytest.raises(ModelError) as e:
        classviz.load(save(tmp_path, nodes, [p], opset=opset), backend="cpu")
    one_line(e, *words)


def test_a_main_head_that_is_not_a_classifier_says_which_and_what_shape(tmp_path):
    w = numpy_helper.from_array(np.ones((5, 3, 3, 3), np.float32), "w")
    net = classviz.load(save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="seg", kernel_shape=[3, 3])],
                             [w]), backend="cpu")
    with pytest.raises(ModelError) as e:
        classviz.render(net, [1], "quick", seed=0)
    one_line(e, "main head 'y'", "(1, 5, 222, 222)")
    # the same tensor named as a head draws its channel's mean
    (img,) = classviz.render(net, [1], [classviz.schedule.Octave("y", 2, 1.0, 1.0, 1, 1)], seed=0)
    assert img.shape == (224, 224, 3)
