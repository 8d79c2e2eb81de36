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


@pytest.mark.parametrize("op,attrs,shape,inits", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_op_against_onnxruntime_and_fd(tmp_path, op, attrs, shape, inits):
    path = one_op(tmp_path, op, attrs, shape, inits)
    net = classviz.load(path, backend="cpu")
    x = rng.standard_normal(shape).astype(np.float32)
    ref = ort_outputs(path, x, ["y"])["y"]
    ours = net.forward(x)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    # gradient of a random projection of channel 0 vs central differences (float64)
    x64 = x.astype(np.float64)
    _, grad = net.gradient(x64, 0)
    d = rng.standard_normal(shape)
    h = 1e-6
    f = lambda z: net.forward(z)[:, 0].mean(axis=tuple(range(1, ref.ndim - 1))).sum()
    fd = (f(x64 + h * d) - f(x64 - h * d)) / (2 * h)
    assert abs(fd - np.vdot(grad, d)) <= 1e-6 * max(1.0, abs(fd))
