"""The method: GoogLeNet draws a class by gradient ascent on the input pixels.

Per step of an octave (see `classviz.schedule`): take a 224x224 crop of the image (or the model's
own square input size, 299 for Inception-v3: `crop_size`; offset drawn per axis from
Normal(mid, 0.3 (size-224)), rounded down, clipped), compute the gradient of the
class's pre-softmax score on the octave's head, step the crop by step_size / mean|g| * g in pixel
space, clip to [0, 255], blur it with a Gaussian of the step's sigma and paste it back. Images are
RGB pixels (N, 3, H, W) on the backend for the whole render; a batch of classes renders at once,
each image with its own crops."""
import math
import warnings

import numpy as np

from . import objective as objectives
from . import preprocess as prep
from . import schedule as sched
from .errors import ArgumentError, ModelError, Notice, RenderFailed, RenderInterrupted

CROP = 224  # the crop side of GoogLeNet, and of any model that does not declare a square input


def crop_size(net):
    """Side (int) of the crops a render of `net` takes: the model's declared input H = W when both
    are fixed and square (224 for GoogLeNet and most exports, 299 for Inception-v3), else CROP."""
    h, w = net.model.input_shape[2:4]
    return h if isinstance(h, int) and h == w and 32 <= h <= 1024 else CROP
ROLES = ("main", "aux2", "aux1")


class Step:
    """What `on_step` receives after each finished step.

    octave: index into the schedule; iteration: step within the octave; step: steps finished
    before this one over the whole render (0-based); steps: total planned; head: tensor name;
    sigma, step_size: the values used; size: image side in pixels; pixels: the live
    (N, 3, size, size) backend array (read only). `scores` and `images()` copy off the device on
    demand, so a caller that reads neither costs the render no synchronisation."""
    __slots__ = ("octave", "iteration", "step", "steps", "head", "sigma", "step_size", "size", "pixels",
                 "_be", "_obj")

    def __init__(self, be, obj, **kw):
        self._be, self._obj = be, obj
        for k, v in kw.items():
            setattr(self, k, v)

    @property
    def scores(self):
        """(N,) float64 NumPy: each image's objective before this step's update."""
        return np.asarray(self._be.to_numpy(self._obj), np.float64).copy()

    def images(self):
        """The images now: list of N uint8 (size, size, 3) RGB arrays (a copy off the device)."""
        return self._be.pixels.to_uint8(self._be.to_numpy(self.pixels))


def render(net, classes, schedule="deepdraw", seed=None, on_step=None, preprocess=None, init=None, mask=None,
           background="white", size=None, places=None, path=None):
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
    (each octave walks it; the gradient weighted by a soft disc around the moving centre).
    Returns a list of uint8 (H, W, 3) RGB arrays, one per class (H = W = the schedule's final size,
    from crops of `crop_size(net)`: 322 for deepdraw on a 224 model).
    Raises ArgumentError for bad classes, schedules or seeds; RenderInterrupted on Ctrl-C;
    RenderFailed when an image's gradient becomes NaN/Inf or is identically zero."""
    check_seed(seed)
    octaves = sched.get(schedule)
    pre, _ = prep.for_model(net.model, preprocess)
    heads = octave_heads(net, octaves)
    objs = parse_objectives(net, classes, octaves, heads)
    hw = check_size(size, crop_size(net), len(objs) if places is None and path is None else 1)
    places = check_places(places, len(objs))
    if path is not None:
        path = parse_path(path)
        if places is not None or len(objs) != 1:
            raise ArgumentError("a path draws one class or objective, without places")
    return Renderer(net, [o if o.plain is None else o.plain for o in objs], octaves, heads, pre, seed,
                    init=check_init(init), mask=check_mask(mask), background=color(background), size=hw,
                    places=places, path=path).run(on_step)


MAX_CANVAS = 8192  # pixels a side: a batch of such canvases already takes gigabytes


def check_size(size, crop=CROP, images=1):
    """(H, W) of a canvas given as (W, H) or 'WxH' (None stays None). Raises ArgumentError for a side
    below `crop`, or above MAX_CANVAS, saying what memory `images` such canvases would need."""
    if size is None:
        return None
    if isinstance(size, str):
        parts = size.lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ArgumentError(f"size {size!r} is not WIDTHxHEIGHT in pixels, like 800x600")
        size = tuple(int(p) for p in parts)
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ArgumentError(f"size must be (width, height) or 'WxH', got {size!r}") from None
    if min(w, h) < crop:
        raise ArgumentError(f"size {w}x{h} is smaller than the model's {crop}x{crop} crops")
    if max(w, h) > MAX_CANVAS:
        need = images * 3 * w * h * 4 * 3  # float32 pixels, the upscale's copy and a crop's worth, roughly
        raise ArgumentError(f"size {w}x{h} is too large: it would need about {need / 2 ** 30:.1f} GiB for the "
                            f"pixels alone; at most {MAX_CANVAS} pixels a side")
    return h, w


def check_places(places, n):
    """`places` as a list of n (x, y) float pairs in 0..1, or None. Raises ArgumentError."""
    if places is None:
        return None
    try:
        pts = [(float(x), float(y)) for x, y in places]
    except (TypeError, ValueError):
        raise ArgumentError("places must be (x, y) pairs, one per class") from None
    if len(pts) != n:
        raise ArgumentError(f"{len(pts)} places for {n} classes: give one (x, y) per class")
    for x, y in pts:
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise ArgumentError(f"place ({x:g}, {y:g}) is outside the canvas: x and y go from 0 to 1")
    return pts


def check_init(init):
    """`init` as a uint8 (H, W, 3) array, or None; ArgumentError for anything else."""
    if init is None:
        return None
    a = np.asarray(init)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1 or a.dtype != np.uint8:
        raise ArgumentError(f"init must be a uint8 (H, W, 3) RGB picture, got {a.dtype} {a.shape}")
    return a


def check_mask(mask):
    """`mask` as a float64 (H, W) array in 0..1, or None; ArgumentError for anything else."""
    if mask is None:
        return None
    m = np.asarray(mask, np.float64)
    if m.ndim != 2 or min(m.shape) < 1 or not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise ArgumentError(f"mask must be an (H, W) array of values in 0..1, got shape {m.shape}")
    if not (m >= 0.5).any():
        raise ArgumentError("the mask keeps nothing to draw: no part of it is white (>= 0.5)")
    return m


NAMED_COLORS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128)}


def color(value):
    """An (R, G, B) tuple of floats in 0..255 from 'white', 'black', 'grey', '#RRGGBB', 'R,G,B' or a
    3-sequence. Raises ArgumentError naming the value."""
    given = value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in NAMED_COLORS:
            return tuple(float(c) for c in NAMED_COLORS[v])
        try:
            if v.startswith("#") and len(v) == 7:
                return tuple(float(int(v[k:k + 2], 16)) for k in (1, 3, 5))
            parts = [float(p) for p in v.split(",")]
        except ValueError:
            parts = []
        value = parts
    try:
        rgb = tuple(float(c) for c in value)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise ArgumentError(f"background {given!r} is not a colour: white, black, grey, #RRGGBB or R,G,B in 0..255")
    return rgb


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


def stream_key(target):
    """The int that keys an image's random stream: a class (or channel) index as it is; an
    objective.Objective that is not one plain class, the first 8 bytes of the SHA-256 of its
    canonical text, shifted clear of any class index."""
    if isinstance(target, objectives.Objective):
        return target.plain if target.plain is not None else _text_key(target.text())
    return int(target)


def _text_key(text):
    # a stream key for a text (an objective, a composition): past every class index
    import hashlib
    return (1 << 32) + int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def seeds(seed, targets):
    """One NumPy Generator per image, from `seed` (int or None) and the image's target (its class or
    channel index, or its Objective, in `targets`; `stream_key`): the j-th image of target t draws
    from SeedSequence(seed, spawn_key=(t, j)). So an image's start noise and crops depend on the seed
    and what it draws only, not on its place in the batch or on what else shares it; a gallery gets
    the same picture from any worker, in any batch, resumed or not."""
    root = np.random.SeedSequence(seed)  # seed None: fresh entropy, one draw shared by the batch
    seen, out = {}, []
    for t in targets:
        t = stream_key(t)
        j = seen[t] = seen.get(t, -1) + 1
        out.append(np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(t, j))))
    return out


def crop_offset(rng, size, crop=CROP):
    """(row, col) int offsets of a `crop`-pixel window in a `size`-pixel square (or an (H, W)
    canvas), drawn as the method does: floor(clip(Normal(mid, 0.3 (size - crop)), 0, size - crop))
    per axis; 0 on an axis of the crop's size."""
    h, w = (size, size) if np.ndim(size) == 0 else size
    if h <= crop and w <= crop:
        return 0, 0
    span = np.array([h - crop, w - crop], np.float64)
    o = rng.normal(span / 2.0, 0.3 * span)
    return tuple(int(v) for v in np.clip(o, 0, span))


def place_offset(rng, size, at, scale, crop=CROP):
    """(row, col) int offsets of a `crop`-pixel window centred, on average, at `at` = (x, y) in
    0..1 of an (H, W) canvas: Normal(centre - crop / 2, 0.3 max(crop scale - crop, 10)) per axis,
    as deepdraw's own placements spread, floored and clipped to the canvas. scale: the octave's
    upscale so far (1 at the start size)."""
    h, w = size
    spread = 0.3 * max(crop * scale - crop, 10.0)
    centre = np.array([at[1] * h, at[0] * w]) - crop / 2.0
    o = rng.normal(centre, spread)
    return tuple(int(v) for v in np.clip(np.floor(o), 0, [h - crop, w - crop]))


# named paths (x, y in 0..1 of the canvas): a circle, one period of a sine, a line across
PATHS = {
    "circle": [(0.5 + 0.32 * math.cos(2 * math.pi * k / 48), 0.5 + 0.32 * math.sin(2 * math.pi * k / 48))
               for k in range(49)],
    "sine": [(0.12 + 0.76 * k / 48, 0.5 - 0.25 * math.sin(2 * math.pi * k / 48)) for k in range(49)],
    "line": [(0.12, 0.5), (0.88, 0.5)],
}


def parse_path(spec):
    """The polyline a --path names (list of (x, y) floats in 0..1, at least 2): 'circle', 'sine',
    'line', or points 'X1,Y1 X2,Y2 ...'. Raises ArgumentError naming what is wrong."""
    if isinstance(spec, str) and spec.strip().lower() in PATHS:
        return list(PATHS[spec.strip().lower()])
    try:
        pts = [tuple(float(v) for v in p.split(",")) for p in spec.split()] if isinstance(spec, str) else \
            [tuple(float(v) for v in p) for p in spec]
    except (TypeError, ValueError):
        pts = None
    if not pts or any(len(p) != 2 for p in pts) or len(pts) < 2:
        raise ArgumentError(f"path {spec!r} is not circle, sine, line or two or more points 'X1,Y1 X2,Y2 ...'")
    for x, y in pts:
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise ArgumentError(f"path point ({x:g}, {y:g}) is outside the canvas: x and y go from 0 to 1")
    return pts


def point_along(points, f):
    """The (x, y) at fraction f (0..1) of the polyline `points`' length."""
    p = np.asarray(points, np.float64)
    seg = np.hypot(*(p[1:] - p[:-1]).T)
    total = seg.sum()
    if total == 0:
        return tuple(p[0])
    d = min(max(f, 0.0), 1.0) * total
    k = min(int(np.searchsorted(np.cumsum(seg), d, side="right")), len(seg) - 1)
    start = seg[:k].sum()
    t = 0.0 if seg[k] == 0 else (d - start) / seg[k]
    return tuple(p[k] + t * (p[k + 1] - p[k]))


def soft_disc(crop, dtype=np.float64):
    """(crop, crop) weights of a path's gradient: 1 within 0.3 crop of the window's centre, falling
    as cos^2 to 0 at 0.5 crop, 0 beyond (the corners)."""
    r = np.hypot(*np.meshgrid(np.arange(crop) - (crop - 1) / 2, np.arange(crop) - (crop - 1) / 2)) / crop
    w = np.where(r <= 0.3, 1.0, np.where(r >= 0.5, 0.0, np.cos((r - 0.3) / 0.2 * math.pi / 2) ** 2))
    return w.astype(dtype)


def canvas_sizes(octaves, crop=CROP, size=None):
    """The image's (H, W) during each octave (list of tuples). size None: the square the schedule
    grows from `crop` (sched.sizes). size (H, W): a canvas ending at exactly that size, each octave
    the final size times its upscale so far over the schedule's whole upscale, at least `crop`."""
    if size is None:
        return [(s, s) for s in sched.sizes(octaves, crop)]
    factors, f = [], 1.0
    for o in octaves:
        f *= o.scale or 1.0
        factors.append(f)
    return [tuple(max(crop, int(math.floor(side * g / f + 1e-6))) for side in size) for g in factors[:-1]] + \
        [tuple(size)]


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


def canvas_resize(picture, size):
    """float64 (H, W, 3) pixels of `picture` (uint8 (h, w, 3)) for a canvas of `size` (H, W): its
    centred part of the canvas's aspect, resized (Lanczos)."""
    from PIL import Image
    h, w = picture.shape[:2]
    H, W = size
    ch, cw = (h, max(1, round(h * W / H))) if w * H >= h * W else (max(1, round(w * H / W)), w)
    top, left = (h - ch) // 2, (w - cw) // 2
    part = Image.fromarray(np.ascontiguousarray(picture[top:top + ch, left:left + cw]))
    return np.asarray(part.resize((W, H), Image.LANCZOS), np.float64)


class ObjectivePass:
    """The forward to what a batch's objectives read and the backward from there to the input, for
    one input shape: built once (per octave), run every step; nothing in a run allocates.

    net: a Net; cls: per image a class index (int) or an objective.Objective; head: the tensor
    name class terms read; shape: the model input's (N, C, H, W); dtype: float32 or float64.
    When every image is a class, the plan ends at `head` and the objective kernels' class path
    runs; else every tensor a term reads is on the plan, the deepest as its head and the others as
    its taps, each with its seed (objective.seeds) uploaded once."""

    def __init__(self, net, cls, head, shape, dtype):
        be = self.be = net.backend
        self.weighted = any(isinstance(c, objectives.Objective) for c in cls)
        if not self.weighted:
            self.plan = net.plan(head, shape, dtype)
            self.classes = be.asarray(np.asarray(cls, np.int64))
            return
        objs = [c if isinstance(c, objectives.Objective) else
                objectives.Objective((objectives.Term(1.0, "class", index=int(c)),)) for c in cls]
        tensors = list(dict.fromkeys([head] * any(t.kind == "class" for o in objs for t in o.terms)
                                     + [t for o in objs for t in o.tensors()]))
        deepest = max(tensors, key=lambda t: net.network.depth[t])
        self.plan = net.plan(deepest, shape, dtype, taps=[t for t in tensors if t != deepest])
        self.seeds = {}
        for t in tensors:
            s, l2w = objectives.seeds(objs, t, head, self.plan.shapes[t], dtype)
            self.seeds[t] = (be.asarray(s), be.asarray(l2w))

    def __call__(self, x, obj):
        """obj (N,) = each image's objective at x (the model's input, of the pass's shape); returns
        its gradient with respect to x (a buffer of the plan, overwritten by the next call)."""
        be, plan = self.be, self.plan
        out = plan.forward(x)
        if not self.weighted:
            be.objective.gather(out, self.classes, obj)
            return plan.backward(lambda g: be.objective.seed(g, self.classes))
        values, seeds = plan.values, self.seeds
        for k, (t, (s, l2w)) in enumerate(seeds.items()):
            be.objective.weighted(values[t], s, l2w, obj, k > 0)
        return plan.backward(lambda g: be.objective.weighted_seed(values[plan.head], *seeds[plan.head], g, False),
                             lambda t, g, acc: be.objective.weighted_seed(values[t], *seeds[t], g, acc))


class Renderer:
    """One render's state: the image batch and every buffer, allocated per octave, reused per step.
    Per-step values (crop offsets, blur taps, step size) live in backend arrays that the host
    overwrites before each step, so each octave's step is one `be.capture`d callable (a CUDA graph
    replay on the GPU). dtype: of the images and the network's arithmetic, float32 (what `render`
    uses) or float64 (for checks: two backends' renders then agree to rounding). cls: per image a
    class index (int) or an objective.Objective; when every one is a class the objective kernels'
    plain class path runs, else the weighted one (`objective.seeds`). init, mask, background: as
    `render` takes them (checked). size: the final (H, W) of a canvas (None: the schedule's square
    from the crop size). places: None, or one (x, y) in 0..1 per entry of cls: then ONE canvas is
    drawn, each step taking every placement's crop around its point (`place_offset`) in one batch
    and adding each crop's update to the canvas (overlaps sum). path: None, or a polyline of (x, y)
    points for the one entry of cls: a placement whose point walks it in every octave, its
    gradient weighted by `soft_disc`. Use `run`."""

    def __init__(self, net, cls, octaves, heads, pre, seed, dtype=np.float32, init=None, mask=None,
                 background=(255.0, 255.0, 255.0), size=None, places=None, path=None):
        self.net, self.be = net, net.backend
        self.octaves, self.heads = octaves, heads
        self.n, self.cls = len(cls), list(cls)
        self.path = None if path is None else [tuple(map(float, p)) for p in path]
        if self.path is not None:  # one objective, one placement that walks the path
            if self.n != 1:
                raise ArgumentError(f"a path draws one objective, got {self.n}")
            places = [self.path[0]]
        self.places = None if places is None else [tuple(map(float, p)) for p in places]
        be, dt = self.be, np.dtype(dtype)
        self.order = be.asarray(pre.order())
        self.scale, self.shift = be.asarray(pre.scale(dt)), be.asarray(pre.shift(dt))
        self.crop = c = crop_size(net)
        self.sizes = canvas_sizes(octaves, c, size)
        h0, w0 = self.sizes[0]
        if self.places is None:
            self.rngs = seeds(seed, self.cls)
        else:  # one canvas: one stream, keyed by the whole composition
            self.rngs = seeds(seed, [_text_key(" | ".join(
                f"{o.text() if isinstance(o, objectives.Objective) else o}@{x!r},{y!r}"
                for o, (x, y) in zip(self.cls, self.places)) + (f" along {self.path!r}" if self.path else ""))])
        start = np.stack([r.normal(200.0, 8.0, (3, h0, w0)) for r in self.rngs]).astype(dt)
        if init is not None:  # each image still draws its noise: its crops follow the same stream
            start[:] = canvas_resize(init, (h0, w0)).transpose(2, 0, 1)
        self.pixels = be.asarray(start)
        self.mask_source, self.background = mask, be.asarray(np.asarray(background, dt))
        self.keep = None
        self.apply_mask()
        shape = (self.n, 3, c, c)
        self.before = be.empty(shape, dt) if self.places is not None else None
        self.disc = None if self.path is None else be.asarray(soft_disc(c, dt))
        self.window, self.model_in = be.empty(shape, dt), be.empty(shape, dt)
        self.offsets_host = np.zeros((self.n, 2), np.int64)
        self.offsets = be.asarray(self.offsets_host)
        self.obj = be.zeros((self.n,), dt)
        self.step_size = be.zeros((1,), dt)
        self.norm = be.zeros((self.n,), np.float64)  # each image's mean |gradient| in the last step
        self.done, self.steps = 0, sched.total_steps(octaves)

    def run(self, on_step=None):
        """Run every octave; returns the images (list of uint8 (H, W, 3)). on_step as in `render`."""
        try:
            with self.be.stream():
                for k, (o, head, size) in enumerate(zip(self.octaves, self.heads, self.sizes)):
                    if size != tuple(self.pixels.shape[2:]):
                        self.upscale(size)
                    replay = self.be.capture(self.octave_step(o, head), keep=(self.pixels,))
                    for i in range(o.iter_n):
                        self.set_step(o.sigma(i), o.step_size(i), i / max(1, o.iter_n - 1))
                        replay()
                        self.check(k, head)
                        self.done += 1
                        if on_step is not None and on_step(Step(
                                self.be, self.obj, octave=k, iteration=i, step=self.done - 1, steps=self.steps,
                                head=head, sigma=o.sigma(i), step_size=o.step_size(i), size=size[0],
                                pixels=self.pixels)):
                            return self.images()
        except KeyboardInterrupt:
            raise RenderInterrupted(self.images(), self.done, self.steps) from None
        return self.images()

    def check(self, octave, head):
        """Raise RenderFailed when the step just run met a gradient that is NaN/Inf or identically
        zero for some image (the update then left that image as it was)."""
        norm = self.be.to_numpy(self.norm)
        bad = np.flatnonzero(~(np.isfinite(norm) & (norm > 0)))
        if not bad.size:
            return
        n = int(bad[0])
        what = "is identically zero" if norm[n] == 0 else "became NaN or Inf"
        why = ("the objective does not depend on the pixels (dead weights or an all-zero classifier?)"
               if norm[n] == 0 else "the model computes non-finite values")
        c = self.cls[n]
        target = f"objective '{c.text()}'" if isinstance(c, objectives.Objective) else f"class {c}"
        where = f"placement {n + 1} of {self.n}" if self.places is not None else f"image {n + 1} of {self.n}"
        raise RenderFailed(f"the gradient of {target} ({where}) {what} at step "
                           f"{self.done + 1} of {self.steps} (octave {octave + 1}, head {head}): {why}",
                           self.done, self.steps)

    def octave_step(self, octave, head):
        """Allocate what this octave's steps share and return the step as a callable of no arguments;
        `set_step` gives it its values before each run."""
        be = self.be
        self.whole = self.places is None and tuple(self.pixels.shape[2:]) == (self.crop, self.crop)
        self.radius = be.blur.radius(max(octave.start_sigma, octave.end_sigma))
        self.taps = be.zeros((2 * self.radius + 1,), np.float32)
        self.blur_work = be.empty(be.blur.work_size(self.window.shape, self.radius), self.window.dtype)
        self.objective = ObjectivePass(self.net, self.cls, head, self.window.shape, self.window.dtype)
        return self.step

    def set_step(self, sigma, step_size, along=0.0):
        """Upload one step's values: fresh crop offsets per image, the blur taps for `sigma` centred in
        this octave's taps buffer (zeros beyond their radius add nothing), the step size. along:
        how far through its octave the step is (0..1): a path's crop centre is that far along it."""
        be = self.be
        if self.path is not None:
            self.places[0] = point_along(self.path, along)
        if not self.whole:
            size = tuple(self.pixels.shape[2:])
            if self.places is None:
                for n, rng in enumerate(self.rngs):
                    self.offsets_host[n] = crop_offset(rng, size, self.crop)
            else:
                scale = size[0] / self.sizes[0][0]
                for n, at in enumerate(self.places):
                    self.offsets_host[n] = place_offset(self.rngs[0], size, at, scale, self.crop)
            be.upload(self.offsets, self.offsets_host)
        taps = np.zeros(2 * self.radius + 1, np.float32)
        t = be.blur.taps(sigma)
        r = (t.shape[0] - 1) // 2
        taps[self.radius - r:self.radius + r + 1] = t
        be.upload(self.taps, taps)
        be.upload(self.step_size, np.array([step_size], self.step_size.dtype))

    def step(self):
        """One step on every image, all on the backend, reading the values of `set_step`."""
        be = self.be
        window = self.pixels if self.whole else self.window
        if self.places is not None:  # every window from the one canvas, and what it was before the step
            for k in range(self.n):
                be.crop.crop(self.pixels, self.offsets[k:k + 1], window[k:k + 1])
                be.crop.crop(self.pixels, self.offsets[k:k + 1], self.before[k:k + 1])
        elif not self.whole:
            be.crop.crop(self.pixels, self.offsets, window)
        be.pixels.to_model(window, self.order, self.scale, self.shift, self.model_in)
        grad = self.objective(self.model_in, self.obj)
        if self.disc is not None:  # a path draws around its moving centre, not to the window's edges
            be.pixels.weigh(grad, self.disc)
        be.pixels.ascent(window, grad, self.order, self.scale, self.step_size, 0.0, 255.0, self.norm)
        be.blur.forward(window, self.taps, self.blur_work)
        if self.places is not None:  # each window's update added: where they overlap, the updates sum
            for k in range(self.n):
                be.crop.paste_add(window[k:k + 1], self.before[k:k + 1], self.offsets[k:k + 1], self.pixels, 0.0, 255.0)
        elif not self.whole:
            be.crop.paste(window, self.offsets, self.pixels)
        if self.keep is not None:
            be.pixels.mask(self.pixels, self.keep, self.background)

    def upscale(self, size):
        """Resize the whole batch to `size` ((H, W), or a side for a square) (cubic), clipped to
        [0, 255] (and masked)."""
        size = (size, size) if np.ndim(size) == 0 else tuple(size)
        be = self.be
        big = be.empty((self.pixels.shape[0], 3, *size), self.pixels.dtype)
        be.resize.forward(self.pixels, big)
        be.xp.clip(big, 0.0, 255.0, out=big)
        self.pixels = big
        self.apply_mask()

    def apply_mask(self):
        """With a mask: its kept-out pixels (below 0.5 once resized to the image) become the
        background, and `keep` (uint8 (H, W) on the backend) holds it for the steps of this size."""
        if self.mask_source is None:
            return
        h, w = self.pixels.shape[2:]
        from PIL import Image
        m = Image.fromarray((self.mask_source * 255).astype(np.uint8), "L").resize((w, h), Image.BILINEAR)
        self.keep = self.be.asarray((np.asarray(m) >= 128).astype(np.uint8))
        self.be.pixels.mask(self.pixels, self.keep, self.background)

    def images(self):
        """The images now: list of uint8 (H, W, 3) RGB arrays."""
        return self.be.pixels.to_uint8(self.be.to_numpy(self.pixels))
