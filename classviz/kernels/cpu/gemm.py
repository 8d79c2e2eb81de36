"""Fully connected layer on the CPU: y = x @ W.T + b, and its backward to the input."""
from . import blas


def forward(x, w, b, y):
    """x: (N, C); w: (K, C); b: (K,); y: (N, K) output. Same float dtype throughout."""
    blas.matmul(x, w.T, y)
    y += b


def backward(gy, w, gx, accumulate):
    """gx = gy @ W, or gx += that. gy: (N, K); w: (K, C); gx: (N, C)."""
    blas.matmul(gy, w, gx, accumulate)
