"""The Adam update per image on the GPU (adam.cu); CPU twin kernels/cpu/adam.py, same signatures."""
import numpy as np

from ..shared import ADAM_B1, ADAM_B2, ADAM_EPS
from ..shared import adam_rate as rate_of
from . import device
from .source import PARTS, THREADS, kernel

__all__ = ["step", "rate_of"]


def step(param, grad, m, v, rate, lo, hi, norm):
    """One ascent step of Adam on every image, in place. param, grad, m, v: (N, ...) contiguous CuPy
    arrays of one shape and float dtype; rate: (1,) device array of param's dtype; lo, hi: float;
    norm: (N,) float64 device array, receives each image's mean |g|."""
    n = param.shape[0]
    k = np.int64(param.size // n)
    dev = device.get()
    key = ("adam partials", n, param.dtype.str)
    if key not in dev.owned:  # allocated on the warm-up step, before any graph capture
        dev.owned[key] = (dev.xp.empty(n * PARTS, np.float64), dev.xp.asarray(np.ones(1, param.dtype)))
    parts, one = dev.owned[key]
    kernel("pixels", "abs_partials", param.dtype)((PARTS, n), (THREADS,), (grad, one, parts, np.int32(1), k))
    t = param.dtype.type
    blocks = max(1, min(-(-int(k) // THREADS), 256))
    kernel("adam", "adam_update", param.dtype)(
        (blocks, n), (THREADS,), (param, grad, m, v, parts, rate, norm, k, ADAM_B1, ADAM_B2, ADAM_EPS, t(lo), t(hi)))
