"""lucid's diversity term between the facets of a batch, the seed it adds to the backward, on the
GPU (diversity.cu, and gemm.cu for the Gram matrices and the product with the activations); CPU
twin kernels/cpu/diversity.py, same signatures (the formulas are there)."""
import numpy as np

from . import device, gemm
from .source import THREADS, kernel, launch

__all__ = ["seed"]


def seed(t, weight, grams, adjoint, dots, g):
    """g += the gradient of -weight * D with respect to t. t: (K, C, H, W), each facet's block
    contiguous; weight: float; grams, adjoint: (K, C, C) contiguous, t's dtype; dots: (K, K)
    float64; g: like t."""
    k, c = t.shape[:2]
    dev = device.get()
    key = ("diversity zero bias", c, t.dtype.str)
    if key not in dev.owned:  # allocated on the warm-up step, before any graph capture
        dev.owned[key] = dev.xp.asarray(np.zeros(c, t.dtype))
    zero = dev.owned[key]
    for i in range(k):
        f = t[i].reshape(c, -1)
        gemm.forward(f, f, zero, grams[i])
    m = np.int64(c * c)
    kernel("diversity", "gram_dots", t.dtype)((k, k), (THREADS,), (grams, dots, m))
    launch(kernel("diversity", "gram_adjoint", t.dtype), k * c * c,
           (grams, dots, adjoint, np.int32(k), m, float(-weight * 4.0 / k)))
    for i in range(k):
        gemm.backward(adjoint[i], t[i].reshape(c, -1), g[i].reshape(c, -1), True)
