"""One render: its random streams, its crops, the objective's forward and backward for a batch, and
the `Renderer` that runs a schedule's octaves step by step on a backend (what `ascent.render`
calls). Every per-step value lives in a backend array, so each octave's step is one captured
callable (a CUDA graph replay on the GPU)."""
import numpy as np

from . import canvas
from . import fourier
from . import objective as objectives
from . import schedule as sched
from . import transforms as tfs
from .canvas import CROP, crop_size
from .errors import ArgumentError, RenderFailed, RenderInterrupted

# steps in a row with an image's gradient identically zero after which the render stops: its
# objective does not depend on the pixels (dead weights, an all-zero classifier). Not one: a single
# unit's objective (a neuron, a ReLU's output at one place) is zero while the unit is off, and the
# next crop may turn it on (the step leaves the image as it was meanwhile)
ZERO_STEPS = 10


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


class ObjectivePass:
    """The forward to what a batch's objectives read and the backward from there to the input, for
    one input shape: built once (per octave), run every step; nothing in a run allocates.

    net: a Net; cls: per image a class index (int) or an objective.Objective; head: the tensor
    name class terms read; shape: the model input's (N, C, H, W); dtype: float32 or float64.
    When every image is a class, the plan ends at `head` and the objective kernels' class path
    runs; else every tensor a term reads is on the plan, the deepest as its head and the others as
    its taps, each with its seed (objective.seeds) uploaded once. diversity: None, or (tensor,
    weight): the batch is facets of one objective, pushed apart at that tensor by lucid's
    diversity term (kernels/*/diversity.py), whose seed joins the tensor's in the same backward
    (obj stays the objective's value alone)."""

    def __init__(self, net, cls, head, shape, dtype, diversity=None):
        be = self.be = net.backend
        self.diversity = None
        self.weighted = diversity is not None or any(isinstance(c, objectives.Objective) for c in cls)
        if not self.weighted:
            self.plan = net.plan(head, shape, dtype)
            self.classes = be.asarray(np.asarray(cls, np.int64))
            return
        objs = [c if isinstance(c, objectives.Objective) else
                objectives.Objective((objectives.Term(1.0, "class", index=int(c)),)) for c in cls]
        tensors = list(dict.fromkeys([head] * any(t.kind == "class" for o in objs for t in o.terms)
                                     + [t for o in objs for t in o.tensors()] + ([diversity[0]] if diversity else [])))
        deepest = max(tensors, key=lambda t: net.network.depth[t])
        self.plan = net.plan(deepest, shape, dtype, taps=[t for t in tensors if t != deepest])
        self.seeds = {}
        for t in tensors:
            s, l2w = objectives.seeds(objs, t, head, self.plan.shapes[t], dtype)
            self.seeds[t] = (be.asarray(s), be.asarray(l2w))
        if diversity is not None:
            layer, weight = diversity
            k, c = self.plan.shapes[layer][:2]
            self.diversity = (layer, float(weight), be.empty((k, c, c), dtype), be.empty((k, c, c), dtype),
                              be.empty((k, k), np.float64))

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
        div = self.diversity

        def seed(t, g, acc):
            be.objective.weighted_seed(values[t], *seeds[t], g, acc)
            if div is not None and t == div[0]:
                be.diversity.seed(values[t], *div[1:], g)

        return plan.backward(lambda g: seed(plan.head, g, False), seed)


def diversity_layer(net, head, crop):
    """The tensor a facets' diversity term compares by default, for an octave on `head` with crops of
    `crop` pixels: of the activations on the way to the head (4-D outputs of anything but a
    convolution, at least 7 pixels across), the one whose depth is nearest 3/5 of the head's (a
    mid-level layer: style, not the class)."""
    net_ = net.network
    shapes = net_.infer_shapes(head, (1, net.channels, crop, crop))
    goal = 0.6 * net_.depth[head]
    cands = [t for t, sh in shapes.items() if len(sh) == 4 and min(sh[2:]) >= 7 and t in net_.producer
             and net_.producer[t].op != "Conv" and net_.depth[t] < net_.depth[head]]
    if not cands:
        raise ArgumentError(f"no layer before {head!r} to compare facets at: name one with diversity_layer")
    return min(cands, key=lambda t: (abs(net_.depth[t] - goal), t))


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
    gradient weighted by `soft_disc`. facets: True when cls holds one objective K times, drawn as
    facets pushed apart by the diversity term of each octave (`diversity_layer`, sched.DIVERSITY).
    Use `run`."""

    def __init__(self, net, cls, octaves, heads, pre, seed, dtype=np.float32, init=None, mask=None,
                 background=(255.0, 255.0, 255.0), size=None, places=None, path=None, facets=False):
        self.net, self.be = net, net.backend
        self.octaves, self.heads = octaves, heads
        self.n, self.cls = len(cls), list(cls)
        self.facets = facets
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
        self.sizes = canvas.sizes(octaves, c, size)
        h0, w0 = self.sizes[0]
        if self.places is None:
            self.rngs = seeds(seed, self.cls)
        else:  # one canvas: one stream, keyed by the whole composition
            self.rngs = seeds(seed, [_text_key(" | ".join(
                f"{o.text() if isinstance(o, objectives.Objective) else o}@{x!r},{y!r}"
                for o, (x, y) in zip(self.cls, self.places)) + (f" along {self.path!r}" if self.path else ""))])
        self.spectrum = None  # the Fourier parameterization's (N, 3, 2, H, W//2+1), while an octave uses it
        if octaves[0].param == "fourier" and init is None:  # lucid's start: a faint random spectrum
            spectrum = fourier.noise(self.rngs, h0, w0, dt)
            start = fourier.to_pixels(spectrum, w0).astype(dt)
            self.spectrum = be.asarray(spectrum)
        else:
            start = np.stack([r.normal(200.0, 8.0, (3, h0, w0)) for r in self.rngs]).astype(dt)
        if init is not None:  # each image still draws its noise: its crops follow the same stream
            start[:] = canvas.fit_picture(init, (h0, w0)).transpose(2, 0, 1)
        self.pixels = be.asarray(start)
        self.mask_source, self.background = mask, be.asarray(np.asarray(background, dt))
        self.keep = None
        self.apply_mask()
        shape = (self.n, 3, c, c)
        self.before = be.empty(shape, dt) if self.places is not None else None
        self.disc = None if self.path is None else be.asarray(canvas.soft_disc(c, dt))
        self.window, self.model_in = be.empty(shape, dt), be.empty(shape, dt)
        self.offsets_host = np.zeros((self.n, 2), np.int64)
        self.offsets = be.asarray(self.offsets_host)
        self.obj = be.zeros((self.n,), dt)
        self.step_size = be.zeros((1,), dt)
        self.done, self.steps = 0, sched.total_steps(octaves)
        self.zero_run = None  # per norm: steps in a row its gradient has been identically zero

    def run(self, on_step=None):
        """Run every octave; returns the images (list of uint8 (H, W, 3)). on_step as in `render`."""
        try:
            with self.be.stream():
                for k, (o, head, size) in enumerate(zip(self.octaves, self.heads, self.sizes)):
                    if size != tuple(self.pixels.shape[2:]):
                        self.upscale(size)
                    step = self.octave_step(o, head)
                    replay = self.be.capture(step, keep=self.state())
                    for i in range(o.iter_n):
                        self.set_step(o.sigma(i), o.step_size(i), i / max(1, o.iter_n - 1), i + 1)
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
        """Raise RenderFailed when the step just run met a gradient that is NaN/Inf for some image,
        or one that has been identically zero for ZERO_STEPS steps in a row (the update left that
        image as it was)."""
        norm = self.be.to_numpy(self.norm)
        if self.zero_run is None or len(self.zero_run) != len(norm):
            self.zero_run = np.zeros(len(norm), np.int64)
        self.zero_run = np.where(norm == 0, self.zero_run + 1, 0)
        bad = np.flatnonzero(~np.isfinite(norm) | (self.zero_run >= ZERO_STEPS))
        if not bad.size:
            return
        n = int(bad[0])
        if len(norm) != self.n:  # the canvas path of placements: one norm, the canvas's
            n = 0
        what = (f"is identically zero at step {self.done + 2 - ZERO_STEPS} of {self.steps} and the "
                f"{ZERO_STEPS - 1} steps after it" if norm[n] == 0 else f"became NaN or Inf at step "
                f"{self.done + 1} of {self.steps}")
        why = ("the objective does not depend on the pixels (dead weights or an all-zero classifier?)"
               if norm[n] == 0 else "the model computes non-finite values")
        c = self.cls[n]
        target = f"objective '{c.text()}'" if isinstance(c, objectives.Objective) else f"class {c}"
        where = f"placement {n + 1} of {self.n}" if self.places is not None else f"image {n + 1} of {self.n}"
        raise RenderFailed(f"the gradient of {target} ({where}) {what} (octave {octave + 1}, head {head}): {why}",
                           self.done, self.steps)

    def octave_step(self, octave, head):
        """Allocate what this octave's steps share and return the step as a callable of no arguments;
        `set_step` gives it its values before each run. Deepdraw's octaves (pixels, normalised
        steps) update each crop where it lies (`step`); a Fourier or an Adam octave updates the whole
        canvas's parameters from the gradient pasted back onto it (`canvas_step`)."""
        be, dt = self.be, self.window.dtype
        self.octave = octave
        self.whole = self.places is None and tuple(self.pixels.shape[2:]) == (self.crop, self.crop)
        weight = sched.DIVERSITY if octave.diversity is None else octave.diversity
        diversity = None
        if self.facets and weight > 0:
            diversity = (self.net.head_name(octave.diversity_layer) if octave.diversity_layer
                         else diversity_layer(self.net, head, self.crop), weight)
        self.objective = ObjectivePass(self.net, self.cls, head, self.window.shape, dt, diversity)
        self.warp = None
        if octave.transforms is not None:  # per image (4, 3) pass parameters, uploaded every step
            self.warp_host = np.zeros((self.n, 4, 3))
            self.warp = (be.asarray(self.warp_host), be.empty(self.window.shape, dt), be.empty(self.window.shape, dt),
                         be.empty(self.window.shape, dt))  # params, work, warped input, its gradient
        canvas_path = octave.param == "fourier" or octave.update == "adam"
        if octave.param == "fourier":
            self.fp = be.fourier.prepare(self.pixels.shape, dt, fourier.scale(*self.pixels.shape[2:]), fourier.COLOUR,
                                         be.asarray)
        self.enter_param(octave)
        self.param = None
        blur_shape = self.pixels.shape if canvas_path else self.window.shape
        self.radius = be.blur.radius(max(octave.start_sigma, octave.end_sigma))
        self.taps = be.zeros((2 * self.radius + 1,), np.float32)
        self.blur_work = be.empty(be.blur.work_size(blur_shape, self.radius), dt)
        # each image's (or, on the canvas path, canvas's) mean |gradient| in the last step, for `check`
        self.norm = be.zeros((self.pixels.shape[0] if canvas_path else self.n,), np.float64)
        if not canvas_path:
            return self.step
        self.gcanvas = be.empty(self.pixels.shape, dt)
        self.gwin = None if self.whole else be.empty(self.window.shape, dt)
        self.zero_win = be.zeros(self.window.shape, dt) if self.places is not None else None
        self.no_colour = be.zeros((3,), dt)
        self.param = self.spectrum if octave.param == "fourier" else self.pixels
        if octave.param == "fourier":
            self.gparam = be.empty(self.spectrum.shape, dt)
        else:
            self.gparam = self.gcanvas
        if octave.update == "adam":  # fresh moments each octave (a new size, perhaps a new parameter)
            self.moments = (be.zeros(self.param.shape, dt), be.zeros(self.param.shape, dt))
        else:
            flat = (self.param.shape[0], 3, -1, self.param.shape[-1])  # a spectrum as (N, 3, 2H, Wf)
            self.flat = (self.param.reshape(flat), self.gparam.reshape(flat), be.asarray(np.arange(3)),
                         be.asarray(np.ones(3, dt)))
        return self.canvas_step

    def enter_param(self, octave):
        """Make the parameters an octave draws on current: a Fourier octave's spectrum is fitted to
        the pixels (a start picture, the image after an upscale or a pixel octave) unless it is
        already theirs; every other octave draws on the pixels."""
        if octave.param != "fourier":
            self.spectrum = None
            return
        n, _, h, w = self.pixels.shape
        if self.spectrum is None or tuple(self.spectrum.shape) != fourier.shape(n, h, w):
            self.spectrum = self.be.asarray(fourier.from_pixels(self.be.to_numpy(self.pixels)).astype(
                self.pixels.dtype))
            self.be.fourier.to_pixels(self.spectrum, self.fp, self.pixels)
            self.apply_mask()

    def state(self):
        """The arrays a step changes (what a capture's warm-up run must leave as they were)."""
        out = [self.pixels]
        if self.param is not None and self.param is not self.pixels:
            out.append(self.param)
        if self.octave.update == "adam":
            out.extend(self.moments)
        return tuple(out)

    def set_step(self, sigma, step_size, along=0.0, t=1):
        """Upload one step's values: fresh crop offsets per image, then each image's transform, the
        blur taps for `sigma` centred in this octave's taps buffer (zeros beyond their radius add
        nothing), the step size (an Adam octave's: its rate at step t, bias correction in). along:
        how far through its octave the step is (0..1): a path's crop centre is that far along it."""
        be = self.be
        if self.path is not None:
            self.places[0] = canvas.point_along(self.path, along)
        if not self.whole:
            size = tuple(self.pixels.shape[2:])
            if self.places is None:
                for n, rng in enumerate(self.rngs):
                    self.offsets_host[n] = crop_offset(rng, size, self.crop)
            else:
                scale = size[0] / self.sizes[0][0]
                for n, at in enumerate(self.places):
                    self.offsets_host[n] = canvas.place_offset(self.rngs[0], size, at, scale, self.crop)
            be.upload(self.offsets, self.offsets_host)
        if self.warp is not None:
            for n in range(self.n):
                self.warp_host[n] = tfs.draw(self.rngs[0 if self.places is not None else n], self.octave.transforms)
            be.upload(self.warp[0], self.warp_host)
        if self.octave.update == "adam":
            step_size = be.adam.rate_of(step_size, t)
        taps = np.zeros(2 * self.radius + 1, np.float32)
        kernel = be.blur.taps(sigma)
        r = (kernel.shape[0] - 1) // 2
        taps[self.radius - r:self.radius + r + 1] = kernel
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
        grad = self.gradient(window)
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

    def gradient(self, window):
        """The objective's gradient with respect to the model's input of `window`'s pixels (through
        this step's transform, when the octave has one); a buffer of this octave's, overwritten next
        step. Sets self.obj."""
        be = self.be
        be.pixels.to_model(window, self.order, self.scale, self.shift, self.model_in)
        if self.warp is None:
            return self.objective(self.model_in, self.obj)
        params, work, warped, gwarp = self.warp
        be.warp.forward(self.model_in, params, work, warped)
        be.warp.backward(self.objective(warped, self.obj), params, work, gwarp)
        return gwarp

    def canvas_step(self):
        """One step of a Fourier or Adam octave, all on the backend: the gradient of every crop (or
        placement) pasted onto a canvas-sized gradient, through the parameterization, one update of
        the whole canvas's parameters, and the pixels made from them again."""
        be, o = self.be, self.octave
        window = self.pixels if self.whole else self.window
        if self.places is not None:
            for k in range(self.n):
                be.crop.crop(self.pixels, self.offsets[k:k + 1], window[k:k + 1])
        elif not self.whole:
            be.crop.crop(self.pixels, self.offsets, window)
        gpix = self.gcanvas if self.whole else self.gwin
        be.pixels.to_pixel_grad(self.gradient(window), self.order, self.scale, gpix)
        if self.disc is not None:
            be.pixels.weigh(gpix, self.disc)
        if self.places is not None:  # overlapping placements' gradients sum
            self.gcanvas[...] = 0
            for k in range(self.n):
                be.crop.paste_add(gpix[k:k + 1], self.zero_win[k:k + 1], self.offsets[k:k + 1], self.gcanvas,
                                  -np.inf, np.inf)
        elif not self.whole:
            self.gcanvas[...] = 0
            be.crop.paste(gpix, self.offsets, self.gcanvas)
        if self.keep is not None:  # the kept-out pixels are the background whatever the parameters say
            be.pixels.mask(self.gcanvas, self.keep, self.no_colour)
        fourier_param = o.param == "fourier"
        if fourier_param:
            be.fourier.backward(self.gcanvas, self.pixels, self.fp, self.gparam)
        lo, hi = (-np.inf, np.inf) if fourier_param else (0.0, 255.0)
        if o.update == "adam":
            be.adam.step(self.param, self.gparam, *self.moments, self.step_size, lo, hi, self.norm)
        else:
            param, grad, order, ones = self.flat
            be.pixels.ascent(param, grad, order, ones, self.step_size, lo, hi, self.norm)
        if fourier_param:
            be.fourier.to_pixels(self.spectrum, self.fp, self.pixels)
        else:
            be.blur.forward(self.pixels, self.taps, self.blur_work)
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
