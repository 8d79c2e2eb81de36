"""Where on the canvas: its size at every octave, where a placement's crops fall, paths and the
soft disc that weighs a path's gradient, masks, the background colour and start pictures. The
checks of these arguments live here too; `ascent` draws with them. Knows nothing of devices."""
import math

import numpy as np

from . import schedule as sched
from .errors import ArgumentError

CROP = 224  # the crop side of GoogLeNet, and of any model that does not declare a square input


def crop_size(net):
    """Side (int) of the crops a render of `net` takes: the model's declared input H = W when both
    are fixed and square (224 for GoogLeNet and most exports, 299 for Inception-v3), else CROP."""
    h, w = net.model.input_shape[2:4]
    return h if isinstance(h, int) and h == w and 32 <= h <= 1024 else CROP


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


def sizes(octaves, crop=CROP, size=None):
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


def fit_picture(picture, size):
    """float64 (H, W, 3) pixels of `picture` (uint8 (h, w, 3)) for a canvas of `size` (H, W): its
    centred part of the canvas's aspect, resized (Lanczos)."""
    from PIL import Image
    h, w = picture.shape[:2]
    H, W = size
    ch, cw = (h, max(1, round(h * W / H))) if w * H >= h * W else (max(1, round(w * H / W)), w)
    top, left = (h - ch) // 2, (w - cw) // 2
    part = Image.fromarray(np.ascontiguousarray(picture[top:top + ch, left:left + cw]))
    return np.asarray(part.resize((W, H), Image.LANCZOS), np.float64)
