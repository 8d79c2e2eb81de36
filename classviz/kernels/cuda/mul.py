"""Product of two activations on the GPU (mul.cu); the CPU twin is kernels/cpu/mul.py."""
import numpy as np

from .source import THREADS, batch_stride, i32, kernel, launch, max_blocks


def _geometry(a, b):
    # (inner, plane, per_plane): b is per plane when it is (N, C, 1, 1) against a larger a
    inner = int(np.prod(a.shape[1:]))
    plane = int(np.prod(a.shape[2:])) if a.ndim == 4 else 1
    per_plane = a.ndim == 4 and b.shape[2:] == (1, 1) and plane > 1
    return inner, plane, per_plane


def forward(a, b, y):
    """y = a * b. a, y: (N, ...) same shape, each contiguous per image; b: a's shape, or
    (N, C, 1, 1) broadcast over a's H and W."""
    inner, plane, per_plane = _geometry(a, b)
    launch(kernel("mul", "mul_forward", a.dtype), a.shape[0] * inner,
           (a, b, y, np.int64(a.shape[0]), np.int64(inner), np.int64(plane), batch_stride(a), batch_stride(b),
            batch_stride(y), i32(per_plane)))


def backward(gy, a, b, ga, gb, acc_a, acc_b):
    """ga (+)= gy * b, then gb (+)= gy * a (summed over each plane when b is per plane); ga or gb
    None where not needed; the same tensors and rules as the CPU twin."""
    inner, plane, per_plane = _geometry(a, b)
    n = np.int64(gy.shape[0])
    if ga is not None:
        launch(kernel("mul", "mul_backward", gy.dtype), gy.shape[0] * inner,
               (gy, b, ga, n, np.int64(inner), np.int64(plane), batch_stride(gy), batch_stride(b),
                batch_stride(ga), i32(per_plane), i32(acc_a)))
    if gb is None:
        return
    if per_plane:
        planes = gy.shape[0] * gy.shape[1]
        # a block per plane, of no more threads (a power of two, at least a warp) than the plane
        # has elements: a 7x7 gate sums with 64, not 256 mostly idle ones
        threads = min(THREADS, max(32, 1 << (plane - 1).bit_length()))
        kernel("mul", "mul_backward_planes", gy.dtype)((max(1, min(planes, max_blocks())),), (threads,),
                                                       (gy, a, gb, n, i32(gy.shape[1]), np.int64(plane),
                                                        batch_stride(gy), batch_stride(a), batch_stride(gb),
                                                        i32(acc_b)))
    else:
        launch(kernel("mul", "mul_backward", gy.dtype), gy.shape[0] * inner,
               (gy, a, gb, n, np.int64(inner), np.int64(plane), batch_stride(gy), batch_stride(a),
                batch_stride(gb), i32(False), i32(acc_b)))
