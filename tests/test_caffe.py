"""Caffe -> ONNX: the converted graph computes what Caffe computes (a NumPy reference of its layer
semantics, onnxruntime on the ONNX), in both encodings, and bad files fail in one line."""
import numpy as np
import onnx
import pytest

import classviz
from classviz.errors import ModelError
from classviz.testing import protobuf as wire
from classviz.weights import caffe
from classviz.testing import caffemodel as sc
from support.ort import ort_outputs

from support import caffe_reference as ref

HEADS = ["loss1/classifier", "loss2/classifier", "loss3/classifier"]


@pytest.fixture(scope="module")
def caffemodels(tmp_path_factory):
    root = tmp_path_factory.mktemp("caffe")
    return {legacy: sc.write_googlenet_caffemodel(root / f"g{int(legacy)}.caffemodel", width=8, seed=5,
                                                  legacy=legacy) for legacy in (False, True)}


def convert_to(path, out):
    onnx.save(caffe.convert(path), out)
    return str(out)


def close(a, b, rtol=1e-5):
    return np.abs(a - b).max() / np.abs(b).max() < rtol


@pytest.mark.parametrize("legacy", [False, True])
def test_converted_googlenet_matches_caffe_semantics(caffemodels, tmp_path, legacy):
    path = caffemodels[legacy]
    onnx_path = convert_to(path, tmp_path / "g.onnx")
    x = np.random.default_rng(1).normal(0, 50, (2, 3, 224, 224))
    want = ref.forward(open(path, "rb").read(), x)
    got = ort_outputs(onnx_path, x.astype(np.float32), HEADS + ["inception_4c/output"])
    for name in HEADS + ["inception_4c/output"]:
        assert close(got[name], want[name]), name
    # and the engine agrees, with the heads found by depth, main first
    net = classviz.load(onnx_path, backend="cpu")
    assert net.heads == ("loss3/classifier", "loss2/classifier", "loss1/classifier")
    assert close(net.forward(x.astype(np.float32), "aux1"), want["loss1/classifier"])


def test_metadata_records_preprocessing_and_source(caffemodels):
    m = caffe.convert(caffemodels[False])
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["classviz.source"] == "g0.caffemodel"
    import hashlib
    assert meta["classviz.source_sha1"] == hashlib.sha1(open(caffemodels[False], "rb").read()).hexdigest()
    assert '"BGR"' in meta["classviz.preprocess"] and "104" in meta["classviz.preprocess"]
    assert [i.name for i in m.graph.input] == ["data"]
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [3, 224, 224]
    onnx.checker.check_model(m)


def _small(layers, h=10, w=10, c=3):
    """A NetParameter with the deprecated input/input_dim header, then `layers`."""
    head = wire.field_bytes(3, "data") + b"".join(wire.field_varint(4, d) for d in (1, c, h, w))
    return head + b"".join(wire.field_bytes(100, la) for la in layers)


@pytest.mark.parametrize("method, k, s, p, size", [
    ("MAX", 3, 2, 0, 10), ("MAX", 3, 2, 1, 10), ("MAX", 2, 2, 0, 9), ("MAX", 3, 3, 1, 11),
    ("AVE", 3, 2, 0, 10), ("AVE", 5, 3, 0, 14), ("AVE", 3, 2, 1, 9), ("AVE", 2, 2, 1, 8), ("AVE", 4, 3, 0, 13),
])
def test_pooling_rounding_and_divisor_match_caffe(tmp_path, method, k, s, p, size):
    rng = np.random.default_rng(k * 10 + size)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    body = _small([sc.layer("c", "Convolution", ["data"], ["c"], [w, np.zeros(4, np.float32)], sc.conv_param(4, 3, pad=1)),
                   sc.layer("p", "Pooling", ["c"], ["p"], param=sc.pool_param(method, k, s, p)),
                   sc.layer("prob", "Softmax", ["p"], ["prob"])], size, size)
    path = tmp_path / "p.caffemodel"
    path.write_bytes(body)
    x = rng.normal(0, 1, (2, 3, size, size))
    want = ref.forward(body, x)["p"]
    got = ort_outputs(convert_to(path, tmp_path / "p.onnx"), x.astype(np.float32), ["p"])["p"]
    assert got.shape == want.shape and close(got, want), (got.shape, want.shape)


def test_padded_average_pool_past_the_padding_is_refused(tmp_path):
    path = tmp_path / "p.caffemodel"
    path.write_bytes(_small([sc.layer("p", "Pooling", ["data"], ["p"], param=sc.pool_param("AVE", 3, 2, 1))], 10, 10))
    with pytest.raises(ModelError, match="layer 'p' \\(Pooling\\).*no exact ONNX form"):
        caffe.convert(path)


def test_grouped_conv_and_lrn_match(tmp_path):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    body = _small([sc.layer("c", "Convolution", ["data"], ["c"], [w, rng.standard_normal(6).astype(np.float32)],
                            sc.conv_param(6, 3, stride=2, pad=1, group=3)),
                   sc.layer("n", "LRN", ["c"], ["n"], param=sc.lrn_param(3, 0.5, 0.75, 2.0))], 11, 11, c=6)
    path = tmp_path / "g.caffemodel"
    path.write_bytes(body)
    x = rng.normal(0, 2, (1, 6, 11, 11))
    got = ort_outputs(convert_to(path, tmp_path / "g.onnx"), x.astype(np.float32), ["n"])["n"]
    assert close(got, ref.forward(body, x)["n"])


def test_no_loss_layers_means_the_dangling_tops_are_outputs(tmp_path):
    rng = np.random.default_rng(4)
    body = _small([sc.layer("fc", "InnerProduct", ["data"], ["fc"],
                            [rng.standard_normal((5, 48)).astype(np.float32), np.zeros(5, np.float32)],
                            wire.field_varint(1, 5))], 4, 4)
    path = tmp_path / "f.caffemodel"
    path.write_bytes(body)
    m = caffe.convert(path)
    assert [o.name for o in m.graph.output] == ["fc"]


@pytest.mark.parametrize("make, message", [
    (lambda b: b[:len(b) // 2], "truncated"),
    (lambda b: b"name: \"GoogleNet\"\nlayer {\n  type: \"Data\"\n}\n", "not a caffemodel"),
    (lambda b: b"", "no layers"),
])
def test_bad_files_are_one_line_errors(caffemodels, tmp_path, make, message):
    path = tmp_path / "bad.caffemodel"
    path.write_bytes(make(open(caffemodels[False], "rb").read()))
    with pytest.raises(ModelError) as e:
        caffe.convert(path)
    text = str(e.value)
    assert "\n" not in text and "bad.caffemodel" in text
    assert message in text or ("not a caffemodel" in text and message == "truncated"), text


def test_unsupported_layer_is_named(tmp_path):
    body = _small([sc.layer("up_it", "Deconvolution", ["data"], ["up"])])
    path = tmp_path / "u.caffemodel"
    path.write_bytes(body)
    with pytest.raises(ModelError, match="layer 'up_it' has unsupported type 'Deconvolution'"):
        caffe.convert(path)


def test_blob_that_disagrees_with_its_shape(tmp_path):
    good = sc.blob(np.zeros((4, 3, 3, 3), np.float32))
    bad = good.replace(wire.field_packed_ints(1, (4, 3, 3, 3)), wire.field_packed_ints(1, (4, 3, 3, 4)))
    la = (wire.field_bytes(1, "c") + wire.field_bytes(2, "Convolution") + wire.field_bytes(3, "data") +
          wire.field_bytes(4, "c") + wire.field_bytes(7, bad) + wire.field_bytes(106, sc.conv_param(4, 3, bias=False)))
    path = tmp_path / "s.caffemodel"
    path.write_bytes(_small([la]))
    with pytest.raises(ModelError, match=r"layer 'c' blob 0: 108 values do not fill its shape \(4, 3, 3, 4\)"):
        caffe.convert(path)


def test_weights_that_do_not_fit_the_layer(tmp_path):
    la = sc.layer("c", "Convolution", ["data"], ["c"], [np.zeros((4, 2, 3, 3), np.float32)],
                  sc.conv_param(4, 3, bias=False))
    path = tmp_path / "w.caffemodel"
    path.write_bytes(_small([la]))
    with pytest.raises(ModelError, match="layer 'c' \\(Convolution\\): weight blob of shape"):
        caffe.convert(path)
