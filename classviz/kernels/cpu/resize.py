"""Cubic resize on the CPU, for the octaves that upscale the whole image.

Keys' cubic convolution (a = -0.5, the 'bicubic' of PIL, OpenCV and PyTorch) with pixel centres
aligned (src = (dst + 0.5) * n_in / n_out - 0.5) and edge pixels repeated. Separable, so it is two
small matrix products per plane; it runs once per octave, not per step."""
import numpy as np


def matrix(n_in, n_out, dtype=np.float32):
    """Interpolation weights (n_out, n_in) of `dtype`: row i holds the taps of output pixel i; rows
    sum to 1."""
    m = np.zeros((n_out, n_in), np.float64)
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    base = np.floor(src).astype(np.int64)
    t = src - base
    for k in range(-1, 3):
        idx = np.clip(base + k, 0, n_in - 1)
        np.add.at(m, (np.arange(n_out), idx), _keys(t - k))
    return m.astype(dtype)


def forward(x, out):
    """out = x resized to out's spatial size. x: (N, C, H, W) float; out: (N, C, H2, W2), same dtype.
    Values may overshoot the input's range slightly (cubic); the caller clips."""
    my = matrix(x.shape[2], out.shape[2], x.dtype)
    mx = matrix(x.shape[3], out.shape[3], x.dtype)
    np.matmul(my, x @ mx.T, out=out)


def _keys(d, a=-0.5):
    d = np.abs(d)
    return np.where(d <= 1, ((a + 2) * d - (a + 3)) * d * d + 1,
                    np.where(d < 2, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a, 0.0))
