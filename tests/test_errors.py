"""Bad input: each gives a classviz error whose message is one line naming the problem."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import classviz
from classviz import ArgumentError, ClassvizError, ModelError


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
