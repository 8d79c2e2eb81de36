"""Fully connected layer on the GPU (gemm.cu), forward and backward to the input; CPU twin
kernels/cpu/gemm.py, same signatures. A kernel of our own rather than cuBLAS: CuPy's cuBLAS
wrapper raises while a stream is capturing, so every step ending in a classifier ran uncaptured;
these kernels need no handle, no workspace and no library call, and sum in a fixed order."""
import numpy as np

from .source import i32, kernel, launch


def forward(x, w, b, y):
    """y = x @ w.T + b. x: (N, C); w: (K, C); b: (K,); y: (N, K); contiguous CuPy arrays of one dtype."""
    n, c = x.shape
    k = w.shape[0]
    launch(kernel("gemm", "fc_forward", x.dtype), n * k, (x, w, b, y, np.int64(n), np.int64(k), np.int64(c)))


def backward(gy, w, gx, accumulate):
    """gx = gy @ w, or gx += that. gy: (N, K); w: (K, C); gx: (N, C); contiguous, one dtype."""
    n, k = gy.shape
    c = w.shape[1]
    launch(kernel("gemm", "fc_backward", gy.dtype), n * c,
           (gy, w, gx, np.int64(n), np.int64(k), np.int64(c), i32(accumulate)))
