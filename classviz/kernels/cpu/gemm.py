"""Fully connected layer on the CPU: y = x @ W.T + b, and its backward to the input."""
import numpy as np


def forward(x, w, b, y):
    """x: (N, C); w: (K, C); b: (K,); y: (N, K) output. Same float dtype throughout."""
    np.matmul(x, w.T, out=y)
    y += b


def backward(gy, w, gx, accumulate):
    """gx = gy @ W, or gx += that. gy: (N, K); w: (K, C); gx: (N, C)."""
    if accumulate:
        gx += gy @ w
    else:
        np.matmul(gy, w, out=gx)
