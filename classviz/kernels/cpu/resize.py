"""Cubic resize on the CPU, for the octaves that upscale the whole image: kernels/shared.py's
interpolation matrix (Keys' cubic, a = -0.5, Pillow's BICUBIC; what it differs from, measured:
benchmarks/README.md) along each axis. Separable, so it is two small matrix products per plane;
it runs once per octave, not per step."""
import numpy as np

from ..shared import resize_matrix as matrix
from . import blas

__all__ = ["forward"]


def forward(x, out):
    """out = x resized to out's spatial size. x: (N, C, H, W) float; out: (N, C, H2, W2), same dtype.
    Values may overshoot the input's range slightly (cubic); the caller clips."""
    my = matrix(x.shape[2], out.shape[2], x.dtype)
    mx = matrix(x.shape[3], out.shape[3], x.dtype)
    with blas.one_thread():  # the same bits in a process of one BLAS thread (a Ray worker) or of many
        np.matmul(my, x @ mx.T, out=out)
