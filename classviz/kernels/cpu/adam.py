"""The Adam update of lucid's schedule, per image, on the CPU.

For each image n (a slice param[n] of whatever shape: pixels, a spectrum), with g its gradient:
    m = B1 m + (1 - B1) g;  v = B2 v + (1 - B2) g^2;  param += rate * m / (sqrt(v) + EPS),
then clip to [lo, hi]. `rate` carries the step's bias correction, lr * sqrt(1 - B2^t) / (1 - B1^t)
(the host computes it per step: `rate_of(lr, t)`), so a captured step reads it from memory. An image
whose mean |g| is 0, NaN or Inf is left as it was (moments included); norm[n] receives the mean
|g| for the host's check, as pixels.ascent does."""
import math

from numba import njit

from ..shared import ADAM_B1 as B1
from ..shared import ADAM_B2 as B2
from ..shared import ADAM_EPS as EPS
from ..shared import adam_rate as rate_of

__all__ = ["step", "rate_of"]


def step(param, grad, m, v, rate, lo, hi, norm):
    """One ascent step of Adam on every image, in place. param, grad, m, v: (N, ...) float32/float64
    C-contiguous, one shape and dtype (m, v: the moments, zero at the start); rate: (1,) array of
    param's dtype; lo, hi: float clip range; norm: (N,) float64, receives each image's mean |g|."""
    n = param.shape[0]
    _step(param.reshape(n, -1), grad.reshape(n, -1), m.reshape(n, -1), v.reshape(n, -1), rate[0],
          param.dtype.type(lo), param.dtype.type(hi), norm)


# fastmath without 'nnan' and 'ninf': the NaN/Inf test must survive optimisation
@njit(cache=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _step(p, g, m, v, rate, lo, hi, norm):
    N, K = p.shape
    for n in range(N):
        total = 0.0
        for i in range(K):
            total += abs(g[n, i])
        mean = total / K
        norm[n] = mean
        if mean == 0.0 or not math.isfinite(mean):
            continue
        for i in range(K):
            gi = g[n, i]
            m[n, i] = B1 * m[n, i] + (1.0 - B1) * gi
            v[n, i] = B2 * v[n, i] + (1.0 - B2) * gi * gi
            p[n, i] = min(max(p[n, i] + rate * m[n, i] / (math.sqrt(v[n, i]) + EPS), lo), hi)
