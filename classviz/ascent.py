"""The method: a network draws a class by gradient ascent on its input pixels (deepdraw's, and
lucid's where a schedule asks for it).

Per step of an octave (see `classviz.schedule`): take a 224x224 crop of the image (or the model's
own square input size, 299 for Inception-v3: `canvas.crop_size`; offset drawn per axis from
Normal(mid, 0.3 (size-224)), rounded down, clipped), compute the gradient of the class's
pre-softmax score on the octave's head, step the crop by step_size / mean|g| * g in pixel space,
clip to [0, 255], blur it with a Gaussian of the step's sigma and paste it back. Images are RGB
pixels (N, 3, H, W) on the backend for the whole render; a batch of classes renders at once, each
image with its own crops. This module is the method's entry point, `render`, and the checks of its
arguments; classviz.renderer runs a render."""
import warnings

import numpy as np

from . import canvas
from . import objective as objectives
from . import preprocess as prep
from . import schedule as sched
from .canvas import crop_size
from .errors import ArgumentError, ModelError, Notice
from .renderer import Renderer, diversity_layer

ROLES = ("main", "aux2", "aux1")


def render(net, classes, schedule="deepdraw", seed=None, on_step=None, preprocess=None, init=None, mask=None,
           background="white", size=None, places=None, path=None, facets=None):
    """Draw each class in `classes` with `net`, all in one batch.

    net: a classviz.Net; classes: an int, a name ('tabby cat'), an objective expression
    ('tabby cat + 0.5 * tiger - 0.3 * 207', 'inception_4c/output:97@7,7', 'TENSOR:l2': see
    classviz.objective) or a sequence of them (one image each); schedule: a built-in name, a
    JSON/TOML file or a sequence of octaves (classviz.schedule); seed: int for reproducible images (None: fresh entropy); on_step: called with a `Step` after
    every step, returning True stops the render early; preprocess: None (from the model), 'caffe',
    'torchvision' or a Preprocess; init: a picture to start from instead of noise (uint8 (H, W, 3)
    RGB; centre-cropped to a square and resized to the start size), the same for every image;
    mask: (H, W) array in 0..1 (any size, resized to the image at every octave): where it is
    below 0.5 the image is kept at `background` ('white', 'black', '#RRGGBB' or an (R, G, B)
    tuple of 0..255), bit for bit; size: the final canvas (W, H) in pixels (None: the schedule's
    square); places: one (x, y) in 0..1 per class: then ONE picture is drawn, each class around
    its point (see Renderer), and the list holds that one picture; path: 'circle', 'sine', 'line'
    or a list of (x, y) points in 0..1: ONE picture of the one class, drawn along the polyline
    (each octave walks it; the gradient weighted by a soft disc around the moving centre); facets:
    an int K >= 2: K pictures of the one class or objective, in one batch, pushed apart by lucid's
    diversity term (its weight and layer are schedule fields; classviz.schedule).
    Returns a list of uint8 (H, W, 3) RGB arrays, one per class (or facet) (H = W = the schedule's final size,
    from crops of `crop_size(net)`: 322 for deepdraw on a 224 model).
    Raises ArgumentError for bad classes, schedules or seeds; RenderInterrupted on Ctrl-C;
    RenderFailed when an image's gradient becomes NaN/Inf, or is identically zero for
    renderer.ZERO_STEPS steps in a row."""
    check_seed(seed)
    octaves = sched.get(schedule)
    pre, _ = prep.for_model(net.model, preprocess)
    heads = octave_heads(net, octaves)
    objs = parse_objectives(net, classes, octaves, heads)
    if facets is not None:
        objs = check_facets(net, facets, objs, octaves, heads, places, path)
    hw = canvas.check_size(size, crop_size(net), len(objs) if places is None and path is None else 1)
    places = canvas.check_places(places, len(objs))
    if path is not None:
        path = canvas.parse_path(path)
        if places is not None or len(objs) != 1:
            raise ArgumentError("a path draws one class or objective, without places")
    return Renderer(net, [o if o.plain is None else o.plain for o in objs], octaves, heads, pre, seed,
                    init=canvas.check_init(init), mask=canvas.check_mask(mask), background=canvas.color(background),
                    size=hw, places=places, path=path, facets=facets is not None).run(on_step)


MAX_FACETS = 64


def check_facets(net, facets, objs, octaves, heads, places=None, path=None):
    """The batch of a facets render: the one objective in `objs` repeated `facets` times (list).
    Raises ArgumentError for a count that is not a whole number from 2 to MAX_FACETS, more than one
    objective, places or a path, or a diversity layer the model lacks (each octave's, or its
    default's absence)."""
    if isinstance(facets, bool) or not isinstance(facets, (int, np.integer)) or not 2 <= facets <= MAX_FACETS:
        raise ArgumentError(f"facets must be a whole number from 2 to {MAX_FACETS}, got {facets!r}")
    if len(objs) != 1 or places is not None or path is not None:
        raise ArgumentError("facets draw one class or objective several ways: give one, without places or a path")
    for o, head in zip(octaves, heads):
        if o.diversity_layer:
            net.head_name(o.diversity_layer)
        else:
            diversity_layer(net, head, crop_size(net))
    return objs * int(facets)


def parse_objectives(net, classes, octaves, heads=None):
    """Each image's objective.Objective (a list), from `classes` as `render` takes them, checked
    against `net` for crops of `crop_size(net)` and the fewest classes of the octaves' heads.
    heads: octave_heads(net, octaves) when already known. Raises ArgumentError."""
    heads = octave_heads(net, octaves) if heads is None else heads
    n_cls = _class_count(net, heads, {h for o, h in zip(octaves, heads) if o.head in ROLES})
    single = isinstance(classes, str) or np.ndim(classes) == 0
    objs = [objectives.parse(c, net.network, crop_size(net), n_cls) for c in ([classes] if single else classes)]
    if not objs:
        raise ArgumentError("no classes to render")
    return objs


def octave_heads(net, octaves):
    """Tensor name of each octave's head. A role the model lacks falls back to the main head with
    one Notice per role; an unknown tensor name raises ArgumentError."""
    out, missing = [], []
    for o in octaves:
        if o.head in ROLES and o.head not in net.roles:
            if o.head not in missing:
                missing.append(o.head)
                warnings.warn(f"the model has no {o.head} head: its octaves run on the main head "
                              f"({net.roles['main']}) instead", Notice, stacklevel=3)
            out.append(net.roles["main"])
        else:
            out.append(net.head_name(o.head))
    return out


def check_seed(seed):
    """Raise ArgumentError unless `seed` is None or an integer >= 0 (what NumPy's SeedSequence takes)."""
    if seed is None:
        return
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ArgumentError(f"seed must be a whole number >= 0 or None, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ArgumentError(f"seed must be >= 0, got {seed}")


def _class_count(net, heads, by_role=()):
    """The fewest classes of `heads`, from shapes only (no plan, buffers or prepared weights).
    A head asked for by role (`by_role`: those tensors) must be a classifier, (N, K) or
    (N, K, 1, 1); ModelError says which tensor and shape otherwise (a tensor named as a head may
    have any shape: its channels are drawn)."""
    counts, crop = [], crop_size(net)
    for h in set(heads):
        shape = net.network.infer_shapes(h, (1, net.channels, crop, crop))[h]
        if h in by_role and not (len(shape) == 2 or len(shape) == 4 and shape[2:] == (1, 1)):
            role = next(r for r, t in net.roles.items() if t == h)
            raise ModelError(f"the model's {role} head '{h}' has shape {tuple(shape)} for a {crop}x{crop} input, "
                             "not (N, classes): name a classifier tensor with head=, or a tensor to draw its channels")
        counts.append(shape[1])
    return min(counts)


