"""The ascent's objective on the GPU (objective.cu); CPU twin kernels/cpu/objective.py."""
import numpy as np

from .source import i32, kernel, launch


def _nkp(a):
    return a.shape[0], a.shape[1], int(np.prod(a.shape[2:]))


def gather(y, classes, obj):
    """obj[n] = mean over positions of y[n, classes[n]]. y: (N, K, ...) contiguous; classes: (N,)
    int64; obj: (N,) of y's dtype."""
    n, k, p = _nkp(y)
    launch(kernel("objective", "objective_gather", y.dtype), n, (y, classes, obj, i32(n), i32(k), i32(p)))


def seed(g, classes):
    """g = 1/P at [n, classes[n], ...], 0 elsewhere. g: (N, K, ...) contiguous."""
    n, k, p = _nkp(g)
    launch(kernel("objective", "objective_seed", g.dtype), g.size, (g, classes, i32(n), i32(k), i32(p)))
