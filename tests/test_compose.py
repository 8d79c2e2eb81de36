"""Canvases (--size) and placements (--place): the sizes each octave takes, where a placement's
crops fall, one picture with several objectives whose overlapping updates add up."""
import json

import numpy as np
import pytest

import classviz
from classviz import canvas
from classviz import schedule as sched
from classviz.cli import main
from classviz.errors import ArgumentError
from classviz.kernels import cpu
from classviz.png import read_text


@pytest.fixture(scope="module")
def net(model_path):
    return classviz.load(model_path("bvlc_aux", 8), backend="cpu")


def test_canvas_sizes():
    dd = sched.get("deepdraw")
    assert canvas.sizes(dd) == [(224, 224), (268, 268), (322, 322), (322, 322)]  # as before
    s = canvas.sizes(dd, 224, (600, 800))
    assert s[-1] == (600, 800) and s[0] == (416, 555) and s[1] == (500, 666)  # final / 1.44, / 1.2
    assert canvas.sizes(dd, 224, (300, 240))[0] == (224, 224)  # never below the crop


def test_placements_stay_on_the_canvas_and_centre_on_their_point():
    rng = np.random.default_rng(0)
    size, crop = (500, 800), 224
    for at, scale in [((0.5, 0.5), 1.44), ((0.3, 0.6), 1.2), ((0.0, 1.0), 1.0)]:
        offs = np.array([canvas.place_offset(rng, size, at, scale, crop) for _ in range(4000)])
        assert (offs >= 0).all() and (offs[:, 0] <= size[0] - crop).all() and (offs[:, 1] <= size[1] - crop).all()
        spread = 0.3 * max(crop * scale - crop, 10.0)
        want = np.array([at[1] * size[0], at[0] * size[1]]) - crop / 2
        if (want - 3 * spread > 0).all() and (want + 3 * spread < np.array(size) - crop).all():
            assert np.abs(offs.mean(axis=0) + 0.5 - want).max() < 4 * spread / np.sqrt(len(offs)) + 0.05
            assert abs(offs[:, 0].std() - spread) < 0.1 * spread
        else:  # at a corner: clipped to the canvas, as close as it can get
            assert offs[:, 0].max() == size[0] - crop and offs[:, 1].min() == 0


def test_overlapping_updates_sum():
    image = np.zeros((1, 3, 6, 8))
    before = np.zeros((2, 3, 4, 4))
    window = np.ones((2, 3, 4, 4))
    window[1] *= 2
    offsets = np.array([[0, 0], [2, 3]], np.int64)
    for k in range(2):
        cpu.crop.paste_add(window[k:k + 1], before[k:k + 1], offsets[k:k + 1], image, 0.0, 2.5)
    assert image[0, 0, 2, 3] == 2.5 and image[0, 0, 0, 0] == 1.0 and image[0, 0, 5, 6] == 2.0  # 1 + 2, clipped
    assert image[0, 0, 5, 0] == 0.0 and image[0, 0, 1, 3] == 1.0


def test_a_canvas_without_placements(net):
    img = classviz.render(net, [281, 5], "quick", seed=1, size=(400, 260))
    assert [i.shape for i in img] == [(260, 400, 3)] * 2
    assert np.array_equal(img[1], classviz.render(net, [5], "quick", seed=1, size=(400, 260))[0])


def test_a_composition_is_one_picture_drawn_around_its_points(net):
    places = [(0.2, 0.5), (0.8, 0.5)]
    (a,) = classviz.render(net, [281, "inception_4a/output:3 + 0.5 * 207"], "quick", seed=2, size=(600, 300),
                           places=places)
    assert a.shape == (300, 600, 3)
    (b,) = classviz.render(net, [281, "inception_4a/output:3 + 0.5 * 207"], "quick", seed=2, size=(600, 300),
                           places=places)
    assert np.array_equal(a, b)
    (c,) = classviz.render(net, [281, "inception_4a/output:3 + 0.5 * 207"], "quick", seed=2, size=(600, 300),
                           places=[(0.2, 0.5), (0.5, 0.5)])
    assert not np.array_equal(a, c)
    # what is drawn lies around the points: against the same composition with steps too small to
    # move a pixel and no blur (same noise, same crops), a wide canvas's middle, where no crop
    # reaches, is unchanged, and the parts around the points are not
    kw = dict(seed=2, size=(900, 300), places=[(0.15, 0.5), (0.85, 0.5)])
    (wide,) = classviz.render(net, [281, 207], "quick", **kw)
    still = [o._replace(start_sigma=0.0, end_sigma=0.0, start_step_size=1e-9, end_step_size=1e-9)
             for o in sched.get("quick")]
    (quiet,) = classviz.render(net, [281, 207], still, **kw)
    same = (wide == quiet).all(axis=2).mean(axis=0)
    assert same[380:520].min() > 0.99 and same[40:200].mean() < 0.2 and same[700:860].mean() < 0.2


@pytest.mark.parametrize("kw, words", [
    (dict(size=(100, 300)), "smaller than the model's 224x224 crops"),
    (dict(size=(30000, 300)), "would need about"),
    (dict(size="12x"), "not WIDTHxHEIGHT"),
    (dict(places=[(0.5, 1.5)]), "outside the canvas"),
    (dict(places=[(0.5, 0.5), (0.1, 0.1)]), "2 places for 1 classes"),
])
def test_bad_canvases_and_places(net, kw, words):
    with pytest.raises(ArgumentError) as e:
        classviz.render(net, [281], "quick", **kw)
    assert words in str(e.value)


def test_cli_composition_metadata_and_errors(net, tmp_path, capsys):
    model = net.model.source
    out = tmp_path / "c.png"
    assert main(["render", "--weights", model, "--place", "tabby cat@0.25,0.5", "--place",
                 "inception_4a/output:3@4,4@0.75,0.5", "--size", "500x300", "--schedule", "quick", "--seed", "3",
                 "-o", str(out), "-q"]) == 0
    t = read_text(out)
    assert t["classviz:size"] == "500x300"
    assert json.loads(t["classviz:place"]) == [["1.0 * 281", 0.25, 0.5], ["1.0 * inception_4a/output:3@4,4", 0.75, 0.5]]
    path_out = tmp_path / "p.png"
    assert main(["render", "--weights", model, "--class", "1", "--path", "0.1,0.1 0.9,0.9", "--mask",
                 str(tmp_path / "c.png"), "--size", "300x300", "--schedule", "quick", "-o", str(path_out), "-q"]) == 0
    assert json.loads(read_text(path_out)["classviz:path"]) == [[0.1, 0.1], [0.9, 0.9]]
    capsys.readouterr()
    for argv, words in [(["--place", "1@0.5,2"], "outside the canvas"), (["--place", "1@x"], "not OBJECTIVE@X,Y"),
                        (["--class", "1", "--place", "2@0.5,0.5"], "one of the two"),
                        (["--class", "1", "--size", "100x100"], "smaller than"),
                        (["--place", "no/such:1@0.5,0.5"], "no tensor named"),
                        (["--class", "1", "--path", "0.5,0.5"], "two or more points"),
                        (["--place", "1@0.5,0.5", "--path", "line"], "--path draws one --class")]:
        bad = tmp_path / "bad.png"
        assert main(["render", "--weights", model, *argv, "-o", str(bad)]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
        assert not bad.exists()


def test_paths():
    assert canvas.parse_path("line") == canvas.PATHS["line"] and len(canvas.parse_path("circle")) == 49
    assert canvas.parse_path("0.1,0.2 0.3,0.4 1,1") == [(0.1, 0.2), (0.3, 0.4), (1.0, 1.0)]
    for bad, words in [("0.1,0.2", "two or more points"), ("0.1,0.2 x,1", "two or more points"),
                       ("0.1,0.2 1.2,0.5", "outside the canvas"), ("square", "not circle, sine, line")]:
        with pytest.raises(ArgumentError, match=words):
            canvas.parse_path(bad)
    pts = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]
    assert canvas.point_along(pts, 0) == (0, 0) and canvas.point_along(pts, 1) == (1, 1)
    assert canvas.point_along(pts, 0.25) == (0.5, 0) and canvas.point_along(pts, 0.75) == (1, 0.5)
    d = canvas.soft_disc(224)
    assert d[111, 111] == 1 and d[0, 0] == 0 and d[111, 0] < 0.05 and d[111, 50] == 1.0 and 0 < d[111, 25] < 1


def test_a_path_is_drawn_along_its_line(net):
    """A diagonal on a wide square canvas: against the same path with steps too small to move a
    pixel, the two corners off the diagonal are untouched, the diagonal's ends are drawn."""
    kw = dict(seed=5, size=(700, 700), path="0.12,0.12 0.88,0.88")
    (drawn,) = classviz.render(net, [281], "quick", **kw)
    still = [o._replace(start_sigma=0.0, end_sigma=0.0, start_step_size=1e-9, end_step_size=1e-9)
             for o in sched.get("quick")]
    (quiet,) = classviz.render(net, [281], still, **kw)
    same = (drawn == quiet).all(axis=2)
    assert same[:150, -150:].mean() > 0.99 and same[-150:, :150].mean() > 0.99  # off the path
    assert same[20:150, 20:150].mean() < 0.5 and same[-150:-20, -150:-20].mean() < 0.5  # its two ends
    with pytest.raises(ArgumentError, match="a path draws one"):
        classviz.render(net, [281, 3], "quick", path="line")
