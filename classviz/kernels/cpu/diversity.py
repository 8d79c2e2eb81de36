"""lucid's diversity term, the seed it adds to the backward, on the CPU.

A batch of K facets of one objective is pushed apart by penalising how alike their styles are at
one layer: with F_i the layer's activations of facet i as a (C, P) matrix (P = H W), its Gram
matrix G_i = F_i F_i^T and g_i = G_i / |G_i| (Frobenius norm),

    D = (1/K) sum_i sum_{j != i} <g_i, g_j>       (a mean pairwise cosine similarity, times K - 1)

and the ascent maximises the objective minus weight * D. Its gradient with respect to F_i is

    -weight * (4/K) * A_i F_i,   A_i = (S_i - <g_i, S_i> g_i) / |G_i|,   S_i = sum_{j != i} g_j

(A_i is symmetric; the 4 is 2 for the pairs counted both ways times 2 from G = F F^T). Norms
below 1e-5 count as 1e-5 (lucid's epsilon on the squared norm, 1e-10), so an all-zero layer adds
nothing."""
import numpy as np

from . import blas

__all__ = ["seed"]

EPS = 1e-10  # on |G|^2


def seed(t, weight, grams, adjoint, dots, g):
    """g += the gradient of -weight * D with respect to t. t: (K, C, H, W), each facet's (C, H, W)
    contiguous (a channel slice of a concat is); weight: float >= 0; grams, adjoint: (K, C, C)
    scratch of t's dtype; dots: (K, K) float64 scratch (receives <G_i, G_j>); g: like t (each
    facet contiguous)."""
    k, c = t.shape[:2]
    # blas.matmul, not np.matmul: OpenBLAS's own threads would spin on after the call and slow the
    # backward's Numba kernels that follow (70 ms a step instead of 17 for 4 facets on inception_4c)
    for i in range(k):
        f = t[i].reshape(c, -1)
        blas.matmul(f, f.T, grams[i])
    flat = grams.reshape(k, -1).astype(np.float64)
    blas.matmul(flat, flat.T, dots)
    norm = np.sqrt(np.maximum(np.diag(dots), EPS))
    unit = flat / norm[:, None]
    total = unit.sum(0)
    for i in range(k):
        s = total - unit[i]
        along = (dots[i] / (norm[i] * norm)).sum() - dots[i, i] / norm[i] ** 2  # <g_i, S_i>
        adjoint[i] = (-weight * 4.0 / k * (s - along * unit[i]) / norm[i]).reshape(c, c)
        blas.matmul(adjoint[i], t[i].reshape(c, -1), g[i].reshape(c, -1), accumulate=True)
