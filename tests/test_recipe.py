"""`classviz render --recipe PNG`: a picture drawn again from its own metadata, for every kind of
recipe (a class with a fresh seed, an expression, a canvas with placements, a path with a
mask and a starting picture, a schedule file, a lucid-style TOML schedule), pixel for pixel on the CPU."""
import json

import numpy as np
import pytest
from PIL import Image

from classviz.cli import main
from classviz.gallery.pages import image_of


@pytest.fixture(scope="module")
def files(model_path, tmp_path_factory):
    d = tmp_path_factory.mktemp("recipe")
    Image.fromarray((np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)).save(d / "photo.png")
    m = np.zeros((50, 50), np.uint8)
    m[5:45, 10:40] = 255
    Image.fromarray(m).save(d / "mask.png")
    short = [{"head": "main", "iter_n": 6, "start_sigma": 1.0, "end_sigma": 0.5, "start_step_size": 6,
              "end_step_size": 3}, {"head": "aux1", "iter_n": 3, "start_sigma": 0.5, "end_sigma": 0.3,
                                    "start_step_size": 3, "end_step_size": 3, "scale": 1.2}]
    (d / "short.json").write_text(json.dumps({"octaves": short}))
    lucid = [{"head": "main", "iter_n": 4, "start_sigma": 0, "end_sigma": 0, "start_step_size": 0.05,
              "end_step_size": 0.05, "param": "fourier", "update": "adam",
              "transforms": {"jitter": 6, "scale": [0.9, 1.1], "rotate": 8}},
             {"head": "aux2", "iter_n": 3, "start_sigma": 0.8, "end_sigma": 0.4, "start_step_size": 4,
              "end_step_size": 4, "scale": 1.2, "transforms": {"rotate": 5}}]
    (d / "lucid.toml").write_text("".join(
        "[[octaves]]\n" + "".join(f"{k} = {json.dumps(v) if k != 'transforms' else _toml_table(v)}\n"
                                  for k, v in o.items()) for o in lucid))
    return d, model_path("bvlc_aux", 8)


def _toml_table(d):
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in d.items()) + " }"


@pytest.mark.parametrize("case", ["class", "expression", "places", "path", "lucid"])
def test_a_recipe_draws_its_picture_again(files, tmp_path, case):
    d, model = files
    args = {"class": ["--class", "tabby cat", "--schedule", "quick"],  # no --seed: a fresh one, recorded
            "expression": ["--class", "tabby cat + 0.5 * tiger - 0.2 * inception_4a/output:l2", "--schedule",
                           str(d / "short.json"), "--seed", "3"],
            "places": ["--place", "1@0.3,0.5", "--place", "inception_4a/output:3@4,4@0.7,0.4", "--size", "400x260",
                       "--schedule", "quick", "--seed", "4"],
            "path": ["--class", "7", "--path", "0.1,0.2 0.9,0.8", "--size", "300x300", "--init", str(d / "photo.png"),
                     "--mask", str(d / "mask.png"), "--background", "#204060", "--schedule", "quick"],
            # a TOML schedule with a Fourier/Adam/transforms octave, then a pixel one with a rotation
            "lucid": ["--class", "tabby cat", "--schedule", str(d / "lucid.toml"), "--size", "260x240"]}[case]
    first, again = tmp_path / "first.png", tmp_path / "again.png"
    assert main(["render", "--weights", model, *args, "-o", str(first), "-q"]) == 0
    extra = ["--init", str(d / "photo.png"), "--mask", str(d / "mask.png")] if case == "path" else []
    assert main(["render", "--weights", model, "--recipe", str(first), *extra, "-o", str(again), "-q"]) == 0
    assert np.array_equal(image_of(first), image_of(again))


def test_a_recipe_refuses_what_it_cannot_reproduce(files, tmp_path, capsys, model_path):
    d, model = files
    first = tmp_path / "first.png"
    assert main(["render", "--weights", model, "--class", "3", "--init", str(d / "photo.png"), "--schedule", "quick",
                 "-o", str(first), "-q"]) == 0
    other = model_path("torchvision", 8)
    capsys.readouterr()
    for argv, words in [([], "started from --init 'photo.png': give that file"),
                        (["--init", str(d / "mask.png")], "is not the picture the recipe used"),
                        (["--init", str(d / "photo.png"), "--seed", "2"], "--recipe sets --seed"),
                        (["--init", str(d / "photo.png"), "--weights", other], "give its --weights")]:
        out = tmp_path / "o.png"
        weights = [] if "--weights" in argv else ["--weights", model]
        assert main(["render", *weights, "--recipe", str(first), *argv, "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
        assert not out.exists()
    (tmp_path / "plain.png").write_bytes((d / "photo.png").read_bytes())
    assert main(["render", "--weights", model, "--recipe", str(tmp_path / "plain.png"), "-o", str(tmp_path / "x.png")]) == 2
    assert "is not a PNG that classviz wrote" in capsys.readouterr().err
