// Shared by every classviz kernel: grid-stride loops over 64-bit element counts, and the
// (batch stride, per-image offset) addressing of arrays that may be channel slices of a concat.
#pragma once

// Constants shared with Python (kernels/cuda/source.py's DEFINES), passed as -D flags
#if !defined(CV_THREADS) || !defined(CV_PARTS)
#error "compile with source.flags(): -DCV_THREADS=... -DCV_PARTS=..."
#endif

#define CV_LOOP(i, total) \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (total); \
         i += (long long)gridDim.x * blockDim.x)

// Image n, element r of its contiguous (C, H, W) block, in an array whose images are bs apart.
__device__ __forceinline__ long long cv_at(long long n, long long r, long long bs) { return n * bs + r; }

// Split a flat index i = (outer * A + a) * B + b into (a, b); returns outer.
__device__ __forceinline__ long long cv_unravel(long long i, int A, int B, int* a, int* b) {
    *b = i % B;
    long long t = i / B;
    *a = t % A;
    return t / A;
}

// First output index whose window [o*s - p, o*s - p + k) covers input index i (clamped at 0),
// and one past the last (clamped at n_out).
__device__ __forceinline__ int cv_first_out(int i, int k, int s, int p) {
    int num = i + p - k + 1;
    return num <= 0 ? 0 : (num + s - 1) / s;
}
__device__ __forceinline__ int cv_end_out(int i, int s, int p, int n_out) {
    int last = (i + p) / s;
    return min(last + 1, n_out);
}
