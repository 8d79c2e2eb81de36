"""Transformation robustness: before each step, the window the network sees is turned, zoomed and
shifted at random (lucid's `transforms`), so that what the ascent draws must survive that.

A schedule's octave asks for it with a `transforms` table: jitter (pixels: a shift of up to that
many whole pixels along each axis), scale (a list of factors, one drawn per step), rotate (degrees:
an angle drawn uniformly from -rotate to rotate). Each image draws its own from its own seeded
stream, after its crop. The kernels (kernels/*/warp.py) apply it as four one-dimensional passes;
`draw` turns a draw into their parameters. Knows nothing of devices."""
import math
from typing import NamedTuple

import numpy as np

from .errors import ArgumentError

MAX_JITTER = 64  # pixels: a crop is 224
MAX_ROTATE = 180.0
SCALES = (0.25, 4.0)  # a factor outside this is no longer the same picture


class Transforms(NamedTuple):
    """jitter: int pixels >= 0; scale: tuple of factors > 0; rotate: degrees >= 0."""
    jitter: int = 0
    scale: tuple = (1.0,)
    rotate: float = 0.0

    def as_dict(self):
        """The table a schedule file holds for these transforms (JSON-ready)."""
        return {"jitter": self.jitter, "scale": list(self.scale), "rotate": self.rotate}


# lucid's standard transforms: jitter 8 and 4 (12 in all), scales 0.9..1.1, rotations up to 10 degrees
LUCID = Transforms(jitter=12, scale=tuple(round(1 + (i - 5) / 50, 2) for i in range(11)), rotate=10.0)


def draw(rng, tf):
    """One draw of `tf` from Generator `rng` (an angle, a scale, a shift, in that order), as the warp
    kernels' parameters: (4, 3) float64, per pass (slope, shear, shift). The map from an output
    pixel p to where it reads: R(angle) (c + (p - c) / s + shift), about the window's centre c;
    the rotation is Paeth's three shears X(a) Y(b) X(a), a = -tan(angle / 2), b = sin(angle), and
    the scale and the shift ride on the last row and column passes."""
    angle = math.radians(rng.uniform(-tf.rotate, tf.rotate)) if tf.rotate else 0.0
    s = float(tf.scale[rng.integers(len(tf.scale))]) if len(tf.scale) > 1 else float(tf.scale[0])
    dy, dx = (int(v) for v in rng.integers(-tf.jitter, tf.jitter + 1, 2)) if tf.jitter else (0, 0)
    a, b = -math.tan(angle / 2), math.sin(angle)
    return np.array([[1.0, a, 0.0], [1.0, b, 0.0], [1.0 / s, a, dx], [1.0 / s, 0.0, dy]])


def check(value, where):
    """Transforms from a schedule's table ({'jitter': .., 'scale': [..], 'rotate': ..}, any subset;
    a Transforms passes), or None for None. Raises ArgumentError naming `where` and the field."""
    if value is None or isinstance(value, Transforms):
        return value
    if not isinstance(value, dict):
        raise ArgumentError(f"{where}: 'transforms' must be a table of jitter, scale, rotate, got {value!r}")
    unknown = sorted(set(value) - set(Transforms._fields))
    if unknown:
        raise ArgumentError(f"{where}: transforms: unknown field {unknown[0]!r} (fields: jitter, scale, rotate)")
    j = value.get("jitter", 0)
    if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j <= MAX_JITTER:
        raise ArgumentError(f"{where}: transforms: 'jitter' must be a whole number of pixels from 0 to "
                            f"{MAX_JITTER}, got {j!r}")
    sc = value.get("scale", [1.0])
    if isinstance(sc, (int, float)) and not isinstance(sc, bool):
        sc = [sc]
    if (not isinstance(sc, (list, tuple)) or not sc
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and SCALES[0] <= v <= SCALES[1]
                       for v in sc)):
        raise ArgumentError(f"{where}: transforms: 'scale' must be a list of factors from {SCALES[0]:g} to "
                            f"{SCALES[1]:g}, got {sc!r}")
    r = value.get("rotate", 0.0)
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= MAX_ROTATE:
        raise ArgumentError(f"{where}: transforms: 'rotate' must be degrees from 0 to {MAX_ROTATE:g}, got {r!r}")
    return Transforms(int(j), tuple(float(v) for v in sc), float(r))
