"""The method end to end on synthetic GoogLeNets: scores rise, seeds reproduce, crops follow the
stated distribution, schedules load and fail clearly, class names resolve."""
import json
import math
import warnings

import numpy as np
import pytest
from scipy.stats import norm

import classviz
from classviz import ascent, renderer
from classviz import classes as classnames
from classviz import schedule as sched
from classviz.errors import ArgumentError, Notice, RenderInterrupted


@pytest.fixture(scope="module")
def narrow(model_path):
    return classviz.load(model_path("bvlc_aux", 8), backend="cpu")


def test_quick_schedule_raises_the_target_score(model_path):
    # full width: the narrow model's random filters are too few for blurred steps to climb reliably
    net = classviz.load(model_path("bvlc_aux"), backend="cpu")
    log = []
    images = classviz.render(net, [281, 251], "quick", seed=1,
                             on_step=lambda s: log.append((s.octave, s.head, s.scores.copy())))
    assert len(log) == sched.total_steps(sched.get("quick")) == 60
    first = sched.get("quick")[0].iter_n
    start, end = log[0][2], log[first - 1][2]
    assert log[0][1] == log[first - 1][1] == net.roles["main"]
    assert np.all(end - start > 10), (start, end)  # about +20 on both classes
    for img in images:
        assert img.shape == (322, 322, 3) and img.dtype == np.uint8
    # and on every octave's own head (aux2, aux1 too), the batch's mean score ends above its start
    for k in range(len(sched.get("quick"))):
        scores = [sc for o, _, sc in log if o == k]
        assert scores[-1].mean() > scores[0].mean(), (k, scores[0], scores[-1])


def test_same_seed_same_pixels_other_seed_differs(narrow):
    a = classviz.render(narrow, [281, 5], "quick", seed=11)
    b = classviz.render(narrow, [281, 5], "quick", seed=11)
    c = classviz.render(narrow, [281, 5], "quick", seed=12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(np.abs(x.astype(int) - y).mean() > 5 for x, y in zip(a, c))


def test_deepdraw_schedule_ends_at_322_pixels(narrow):
    assert sched.sizes(sched.get("deepdraw")) == [224, 268, 322, 322]
    assert sched.total_steps(sched.get("deepdraw")) == 500
    sizes = set()
    (img,) = classviz.render(narrow, "dalmatian", "deepdraw", seed=0, on_step=lambda s: sizes.add(s.size))
    assert img.shape == (322, 322, 3) and sizes == {224, 268, 322}


def test_coherent_schedule_is_the_published_one():
    c = sched.get("coherent")
    assert [(o.head, o.iter_n, o.scale) for o in c] == [("main", 190, None), ("main", 450, 1.2)]
    assert (c[1].start_sigma, c[1].end_sigma, c[1].start_step_size, c[1].end_step_size) == (0.936, 0.40, 6, 3)


def test_sigma_and_step_move_linearly_over_an_octave():
    o = sched.Octave("main", 150, 0.936, 0.44, 6, 3, scale=1.2)
    assert o.sigma(0) == 0.936 and o.step_size(0) == 6
    assert math.isclose(o.sigma(75), 0.936 + (0.44 - 0.936) * 0.5)
    assert math.isclose(o.step_size(149), 6 + (3 - 6) * 149 / 150)


@pytest.mark.parametrize("size", [225, 268, 322, 500])
def test_crop_offsets_in_range_and_distributed_as_stated(size):
    span = size - 224
    rng = np.random.default_rng(size)
    draws = np.array([renderer.crop_offset(rng, size) for _ in range(20000)])
    assert draws.min() >= 0 and draws.max() <= span
    # exact law of floor(clip(N(span/2, 0.3 span), 0, span)) per value k, against the counts
    k = np.arange(span + 1)
    cdf = norm.cdf(np.minimum(k + 1, span + 1e-9), span / 2, 0.3 * span)
    cdf[-1] = 1.0
    p = np.diff(np.concatenate([[0.0], cdf]))
    for axis in range(2):
        counts = np.bincount(draws[:, axis], minlength=span + 1)
        expected = p * len(draws)
        big = expected > 20  # a chi-square test on the well-filled bins, plus the clipped ends
        chi2 = ((counts[big] - expected[big]) ** 2 / expected[big]).sum()
        dof = big.sum() - 1
        assert chi2 < dof + 6 * math.sqrt(2 * dof), (chi2, dof)
    assert renderer.crop_offset(rng, 224) == (0, 0)


def test_images_in_a_batch_take_their_own_crops():
    a, b, c = renderer.seeds(3, [281, 5, 281])
    draws = [[renderer.crop_offset(r, 322) for _ in range(5)] for r in (a, b, c)]
    assert draws[0] != draws[1] and draws[0] != draws[2]  # a class given twice draws twice


def test_an_image_depends_on_the_seed_and_its_target_only(model_path):
    """Image k of a batch is the image of its target alone, bit for bit, whatever shares the batch
    and wherever it sits (a gallery's resume and its workers rely on this); the seed changes it."""
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    batch = classviz.render(net, [3, 5, 7, 5], "quick", seed=1)
    alone = classviz.render(net, [5], "quick", seed=1)[0]
    assert np.array_equal(batch[1], alone)
    assert np.array_equal(classviz.render(net, [7, 3], "quick", seed=1)[1], batch[0])
    assert not np.array_equal(batch[3], alone)  # the second 5 draws its own
    assert not np.array_equal(classviz.render(net, [5], "quick", seed=2)[0], alone)


def test_model_without_aux_heads_falls_back_to_main_with_one_notice_per_role(model_path):
    net = classviz.load(model_path("zoo", 8), backend="cpu")
    with pytest.warns(Notice) as caught:
        heads = ascent.octave_heads(net, sched.get("deepdraw"))
    assert heads == [net.roles["main"]] * 4
    assert len(caught) == 2 and "aux2" in str(caught[0].message) and "aux1" in str(caught[1].message)
    seen = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Notice)
        (img,) = classviz.render(net, 1, "quick", seed=0, on_step=lambda s: seen.add(s.head))
    assert seen == {net.roles["main"]} and img.shape == (322, 322, 3)


def test_octave_on_an_inner_tensor(narrow):
    octs = [sched.Octave("inception_4c/output", 3, 1.0, 1.0, 2, 2)]
    log = []
    classviz.render(narrow, 3, octs, seed=0, on_step=lambda s: log.append(s.head))
    assert log == ["inception_4c/output"] * 3
    with pytest.raises(ArgumentError, match="nope"):
        classviz.render(narrow, 3, [sched.Octave("nope", 3, 1.0, 1.0, 2, 2)])


def test_on_step_true_stops_early(narrow):
    steps = []
    imgs = classviz.render(narrow, [1, 2, 3], "quick", seed=0, on_step=lambda s: steps.append(s.step) or s.step == 4)
    assert steps == [0, 1, 2, 3, 4] and len(imgs) == 3 and imgs[0].shape == (224, 224, 3)


def test_ctrl_c_raises_with_the_images_so_far(narrow):
    def stop(s):
        if s.step == 6:
            raise KeyboardInterrupt
    with pytest.raises(RenderInterrupted) as e:
        classviz.render(narrow, [1, 2], "quick", seed=0, on_step=stop)
    assert e.value.steps_done == 7 and e.value.steps == 60
    assert len(e.value.images) == 2 and e.value.images[0].dtype == np.uint8
    assert isinstance(e.value, KeyboardInterrupt)


@pytest.mark.parametrize("text, suffix, message", [
    ('{"octaves": [{"head": "main", "iter_n": 5, "start_sigma": 1, "end_sigma": 1, "start_step_size": 2}]}',
     ".json", "octave 1: missing field 'end_step_size'"),
    ('[{"head": "main", "iter_n": 0, "start_sigma": 1, "end_sigma": 1, "start_step_size": 2, "end_step_size": 2}]',
     ".json", "'iter_n' must be a whole number from 1 to 100000, got 0"),
    ('[{"head": "main", "iter_n": 3, "start_sigma": -1, "end_sigma": 1, "start_step_size": 2, "end_step_size": 2}]',
     ".json", "'start_sigma' must be from 0 to 50 pixels"),
    # unbounded values used to hang a render (a blur radius of 4 million pixels)
    ('[{"head": "main", "iter_n": 3, "start_sigma": 1e6, "end_sigma": 1, "start_step_size": 2, "end_step_size": 2}]',
     ".json", "'start_sigma' must be from 0 to 50 pixels (the blur works on 224-pixel crops), got 1e+06"),
    ('[{"head": "main", "iter_n": 3, "start_sigma": 1, "end_sigma": 1, "start_step_size": 2, "end_step_size": 1e9}]',
     ".json", "'end_step_size' must be above 0 and at most 255"),
    ('[{"head": "main", "iter_n": 1000000000, "start_sigma": 1, "end_sigma": 1, "start_step_size": 2,'
     ' "end_step_size": 2}]', ".json", "'iter_n' must be a whole number from 1 to 100000"),
    ('[' + ', '.join(['{"head": "main", "iter_n": 1, "start_sigma": 1, "end_sigma": 1, "start_step_size": 2,'
                      ' "end_step_size": 2, "scale": 4}'] * 3) + ']',
     ".json", "octave 3: the scales so far make the image 14336 pixels wide, more than the 4096 allowed"),
    ('[{"head": "main", "iter_n": 3, "start_sigma": 1, "end_sigma": 1, "start_step_size": 2, "end_step_size": 2,'
     ' "colour": 1}]', ".json", "unknown field 'colour'"),
    ('{"octaves": [', ".json", "cannot be read"),
    ('[]', ".json", "no octaves"),
    ('{"steps": []}', ".json", "expected one key 'octaves'"),
    ('[[octaves]]\nhead = "main"\niter_n = 2\nstart_sigma = 1\nend_sigma = 1\nstart_step_size = "big"\n'
     'end_step_size = 1\n', ".toml", "'start_step_size' must be a number"),
    ('[[octaves]]\nhead = "main"\niter_n = 2\nstart_sigma = 1\nend_sigma = 1\nstart_step_size = 1\n'
     'end_step_size = 1\nscale = 9\n', ".toml", "'scale' must be from 1 to 4"),
    ('[[octaves]\n', ".toml", "cannot be read"),
])
def test_schedule_file_errors_name_the_problem(tmp_path, text, suffix, message):
    path = tmp_path / ("s" + suffix)
    path.write_text(text)
    with pytest.raises(ArgumentError) as e:
        sched.get(str(path))
    assert message in str(e.value) and "\n" not in str(e.value) and str(path) in str(e.value)


def test_schedule_files_load_in_json_and_toml(tmp_path):
    octs = [o._asdict() for o in sched.get("quick")]
    (tmp_path / "q.json").write_text(json.dumps({"octaves": octs}))
    assert sched.get(str(tmp_path / "q.json")) == sched.get("quick")
    toml = "".join("[[octaves]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in o.items() if v is not None)
                   for o in octs)
    (tmp_path / "q.toml").write_text(toml)
    assert sched.get(str(tmp_path / "q.toml")) == sched.get("quick")
    with pytest.raises(ArgumentError, match="neither a built-in"):
        sched.get("deepdream")


def test_class_names_resolve_case_insensitively():
    assert classnames.lookup("tabby cat") == 281 == classnames.lookup("Tabby")
    assert classnames.lookup("dalmatian") == 251 == classnames.lookup("coach dog")
    assert classnames.lookup("  Great  WHITE shark ") == 2
    assert classnames.lookup(7) == 7 == classnames.lookup("7") == classnames.lookup(np.int64(7))
    assert classnames.name(281) == "tabby" and len(classnames.names()) == 1000


def test_ambiguous_and_unknown_names_list_candidates():
    with pytest.raises(ArgumentError) as e:
        classnames.lookup("crane")
    assert "ambiguous" in str(e.value) and "134" in str(e.value) and "517" in str(e.value)
    with pytest.raises(ArgumentError) as e:
        classnames.lookup("tabby kat")
    assert "unknown class name" in str(e.value) and "'tabby cat'" in str(e.value)
    with pytest.raises(ArgumentError, match="out of range"):
        classnames.lookup(1000)
    with pytest.raises(ArgumentError, match="out of range"):
        classnames.lookup(-1)


def test_render_rejects_bad_classes_before_any_work(narrow):
    with pytest.raises(ArgumentError, match="no classes"):
        classviz.render(narrow, [])
    with pytest.raises(ArgumentError, match="unknown class name"):
        classviz.render(narrow, ["tabby", "zzzzqqq"])
    with pytest.raises(ArgumentError, match="schedule"):
        classviz.render(narrow, 1, schedule=3)


def test_every_public_name_resolves():
    """Each name classviz exports (some imported lazily, from the module that defines them) is there."""
    for name in classviz.__all__:
        assert getattr(classviz, name) is not None, name
