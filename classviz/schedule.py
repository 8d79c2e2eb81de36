"""Schedules: the octaves of the method, as data.

An octave maximises one head's score for `iter_n` steps, after upscaling the whole image by `scale`
when given, while the blur sigma and the step size move linearly from their start to their end
value: v = start + (end - start) * i / iter_n for step i = 0 .. iter_n-1.

Beyond deepdraw's pixels and normalised steps, an octave may draw lucid's way: `param = "fourier"`
(the image is a decorrelated-colour 1/f spectrum, classviz.fourier; no blur), `update = "adam"`
(the step sizes are Adam's learning rate), and `transforms = {jitter, scale, rotate}` (each step's
window turned, zoomed and shifted at random, classviz.transforms).

Built-in schedules are the two published ones (`deepdraw`, `coherent`), `quick` for previews and
`lucid` (lucid's recipe: 512 Adam steps on the Fourier parameterization with its transforms).
Others load from a JSON or TOML file: {"octaves": [{"head": "main", "iter_n": 190, ...}, ...]}
(JSON may also be the bare list; in TOML, one [[octaves]] table per octave)."""
import json
import math
import os
import tomllib
from typing import NamedTuple

from . import transforms as tfs
from .errors import ArgumentError

PARAMS = ("pixels", "fourier")
UPDATES = ("normalized", "adam")


class Octave(NamedTuple):
    """One octave. head: a role ('main', 'aux2', 'aux1') or a tensor name; iter_n: steps (int >= 1);
    start_sigma, end_sigma: blur sigma in pixels (>= 0; 0 = no blur); start_step_size,
    end_step_size: step in pixel values per unit mean |gradient| (> 0); scale: upscale factor of
    the whole image at the octave's start (>= 1), or None; param: what the ascent changes,
    'pixels' or 'fourier' (a spectrum; its octaves take sigma 0); update: 'normalized' (step_size /
    mean |g| * g, deepdraw's) or 'adam' (step_size is Adam's learning rate); transforms: a
    transforms.Transforms applied to each step's window, or None; diversity: the weight of the
    diversity term when a render draws facets (None: DIVERSITY; 0: none); diversity_layer: the
    tensor whose Gram matrices it compares (None: one about 3/5 of the way to the head)."""
    head: str
    iter_n: int
    start_sigma: float
    end_sigma: float
    start_step_size: float
    end_step_size: float
    scale: float = None
    param: str = "pixels"
    update: str = "normalized"
    transforms: tfs.Transforms = None
    diversity: float = None
    diversity_layer: str = None

    def as_dict(self):
        """The octave as a schedule file's table (JSON-ready). Fields at their defaults beyond the
        first seven are left out, so a deepdraw-style octave reads as it always has (a gallery's
        recipe check compares this text)."""
        d = {f: getattr(self, f) for f in _FIELDS[:7]}
        if self.param != "pixels":
            d["param"] = self.param
        if self.update != "normalized":
            d["update"] = self.update
        if self.transforms is not None:
            d["transforms"] = self.transforms.as_dict()
        for f in ("diversity", "diversity_layer"):
            if getattr(self, f) is not None:
                d[f] = getattr(self, f)
        return d

    def sigma(self, i):
        """Blur sigma at step i of this octave (pixels)."""
        return self.start_sigma + (self.end_sigma - self.start_sigma) * i / self.iter_n

    def step_size(self, i):
        """Step size at step i of this octave."""
        return self.start_step_size + (self.end_step_size - self.start_step_size) * i / self.iter_n


SCHEDULES = {
    # Published with the method: 500 steps, 224 -> 268 -> 322 pixels, main -> aux2 -> aux1.
    "deepdraw": (
        Octave("main", 190, 2.5, 0.78, 11, 11),
        Octave("main", 150, 0.936, 0.78, 6, 6, scale=1.2),
        Octave("aux2", 150, 0.936, 0.44, 6, 3, scale=1.2),
        Octave("aux1", 10, 0.44, 0.304, 3, 3),
    ),
    # Published alternative: more coherent, less detail (main head only).
    "coherent": (
        Octave("main", 190, 2.5, 0.78, 11, 11),
        Octave("main", 450, 0.936, 0.40, 6, 3, scale=1.2),
    ),
    # Previews and tests: the deepdraw shape in 60 steps.
    "quick": (
        Octave("main", 30, 2.5, 0.78, 11, 11),
        Octave("main", 15, 0.936, 0.78, 6, 6, scale=1.2),
        Octave("aux2", 10, 0.936, 0.44, 6, 3, scale=1.2),
        Octave("aux1", 5, 0.44, 0.304, 3, 3),
    ),
    # lucid's recipe: Adam (learning rate 0.05) on the decorrelated Fourier parameterization, 512
    # steps, with lucid's standard transforms; no blur, no upscale, the main head only.
    "lucid": (
        Octave("main", 512, 0.0, 0.0, 0.05, 0.05, param="fourier", update="adam", transforms=tfs.LUCID),
    ),
}

_FIELDS = Octave._fields
_NUMBERS = _FIELDS[2:7]
_REQUIRED = ("head", "iter_n", "start_sigma", "end_sigma", "start_step_size", "end_step_size")
# What the method can use. The blur runs on 224-pixel crops: sigma 50 is a radius of 200 pixels
# (and costs a Ctrl-C's worth of time per step beyond that). A step moves the mean pixel by
# step_size values out of 0..255. An image side beyond 4096 pixels needs gigabytes per batch.
MAX_ITER_N = 100_000
MAX_SIGMA = 50.0
MAX_STEP_SIZE = 255.0
MAX_SCALE = 4.0
MAX_SIZE = 4096
DIVERSITY = 100.0  # lucid's weight of the diversity term, where a schedule gives none
MAX_DIVERSITY = 1e6


def get(schedule):
    """The octaves for `schedule`: a built-in name, a path to a .json/.toml file, or a sequence
    of Octaves or of dicts with Octave's fields. Returns a tuple of Octave.
    Raises ArgumentError naming the file, the octave and the field for anything invalid."""
    if isinstance(schedule, str) and schedule in SCHEDULES:
        return SCHEDULES[schedule]
    if isinstance(schedule, (str, os.PathLike)):
        return _load(os.fspath(schedule))
    if isinstance(schedule, (list, tuple)):
        return validate(schedule, "schedule")
    raise ArgumentError(f"schedule must be one of {', '.join(SCHEDULES)}, a file or a list of octaves, "
                        f"got {type(schedule).__name__}")


def to_json(octaves):
    """The octaves as a schedule file's JSON text (what a PNG's metadata records)."""
    return json.dumps([o.as_dict() for o in octaves])


def total_steps(octaves):
    """Steps in a schedule (int)."""
    return sum(o.iter_n for o in octaves)


def final_size(octaves, size=224):
    """Side of the image after every octave's upscale, starting from `size` pixels (int)."""
    for s in sizes(octaves, size):
        size = s
    return size


def sizes(octaves, size=224):
    """Image side during each octave (list of int). Sizes follow the product of the scales so far,
    rounded down (224 -> 268 -> 322 for deepdraw), so they do not drift with per-octave rounding."""
    out, factor = [], 1.0
    for o in octaves:
        factor *= o.scale or 1.0
        out.append(int(math.floor(size * factor + 1e-6)))
    return out


def validate(items, where):
    """Octaves from a sequence of Octave or dicts; `where` names the source in error messages."""
    if not items:
        raise ArgumentError(f"{where}: no octaves")
    octaves = tuple(_octave(o, f"{where}: octave {k + 1}") for k, o in enumerate(items))
    for k, size in enumerate(sizes(octaves)):
        if size > MAX_SIZE:
            raise ArgumentError(f"{where}: octave {k + 1}: the scales so far make the image {size} pixels wide, "
                                f"more than the {MAX_SIZE} allowed")
    return octaves


def _octave(o, where):
    if isinstance(o, Octave):
        o = o._asdict()
    if not isinstance(o, dict):
        raise ArgumentError(f"{where}: an octave is a table of fields, got {type(o).__name__}")
    unknown = sorted(set(o) - set(_FIELDS))
    if unknown:
        raise ArgumentError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(_FIELDS)})")
    missing = [f for f in _REQUIRED if f not in o]
    if missing:
        raise ArgumentError(f"{where}: missing field {missing[0]!r}")
    if not isinstance(o["head"], str) or not o["head"]:
        raise ArgumentError(f"{where}: 'head' must be a role (main, aux2, aux1) or a tensor name")
    n = o["iter_n"]
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ITER_N:
        raise ArgumentError(f"{where}: 'iter_n' must be a whole number from 1 to {MAX_ITER_N}, got {n!r}")
    vals = {}
    for f in _NUMBERS:
        v = o.get(f)
        if v is None and f == "scale":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ArgumentError(f"{where}: {f!r} must be a number, got {v!r}")
        vals[f] = float(v)
    for f in ("start_sigma", "end_sigma"):
        if not 0 <= vals[f] <= MAX_SIGMA:
            raise ArgumentError(f"{where}: {f!r} must be from 0 to {MAX_SIGMA:g} pixels (the blur works on "
                                f"224-pixel crops), got {vals[f]:g}")
    for f in ("start_step_size", "end_step_size"):
        if not 0 < vals[f] <= MAX_STEP_SIZE:
            raise ArgumentError(f"{where}: {f!r} must be above 0 and at most {MAX_STEP_SIZE:g} (pixel values "
                                f"span 0..255), got {vals[f]:g}")
    if "scale" in vals and not 1 <= vals["scale"] <= MAX_SCALE:
        raise ArgumentError(f"{where}: 'scale' must be from 1 to {MAX_SCALE:g} (crops are 224 pixels), "
                            f"got {vals['scale']:g}")
    for f, choices in (("param", PARAMS), ("update", UPDATES)):
        if o.get(f, choices[0]) not in choices:
            raise ArgumentError(f"{where}: {f!r} must be one of {', '.join(choices)}, got {o[f]!r}")
    param, update = o.get("param", "pixels"), o.get("update", "normalized")
    if param == "fourier" and (vals["start_sigma"] or vals["end_sigma"]):
        raise ArgumentError(f"{where}: param 'fourier' is kept smooth by its spectrum, not by a blur: give it "
                            "start_sigma and end_sigma 0")
    div, layer = o.get("diversity"), o.get("diversity_layer")
    if div is not None and (isinstance(div, bool) or not isinstance(div, (int, float)) or not math.isfinite(div)
                            or not 0 <= div <= MAX_DIVERSITY):
        raise ArgumentError(f"{where}: 'diversity' must be a weight from 0 to {MAX_DIVERSITY:g}, got {div!r}")
    if layer is not None and (not isinstance(layer, str) or not layer):
        raise ArgumentError(f"{where}: 'diversity_layer' must be a tensor name, got {layer!r}")
    return Octave(o["head"], n, **vals, param=param, update=update, transforms=tfs.check(o.get("transforms"), where),
                  diversity=None if div is None else float(div), diversity_layer=layer)


def _load(path):
    if not os.path.isfile(path):
        raise ArgumentError(f"schedule {path!r} is neither a built-in ({', '.join(SCHEDULES)}) nor a file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if path.lower().endswith(".toml"):
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, TOMLDecodeError are ValueErrors
        raise ArgumentError(f"schedule file {path!r} cannot be read: {' '.join(str(e).split())}") from None
    if isinstance(data, dict):
        extra = sorted(set(data) - {"octaves"})
        if extra or "octaves" not in data:
            raise ArgumentError(f"schedule file {path!r}: expected one key 'octaves' holding a list, "
                                f"got {', '.join(map(repr, data)) or 'nothing'}")
        data = data["octaves"]
    if not isinstance(data, list):
        raise ArgumentError(f"schedule file {path!r}: 'octaves' must be a list of tables")
    return validate(data, f"schedule file {path!r}")
