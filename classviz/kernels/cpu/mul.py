"""Product of two activations on the CPU: y = a * b, where b has a's shape (SiLU's x * sigmoid(x))
or one value per image and channel, (N, C, 1, 1) against a's (N, C, H, W) (squeeze-and-excite's
channel gates). The backward needs both inputs: ga = gy * b, gb = gy * a (summed over each
plane when b is per channel). One view per plane, as in add.py."""
from numba import njit, prange

from .relu import _4d


def forward(a, b, y):
    """y = a * b. a, y: (N, C, H, W) or (N, K), same shape, any strides; b: a's shape, or
    (N, C, 1, 1) broadcast over H and W."""
    _scale(_4d(a), _4d(b), _4d(y), False)


def backward(gy, a, b, ga, gb, acc_a, acc_b):
    """ga (+)= gy * b and gb (+)= gy * a (reduced to b's shape), in that order (a and b may be the
    same tensor, then ga is gb and acc_b is True). gy: a's shape; a, b as for `forward`; ga, gb:
    the inputs' gradients, or None where one is not needed; acc_a, acc_b: bools, add instead of
    write."""
    if ga is not None:  # the forward's product again, of gy by b
        _scale(_4d(gy), _4d(b), _4d(ga), acc_a)
    if gb is not None:
        _grad_b(_4d(gy), _4d(a), _4d(gb), acc_b)


@njit(cache=True, inline="always")
def _per_channel(b, a):
    return b.shape[2] * b.shape[3] == 1 and a.shape[2] * a.shape[3] > 1


@njit(cache=True, parallel=True)
def _scale(a, b, out, accumulate):
    # out (+)= a * b, b of a's shape or per plane
    N, C, H, W = a.shape
    per_channel = _per_channel(b, a)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        ap, bp, o = a[n, c], b[n, c], out[n, c]
        s = bp[0, 0]
        for i in range(H):
            for j in range(W):
                v = ap[i, j] * (s if per_channel else bp[i, j])
                o[i, j] = o[i, j] + v if accumulate else v


@njit(cache=True, parallel=True)
def _grad_b(gy, a, gb, accumulate):
    N, C, H, W = gy.shape
    per_channel = _per_channel(gb, gy)
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        g, ap, o = gy[n, c], a[n, c], gb[n, c]
        if per_channel:
            s = 0.0
            for i in range(H):
                for j in range(W):
                    s += g[i, j] * ap[i, j]
            o[0, 0] = o[0, 0] + s if accumulate else s
        else:
            for i in range(H):
                for j in range(W):
                    v = g[i, j] * ap[i, j]
                    o[i, j] = o[i, j] + v if accumulate else v
