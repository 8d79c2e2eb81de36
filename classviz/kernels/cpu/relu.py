"""ReLU on the CPU. The backward needs only the output: y > 0 is the `relu_mask`, so the plan
keeps y instead of a separate mask."""
from numba import njit, prange


def _4d(a):
    return a if a.ndim == 4 else a.reshape(a.shape + (1,) * (4 - a.ndim))


def forward(x, y):
    """y = max(x, 0). x, y: (N, C, H, W) or (N, K), same shape and dtype, any strides."""
    _forward(_4d(x), _4d(y))


def backward(y, gy, gx, accumulate):
    """gx = gy * (y > 0), or gx += that when accumulate. y, gy, gx: same shape, any strides; gx may
    be gy (in place)."""
    _backward(_4d(y), _4d(gy), _4d(gx), accumulate)


@njit(cache=True, parallel=True)
def _forward(x, y):
    N, C = x.shape[0], x.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                v = x[n, c, i, j]
                y[n, c, i, j] = v if v > 0 else 0


@njit(cache=True, parallel=True)
def _backward(y, gy, gx, accumulate):
    N, C = y.shape[0], y.shape[1]
    for nc in prange(N * C):
        n, c = nc // C, nc % C
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                g = gy[n, c, i, j] if y[n, c, i, j] > 0 else 0
                gx[n, c, i, j] = gx[n, c, i, j] + g if accumulate else g
