"""The ascent's objective on the GPU (objective.cu); CPU twin kernels/cpu/objective.py."""
import numpy as np

from .source import THREADS, batch_stride, i32, kernel, launch, max_blocks


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


def weighted(t, s, l2w, obj, accumulate):
    """obj[n] (+)= sum(s[n] * t[n]) + l2w[n] * mean(t[n]^2), summed in float64 in a fixed order.
    t: (N, ...) contiguous per image; s: t's shape, contiguous; l2w, obj: (N,); all of t's dtype;
    accumulate: bool."""
    n, inner = t.shape[0], int(np.prod(t.shape[1:]))
    threads = min(THREADS, max(32, 1 << (inner - 1).bit_length()))
    kernel("objective", "objective_weighted", t.dtype)((max(1, min(n, max_blocks())),), (threads,), (
        t, s, l2w, obj, np.int64(n), np.int64(inner), batch_stride(t), i32(accumulate)))


def weighted_seed(t, s, l2w, g, accumulate):
    """g (+)= s + 2 l2w[n] t / size (size: t's elements per image), the gradient of `weighted`.
    t, g: (N, ...) contiguous per image; s: t's shape, contiguous; l2w: (N,); accumulate: bool."""
    n, inner = t.shape[0], int(np.prod(t.shape[1:]))
    launch(kernel("objective", "objective_weighted_seed", t.dtype), n * inner,
           (t, s, l2w, g, np.int64(n), np.int64(inner), batch_stride(t), batch_stride(g), i32(accumulate)))
