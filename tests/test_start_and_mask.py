"""Starting from a picture (--init) and drawing inside a mask (--mask, --background)."""
import numpy as np
import pytest
from PIL import Image

import classviz
from classviz import ascent, canvas, renderer
from classviz.cli import main
from classviz.errors import ArgumentError
from classviz.kernels.shared import to_uint8
from classviz.png import read_text


@pytest.fixture(scope="module")
def net(model_path):
    return classviz.load(model_path("bvlc_aux", 8), backend="cpu")


def photo(h=150, w=200, seed=0):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def test_init_with_no_steps_is_the_photo_resized(net):
    p = photo()
    pre, _ = classviz.preprocess.for_model(net.model)
    octs = ascent.sched.get("quick")
    r = renderer.Renderer(net, [1, 2], octs, ascent.octave_heads(net, octs), pre, 0, init=p)
    want = canvas.fit_picture(p, (224, 224))
    assert want.shape == (224, 224, 3)
    for img in r.images():  # before any step
        assert np.array_equal(img, to_uint8(want.transpose(2, 0, 1)[None].astype(np.float32))[0])
    # the centred square: a photo twice as wide starts from its middle
    wide = np.concatenate([np.zeros((150, 75, 3), np.uint8), p[:, :150], np.zeros((150, 75, 3), np.uint8)], 1)
    assert np.array_equal(canvas.fit_picture(wide, (224, 224)), canvas.fit_picture(p[:, :150], (224, 224)))


def test_init_changes_the_render_and_noise_does_not_come_back(net):
    a = classviz.render(net, [1], "quick", seed=0, init=photo())[0]
    b = classviz.render(net, [1], "quick", seed=0)[0]
    c = classviz.render(net, [1], "quick", seed=0, init=photo(seed=1))[0]
    assert not np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("background, rgb", [("white", (255, 255, 255)), ("#102030", (16, 32, 48))])
def test_masked_out_pixels_stay_the_background_bit_for_bit(net, background, rgb):
    m = np.zeros((60, 90))
    m[10:50, 20:70] = 1.0  # any size: resized to the image
    imgs = classviz.render(net, [281, "inception_4c/output:l2"], "quick", seed=3, mask=m, background=background,
                           init=photo())
    keep = np.asarray(Image.fromarray((m * 255).astype(np.uint8), "L").resize((322, 322), Image.BILINEAR)) >= 128
    for img in imgs:
        assert (img[~keep] == np.array(rgb, np.uint8)).all()
        assert (img[keep] != np.array(rgb, np.uint8)).any(axis=1).mean() > 0.9  # drawn inside


def test_bad_init_mask_and_background(net, tmp_path, capsys):
    with pytest.raises(ArgumentError, match="init must be a uint8"):
        classviz.render(net, 1, "quick", init=np.zeros((5, 5)))
    with pytest.raises(ArgumentError, match="keeps nothing to draw"):
        classviz.render(net, 1, "quick", mask=np.zeros((5, 5)))
    with pytest.raises(ArgumentError, match="not a colour"):
        classviz.render(net, 1, "quick", background="pink")
    model = net.model.source
    notpic = tmp_path / "x.png"
    notpic.write_text("no")
    for extra, words in [(["--init", str(notpic)], "cannot read --init"),
                         (["--mask", str(tmp_path / "missing.png")], "cannot read --mask"),
                         (["--background", "1,2"], "is not a colour")]:
        out = tmp_path / "o.png"
        assert main(["render", "--weights", model, "--class", "1", "-o", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
        assert not out.exists()


def test_cli_records_the_pictures_it_started_from(net, tmp_path):
    model = net.model.source
    Image.fromarray(photo()).save(tmp_path / "p.png")
    m = np.zeros((40, 40), np.uint8)
    m[5:35, 5:35] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    out = tmp_path / "o.png"
    assert main(["render", "--weights", model, "--class", "1", "--init", str(tmp_path / "p.png"), "--mask",
                 str(tmp_path / "m.png"), "--background", "black", "--schedule", "quick", "--seed", "1", "-o",
                 str(out), "-q"]) == 0
    t = read_text(out)
    import hashlib
    assert t["classviz:init"] == "p.png" and t["classviz:mask"] == "m.png" and t["classviz:background"] == "0,0,0"
    assert t["classviz:init_sha256"] == hashlib.sha256((tmp_path / "p.png").read_bytes()).hexdigest()
    img = np.asarray(Image.open(out))
    assert (img[0, 0] == 0).all()
