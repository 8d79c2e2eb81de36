"""Objectives (classviz/objective.py): the grammar and its errors, one backward for any mix of terms
(its gradient the weighted sum of the single terms' gradients, and finite differences), a neuron's
gradient inside its receptive field only, and renders from the CLI reproducible from their PNG."""
import numpy as np
import pytest

import classviz
from classviz import renderer
from classviz import objective as objectives
from classviz.cli import main
from classviz.errors import ArgumentError
from classviz.png import read_text

MIX = ("tabby cat + 0.5 * 3 - 0.3 * 207 + 0.25 * inception_4a/output:2 + 0.7 * inception_4a/output:1@3,4"
       " - 0.1 * conv2/norm2:l2 + 0.2 * inception_4c/output:l2")


@pytest.fixture(scope="module")
def net(model_path):
    return classviz.load(model_path("bvlc_aux", 8), backend="cpu")


def parse(net, expr):
    return objectives.parse(expr, net.network, 224, 1000)


def test_grammar(net):
    o = parse(net, "tabby cat + 0.5 * tiger - 0.3 * 207")
    assert [(t.weight, t.kind, t.index) for t in o.terms] == [(1.0, "class", 281), (0.5, "class", 292),
                                                              (-0.3, "class", 207)]
    assert o.plain is None and parse(net, "tabby cat").plain == 281 and parse(net, 7).plain == 7
    assert parse(net, "black-and-tan coonhound").plain == 165  # a hyphen without spaces is part of the name
    t = parse(net, "- 2 * inception_4a/output:5@1,2").terms[0]
    assert (t.weight, t.kind, t.tensor, t.index, t.row, t.col) == (-2.0, "neuron", "inception_4a/output", 5, 1, 2)
    assert parse(net, "conv2/norm2:l2").terms[0][:3] == (1.0, "l2", "conv2/norm2")
    assert parse(net, "1e-1*inception_4a/output:3").terms[0][:4] == (0.1, "channel", "inception_4a/output", 3)
    m = parse(net, MIX)
    assert parse(net, m.text()) == m  # the canonical text, as the PNG records it, reads back the same
    assert m.tensors() == ["inception_4a/output", "conv2/norm2", "inception_4c/output"]


@pytest.mark.parametrize("expr, words", [
    ("tabby catt + tiger", "unknown class name 'tabby catt'"),
    ("tiger + ", "'+' has no term after it"),
    ("tiger - ", "'-' has no term after it"),
    ("x * tiger", "weight 'x' is not a number"),
    ("nan * tiger", "not a finite number"),
    ("2 * ", "'*' has no target after it"),
    ("no/such:3", "no tensor named 'no/such'"),
    ("inception_4a/output:9999", "channel 9999 is out of range: inception_4a/output has"),
    ("inception_4a/output:1@14,0", "neuron (14, 0) is outside inception_4a/output's 14x14 grid"),
    ("loss3/classifier:1@0,0", "no grid to name a neuron in"),
    ("inception_4a/output:abc", "'abc' after 'inception_4a/output:' is not a channel"),
    ("1000", "out of range 0..999"),
    ("", "an empty objective"),
])
def test_bad_expressions_are_one_line(net, expr, words):
    with pytest.raises(ArgumentError, match=None) as e:
        parse(net, expr)
    assert words in str(e.value) and "\n" not in str(e.value)


def _pass(net, objs, x):
    op = renderer.ObjectivePass(net, objs, net.roles["main"], x.shape, x.dtype)
    obj = np.zeros(x.shape[0], x.dtype)
    g = op(x, obj).copy()
    return obj, g


def test_a_mix_is_the_weighted_sum_of_its_terms(net):
    """One backward for the mix (terms on the head, on inner tensors, an l2, a neuron) gives the
    weighted sum of each term's own gradient, and the sum of their values, in float64 (1e-12)."""
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)) * 50
    mix = parse(net, MIX)
    other = parse(net, "0.3 * 5 + inception_4c/output:7")
    obj, g = _pass(net, [mix, other], x)
    for n, o in enumerate((mix, other)):
        want_obj, want_g = 0.0, np.zeros_like(g[n])
        for t in o.terms:
            single = objectives.Objective((t._replace(weight=1.0),))
            so, sg = _pass(net, [single], x[n:n + 1])
            want_obj += t.weight * so[0]
            want_g += t.weight * sg[0]
        assert abs(obj[n] - want_obj) <= 1e-12 * max(1.0, abs(want_obj))
        assert np.abs(g[n] - want_g).max() <= 1e-12 * np.abs(want_g).max()


def test_the_weighted_path_of_one_class_is_the_plain_path(net):
    x = np.random.default_rng(1).standard_normal((2, 3, 224, 224)) * 50
    plain_obj, plain_g = _pass(net, [281, 5], x)
    objs = [parse(net, 281), parse(net, 5)]  # Objectives: the weighted kernels, dense seeds
    obj, g = _pass(net, objs, x)
    assert np.allclose(obj, plain_obj, rtol=1e-13) and np.abs(g - plain_g).max() <= 1e-13 * np.abs(plain_g).max()


def test_a_mix_against_finite_differences(net):
    x = np.random.default_rng(2).standard_normal((1, 3, 224, 224)) * 50
    mix = parse(net, MIX)
    _, g = _pass(net, [mix], x)
    rng = np.random.default_rng(3)
    for _ in range(3):
        v = rng.standard_normal(x.shape)
        # central differences err by about h^2 (truncation) plus a few ulps of f over h (rounding):
        # with f about 360 and derivatives about 0.5, h = 1e-6 leaves 1e-7 to 1e-6 of rounding
        # (which machine's BLAS kernels sum the forward decides where), 1e-5 both under 1e-7
        h = 1e-5
        fp, _ = _pass(net, [mix], x + h * v)
        fm, _ = _pass(net, [mix], x - h * v)
        fd = (fp[0] - fm[0]) / (2 * h)
        assert abs(fd - (g * v).sum()) <= 1e-6 * abs(fd), (fd, (g * v).sum())


def test_a_neurons_gradient_lies_in_its_receptive_field(net):
    x = np.random.default_rng(4).standard_normal((1, 3, 224, 224)) * 50
    tensor, row, col = "inception_4a/output", 3, 9
    channel = int(np.argmax(net.forward(x, head=tensor)[0, :, row, col]))  # an active one: a ReLU passes it
    _, g = _pass(net, [parse(net, f"{tensor}:{channel}@{row},{col}")], x)
    (sh, jh, oh), (sw, jw, ow) = net.network.receptive_fields(tensor)[tensor]
    top, left = oh + row * jh, ow + col * jw
    inside = np.zeros((224, 224), bool)
    inside[max(top, 0):max(top + sh, 0), max(left, 0):max(left + sw, 0)] = True
    mag = np.abs(g[0]).sum(axis=0)
    assert mag[~inside].max() == 0.0 and mag[inside].max() > 0
    assert inside.sum() < 224 * 224  # the field is a part of the image, so the test can fail


def test_cli_renders_a_mix_reproducibly_and_refuses_bad_ones(model_path, tmp_path, capsys):
    model = model_path("bvlc_aux", 8)
    out = tmp_path / "a.png"
    assert main(["render", "--weights", model, "--class", "tabby cat + 0.5 * tiger - 0.3 * 207",
                 "--schedule", "quick", "--seed", "4", "-o", str(out), "-q"]) == 0
    text = read_text(out)
    assert text["classviz:objective"] == "1.0 * 281 + 0.5 * 292 - 0.3 * 207" and "classviz:class" not in text
    again = tmp_path / "b.png"
    assert main(["render", "--weights", model, "--class", text["classviz:objective"], "--schedule", "quick",
                 "--seed", text["classviz:seed"], "-o", str(again), "-q"]) == 0
    from classviz.gallery.pages import image_of
    assert np.array_equal(image_of(out), image_of(again))
    capsys.readouterr()
    for expr in ("tiger + ", "inception_4a/output:9999", "x * tiger", "no/such:1"):
        bad = tmp_path / "bad.png"
        assert main(["render", "--weights", model, "--class", expr, "--schedule", "quick", "-o", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("classviz: error: objective") and err.count("\n") == 1, err
        assert not bad.exists()


def test_render_mixes_and_tensors_in_one_batch(net):
    """Several objectives, some on tensors only, in one batch: each image is what it is alone."""
    exprs = ["inception_4a/output:3@4,4 + 0.1 * conv2/norm2:l2", 281, "inception_4c/output:5"]
    batch = classviz.render(net, exprs, "quick", seed=2)
    alone = classviz.render(net, [exprs[2]], "quick", seed=2)[0]
    assert np.array_equal(batch[2], alone)
    assert np.array_equal(batch[1], classviz.render(net, [281], "quick", seed=2)[0])
