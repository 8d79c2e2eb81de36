"""Facets (--facets K): one objective drawn K ways in one batch, pushed apart by lucid's diversity
term (kernels/*/diversity.py) at a layer's Gram matrices."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import classviz
from classviz import ascent, renderer, schedule
from classviz.cli import main
from classviz.errors import ArgumentError
from classviz.png import read_text


@pytest.fixture(scope="module")
def net(model_path):
    return classviz.load(model_path("bvlc_aux", 8), backend="cpu")


def _rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _diversity(acts):
    """D of kernels/cpu/diversity.py, from activations (K, C, H, W), in float64."""
    f = acts.reshape(acts.shape[0], acts.shape[1], -1)
    g = (f @ f.transpose(0, 2, 1)).reshape(len(f), -1)
    g /= np.sqrt(np.maximum((g * g).sum(1), 1e-10))[:, None]
    m = g @ g.T
    return (m.sum() - np.trace(m)) / len(f)


def test_the_objective_pass_gradient_is_the_objective_minus_diversity(net):
    """With facets, the pass's gradient is that of sum(objective) - weight * D (D at the layer),
    by central differences in float64 along random directions (1e-6 relative); the objective it
    reports is the class score alone."""
    layer, head, weight = "inception_3b/output", net.roles["main"], 40.0
    x = np.random.default_rng(0).standard_normal((3, 3, 224, 224))
    op = renderer.ObjectivePass(net, [7, 7, 7], head, x.shape, np.float64, (layer, weight))
    obj = np.empty(3)
    grad = op(x, obj).copy()
    assert np.allclose(obj, net.forward(x)[:, 7], rtol=1e-12)

    def total(v):
        return net.forward(v)[:, 7].sum() - weight * _diversity(net.forward(v, head=layer))

    rng = np.random.default_rng(1)
    for _ in range(2):
        d = rng.standard_normal(x.shape)
        e = 1e-7  # the ReLUs and max-pools are kinks: a small step stays on one side of them
        fd = (total(x + e * d) - total(x - e * d)) / (2 * e)
        assert abs(fd - np.vdot(grad, d)) < 1e-6 * abs(fd)
    plain = renderer.ObjectivePass(net, [7, 7, 7], head, x.shape, np.float64)
    assert np.abs(plain(x, obj) - grad).max() > 1e-3 * np.abs(grad).max()  # the term is there


def test_diversity_pushes_the_facets_apart(net):
    """After the same short render, the facets' Gram matrices at the layer are less alike with the
    diversity term than without (weight 0); every facet still raises its class's score."""
    base = dict(head="main", iter_n=12, start_sigma=0, end_sigma=0, start_step_size=0.05, end_step_size=0.05,
                param="fourier", update="adam", diversity_layer="inception_3b/output")
    pre, _ = classviz.preprocess.for_model(net.model)
    alike = []
    for w in (0.0, 2000.0):
        octs = schedule.validate([dict(base, diversity=w)], "t")
        r = renderer.Renderer(net, [7] * 3, octs, ascent.octave_heads(net, octs), pre, 3, facets=True)
        seen = []
        r.run(lambda s: seen.append(s.scores))
        x = np.empty((3, 3, 224, 224), np.float32)
        net.backend.pixels.to_model(r.pixels, r.order, r.scale, r.shift, x)
        alike.append(_diversity(net.forward(x.astype(np.float64), head="inception_3b/output")))
        assert (seen[-1] > seen[0]).all()
    assert alike[1] < alike[0] - 0.05, alike


def test_default_layer_and_checks(net):
    """The default layer is a mid-level activation, nearer the input for an aux head; bad counts,
    several objectives, places and unknown layers are one-line errors before any work."""
    main_layer = renderer.diversity_layer(net, net.roles["main"], 224)
    aux_layer = renderer.diversity_layer(net, net.roles["aux1"], 224)
    d = net.network.depth
    assert d[aux_layer] < d[main_layer] < d[net.roles["main"]] and net.network.producer[main_layer].op != "Conv"
    for kw, words in ((dict(facets=1), "from 2 to 64"), (dict(facets=True), "from 2 to 64"),
                      (dict(facets=2, places=[(0.5, 0.5), (0.2, 0.2)]), "one class or objective"),
                      (dict(facets=2, path="circle"), "one class or objective")):
        with pytest.raises(ArgumentError, match=words):
            classviz.render(net, [3, 4] if "places" in kw else 3, "quick", **kw)
    bad = [dict(schedule.get("quick")[0]._asdict(), diversity_layer="nope", transforms=None)]
    with pytest.raises(ArgumentError, match="nope"):
        classviz.render(net, 3, bad, facets=2)


def test_cli_facets_and_their_recipes(net, tmp_path, capsys):
    """--facets 3 writes three pictures that differ, each recording facets and its number; a facet's
    recipe draws the same pixels again; bad uses exit 2 with one line and write nothing."""
    model = net.model.source
    sched_file = tmp_path / "s.json"
    sched_file.write_text(json.dumps([dict(head="main", iter_n=4, start_sigma=0, end_sigma=0, start_step_size=0.05,
                                           end_step_size=0.05, param="fourier", update="adam", diversity=500)]))
    out = tmp_path / "out"
    assert main(["render", "--weights", model, "--class", "3", "--facets", "3", "--schedule", str(sched_file),
                 "--seed", "4", "--out-dir", str(out), "-q"]) == 0
    names = sorted(os.listdir(out))
    assert names == ["3-tiger-shark-2.png", "3-tiger-shark-3.png", "3-tiger-shark.png"]
    pics = [_rgb(out / n) for n in names]
    assert not np.array_equal(pics[0], pics[1]) and not np.array_equal(pics[1], pics[2])
    meta = read_text(out / "3-tiger-shark-2.png")
    assert meta["classviz:facets"] == "3" and meta["classviz:facet"] == "2"
    again = tmp_path / "again.png"
    assert main(["render", "--weights", model, "--recipe", str(out / "3-tiger-shark-2.png"), "-o", str(again),
                 "-q"]) == 0
    assert np.array_equal(_rgb(again), pics[0])
    capsys.readouterr()
    for extra, words in ((["--class", "3", "--facets", "1"], "--facets must be from 2"),
                         (["--class", "3", "--class", "4", "--facets", "2"], "--facets draws one --class"),
                         (["--class", "3", "--facets", "2", "--path", "circle"], "--facets draws one --class")):
        o = tmp_path / "bad"
        assert main(["render", "--weights", model, "--out-dir", str(o), *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and not o.exists()
