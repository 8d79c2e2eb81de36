"""Single-op ONNX graphs through the whole reader + plan, against onnxruntime: the pooling edge
semantics (ceil mode, asymmetric pads, count_include_pad), grouped and dilated convolutions, LRN
of even size, BatchNormalization without a Conv before it. Gradients of the same graphs are
checked against central differences in float64."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import classviz
from support.ort import ort_outputs

rng = np.random.default_rng(99)


def one_op(tmp_path, op, attrs, x_shape, inits=(), opset=13):
    inits = [numpy_helper.from_array(a.astype(np.float32), f"p{i}") for i, a in enumerate(inits)]
    node = helper.make_node(op, ["x"] + [t.name for t in inits], ["y"], name="the_op", **attrs)
    graph = helper.make_graph([node], "one", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = str(tmp_path / f"{op}.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


CASES = [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), (2, 3, 12, 9), ()),
    ("MaxPool", dict(kernel_shape=[3, 2], strides=[2, 3], pads=[1, 0, 0, 1], ceil_mode=1), (1, 2, 11, 10), ()),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]), (1, 4, 7, 7), ()),
    ("AveragePool", dict(kernel_shape=[5, 5], strides=[3, 3], ceil_mode=1), (1, 3, 16, 16), ()),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
                         count_include_pad=1), (1, 2, 10, 11), ()),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 2, 1], count_include_pad=0),
     (2, 2, 9, 8), ()),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0], count_include_pad=1),
     (1, 2, 9, 8), ()),
    ("Conv", dict(kernel_shape=[3, 3], group=2, pads=[1, 1, 1, 1]), (1, 4, 9, 8), (rng.standard_normal((6, 2, 3, 3)),)),
    ("Conv", dict(kernel_shape=[3, 3], dilations=[2, 2], pads=[2, 1, 0, 2], strides=[1, 2]), (2, 3, 11, 10),
     (rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4))),
    ("LRN", dict(size=3, alpha=0.5, beta=0.6, bias=2.0), (1, 6, 4, 5), ()),
    ("LRN", dict(size=5, alpha=2.0, beta=0.75, bias=1.0), (2, 7, 3, 5), ()),
    ("GlobalAveragePool", {}, (2, 3, 5, 7), ()),
    ("BatchNormalization", dict(epsilon=1e-3), (2, 3, 4, 4),
     (rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3), rng.uniform(0.5, 2, 3))),
]


def check_against_ort_and_fd(path, x):
    """The file's output 'y' for input x against onnxruntime (float32), and the gradient of channel
    0's mean against central differences along a random direction (float64). Returns the gradient."""
    net = classviz.load(path, backend="cpu")
    ref = ort_outputs(path, x, ["y"])["y"]
    ours = net.forward(x)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    x64 = x.astype(np.float64)
    _, grad = net.gradient(x64, 0)
    d = rng.standard_normal(x.shape)
    h = 1e-6
    f = lambda z: net.forward(z)[:, 0].mean(axis=tuple(range(1, ref.ndim - 1))).sum()
    fd = (f(x64 + h * d) - f(x64 - h * d)) / (2 * h)
    assert abs(fd - np.vdot(grad, d)) <= 1e-6 * max(1.0, abs(fd))
    return grad


@pytest.mark.parametrize("op,attrs,shape,inits", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_op_against_onnxruntime_and_fd(tmp_path, op, attrs, shape, inits):
    check_against_ort_and_fd(one_op(tmp_path, op, attrs, shape, inits), rng.standard_normal(shape).astype(np.float32))


def graph_file(tmp_path, name, nodes, x_shape, inits=(), opset=13):
    """An ONNX file of `nodes` (onnx NodeProtos reading 'x', the last writing 'y') with `inits`
    ({name: array}, stored with each array's own dtype) at `opset`; returns its path."""
    inits = [numpy_helper.from_array(np.asarray(a), k) for k, a in dict(inits).items()]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = str(tmp_path / f"{name}.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return path


N = helper.make_node
f32 = np.float32
GRAPHS = {  # name: (nodes, input shape, initializers, opset)
    "sigmoid": ([N("Sigmoid", ["x"], ["y"])], (2, 3, 5, 4), {}, 13),
    "hardsigmoid": ([N("HardSigmoid", ["x"], ["y"], alpha=0.3, beta=0.4)], (1, 3, 5, 4), {}, 13),
    "hardswish": ([N("HardSwish", ["x"], ["y"])], (2, 2, 6, 5), {}, 14),
    "relu6-inputs": ([N("Clip", ["x", "lo", "hi"], ["y"])], (1, 3, 4, 5), {"lo": f32(0), "hi": f32(6)}, 13),
    "clip-attrs": ([N("Clip", ["x"], ["y"], min=-0.5, max=0.8)], (1, 3, 4, 5), {}, 7),
    "clip-min-only": ([N("Clip", ["x", "lo"], ["y"])], (1, 2, 4, 5), {"lo": f32(-0.2)}, 12),
    "relu-as-clip": ([N("Clip", ["x", "lo", ""], ["y"])], (1, 2, 4, 5), {"lo": f32(0)}, 11),
    "silu": ([N("Sigmoid", ["x"], ["s"]), N("Mul", ["x", "s"], ["y"])], (2, 3, 5, 4), {}, 13),
    # squeeze-and-excite, the gate first in the Mul as some exporters write it
    "squeeze-excite": ([N("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=1),
                        N("Conv", ["m", "w1", "b1"], ["h"], kernel_shape=[1, 1]), N("Relu", ["h"], ["r"]),
                        N("Conv", ["r", "w2", "b2"], ["z"], kernel_shape=[1, 1]), N("Sigmoid", ["z"], ["gate"]),
                        N("Mul", ["gate", "x"], ["y"])], (2, 4, 5, 6),
                       {"w1": rng.standard_normal((2, 4, 1, 1)).astype(f32), "b1": rng.standard_normal(2).astype(f32),
                        "w2": rng.standard_normal((4, 2, 1, 1)).astype(f32), "b2": rng.standard_normal(4).astype(f32)},
                       13),
    "residual": ([N("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  N("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["n"]), N("Relu", ["n"], ["r"]),
                  N("Add", ["r", "x"], ["y"])], (1, 3, 7, 6),
                 {"w": rng.standard_normal((3, 3, 3, 3)).astype(f32), "s": rng.uniform(0.5, 2, 3).astype(f32),
                  "bb": rng.standard_normal(3).astype(f32), "mu": rng.standard_normal(3).astype(f32),
                  "var": rng.uniform(0.5, 2, 3).astype(f32)}, 13),
    "x-plus-x": ([N("Relu", ["x"], ["r"]), N("Add", ["r", "r"], ["y"])], (1, 2, 3, 4), {}, 13),
    "x-times-x": ([N("Mul", ["x", "x"], ["y"])], (1, 2, 3, 4), {}, 13),
    "depthwise": ([N("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], group=4, pads=[1, 1, 1, 1],
                     strides=[2, 2])], (2, 4, 9, 8),
                  {"w": rng.standard_normal((8, 1, 3, 3)).astype(f32), "b": rng.standard_normal(8).astype(f32)}, 13),
    "conv-1x7": ([N("Conv", ["x", "w"], ["y"], kernel_shape=[1, 7], pads=[0, 3, 0, 3])], (1, 3, 6, 11),
                 {"w": rng.standard_normal((4, 3, 1, 7)).astype(f32)}, 13),
    # the legacy exporter's Pad before a stride-2 conv, its pads computed by a constant subgraph
    "pad-subgraph-conv": ([N("Constant", [], ["four"], value=numpy_helper.from_array(np.array([4], np.int64))),
                           N("ConstantOfShape", ["four"], ["zeros"],
                             value=numpy_helper.from_array(np.zeros(1, np.int64))),
                           N("Constant", [], ["hw"], value=numpy_helper.from_array(np.array([0, 1, 0, 1], np.int64))),
                           N("Concat", ["hw", "zeros"], ["flat"], axis=0),
                           N("Constant", [], ["pairs"], value=numpy_helper.from_array(np.array([-1, 2], np.int64))),
                           N("Reshape", ["flat", "pairs"], ["p2"]),
                           N("Slice", ["p2", "st", "en", "ax", "sp"], ["rev"]),
                           N("Transpose", ["rev"], ["t"], perm=[1, 0]),
                           N("Reshape", ["t", "minus1"], ["p1"]), N("Cast", ["p1"], ["pads"], to=7),
                           N("Pad", ["x", "pads", "zero"], ["px"], mode="constant"),
                           N("Conv", ["px", "w"], ["y"], kernel_shape=[3, 3], strides=[2, 2])], (1, 3, 10, 9),
                          {"st": np.array([-1], np.int64), "en": np.array([-(2 ** 63 - 1)], np.int64),
                           "ax": np.array([0], np.int64), "sp": np.array([-1], np.int64),
                           "minus1": np.array([-1], np.int64), "zero": f32(0),
                           "w": rng.standard_normal((5, 3, 3, 3)).astype(f32)}, 13),
    "pad-attr-avgpool": ([N("Pad", ["x"], ["px"], pads=[0, 0, 1, 2, 0, 0, 2, 1], mode="constant"),
                          N("AveragePool", ["px"], ["y"], kernel_shape=[3, 3], strides=[2, 2])], (1, 2, 9, 8), {}, 10),
    "pad-relu-maxpool": ([N("Relu", ["x"], ["r"]), N("Pad", ["r", "pads"], ["px"]),
                          N("MaxPool", ["px"], ["y"], kernel_shape=[3, 3], strides=[2, 2])], (1, 2, 9, 8),
                         {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}, 13),
    "pad-axes-conv": ([N("Pad", ["x", "pads", "", "axes"], ["px"]),
                       N("Conv", ["px", "w"], ["y"], kernel_shape=[3, 3])], (1, 2, 7, 8),
                      {"pads": np.array([1, 0, 2, 1], np.int64), "axes": np.array([2, 3], np.int64),
                       "w": rng.standard_normal((3, 2, 3, 3)).astype(f32)}, 18),
    "reducemean-axes-input": ([N("ReduceMean", ["x", "axes"], ["m"], keepdims=1),
                               N("Reshape", ["m", "shape"], ["y"])], (2, 5, 4, 3),
                              {"axes": np.array([2, 3], np.int64), "shape": np.array([-1, 5], np.int64)}, 18),
    "reducemean-no-keepdims": ([N("ReduceMean", ["x"], ["y"], axes=[-1, -2], keepdims=0)], (2, 5, 4, 3), {}, 13),
    # x.view(x.size(0), -1) through the legacy exporter: the batch size computed from Shape
    "view-batch-size": ([N("GlobalAveragePool", ["x"], ["g"]), N("Shape", ["g"], ["shape"]),
                         N("Gather", ["shape", "zero"], ["n"], axis=0), N("Unsqueeze", ["n", "axes0"], ["n1"]),
                         N("Concat", ["n1", "minus1"], ["target"], axis=0), N("Reshape", ["g", "target"], ["flat"]),
                         N("Gemm", ["flat", "w", "b"], ["y"], transB=1)], (2, 4, 3, 5),
                        {"zero": np.array(0, np.int64), "axes0": np.array([0], np.int64),
                         "minus1": np.array([-1], np.int64), "w": rng.standard_normal((6, 4)).astype(f32),
                         "b": rng.standard_normal(6).astype(f32)}, 13),
    "squeeze-gemm": ([N("GlobalAveragePool", ["x"], ["g"]), N("Squeeze", ["g", "axes"], ["s"]),
                      N("Gemm", ["s", "w", "b"], ["y"], transB=1)], (2, 4, 3, 5),
                     {"axes": np.array([2, 3], np.int64), "w": rng.standard_normal((7, 4)).astype(f32),
                      "b": rng.standard_normal(7).astype(f32)}, 13),
}


@pytest.mark.parametrize("name", GRAPHS)
def test_graph_against_onnxruntime_and_fd(tmp_path, name):
    nodes, shape, inits, opset = GRAPHS[name]
    path = graph_file(tmp_path, name, nodes, shape, inits, opset)
    grad = check_against_ort_and_fd(path, (rng.standard_normal(shape) * 2).astype(np.float32))
    assert np.any(grad != 0)
