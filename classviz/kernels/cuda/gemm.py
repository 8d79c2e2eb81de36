"""Fully connected layer on the GPU: cuBLAS through CuPy, beta = 1 for an accumulating backward
(no temporary, so it can run inside a captured graph). CPU twin: kernels/cpu/gemm.py."""


def forward(x, w, b, y):
    """y = x @ w.T + b. x: (N, C); w: (K, C); b: (K,); y: (N, K) contiguous output."""
    from cupy import cublas
    cublas.gemm("N", "T", x, w, out=y)
    y += b


def backward(gy, w, gx, accumulate):
    """gx = gy @ w, or gx += that. gy: (N, K); w: (K, C); gx: (N, C) contiguous."""
    from cupy import cublas
    cublas.gemm("N", "N", gy, w, out=gx, beta=1.0 if accumulate else 0.0)
