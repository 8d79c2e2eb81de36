"""The objective of the ascent on the CPU: one class's score per image, and the seed of the
backward pass that differentiates it.

A head is (N, K) (a classifier) or (N, K, H, W) (any tensor); image n's objective is the mean of
head[n, classes[n]] over its P = H*W positions (P = 1 for a classifier)."""
import numpy as np


def gather(y, classes, obj):
    """obj[n] = mean over positions of y[n, classes[n]]. y: (N, K, ...); classes: (N,) int64;
    obj: (N,) of y's dtype, written."""
    rows = np.arange(y.shape[0])
    obj[:] = y[rows, classes].reshape(y.shape[0], -1).mean(axis=1)


def seed(g, classes):
    """g = d sum(obj) / d y: 1/P at [n, classes[n], ...], 0 elsewhere. g: (N, K, ...), written;
    classes: (N,) int64."""
    g[...] = 0
    g[np.arange(g.shape[0]), classes] = 1.0 / (int(np.prod(g.shape[2:])) if g.ndim > 2 else 1)


def weighted(t, s, l2w, obj, accumulate):
    """obj[n] (+)= sum(s[n] * t[n]) + l2w[n] * mean(t[n]^2) (classviz/objective.py's seeds).
    t: (N, ...); s: t's shape; l2w, obj: (N,); all of t's dtype; accumulate: bool."""
    n = t.shape[0]
    tf, sf = t.reshape(n, -1), s.reshape(n, -1)
    v = np.einsum("ij,ij->i", sf, tf) + l2w * np.einsum("ij,ij->i", tf, tf) / tf.shape[1]
    if accumulate:
        obj += v
    else:
        obj[:] = v


def weighted_seed(t, s, l2w, g, accumulate):
    """g (+)= s + 2 l2w[n] t / size (size: t's elements per image): the gradient of `weighted`.
    t, g: (N, ...); s: t's shape; l2w: (N,); accumulate: bool."""
    scale = (2.0 / (t.size // t.shape[0]) * l2w).astype(t.dtype).reshape((t.shape[0],) + (1,) * (t.ndim - 1))
    v = s + scale * t
    if accumulate:
        g += v
    else:
        g[...] = v
