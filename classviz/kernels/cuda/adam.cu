// The Adam update per image (formulas in kernels/cpu/adam.py). mean |g| per image is the same
// two-stage reduction as pixels.cu's (its abs_partials kernel, with unit scales), so the update
// blocks of an image agree on whether it moves; the rate comes from device memory, so a captured
// graph reads each step's value.
#include "common.cuh"

// grid (blocks, N), CV_THREADS threads; parts: pixels.cu's abs_partials of g (CV_PARTS per image)
template <typename T>
__global__ void adam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                            const double* __restrict__ parts, const T* __restrict__ rate, double* __restrict__ norm,
                            long long K, double b1, double b2, double eps, T lo, T hi) {
    __shared__ double go_shared;
    long long n = blockIdx.y;
    if (threadIdx.x == 0) {
        double total = 0;
        for (int b = 0; b < CV_PARTS; ++b) total += parts[n * CV_PARTS + b];
        double mean = total / (double)K;
        if (blockIdx.x == 0) norm[n] = mean;
        go_shared = (mean == 0 || !isfinite(mean)) ? 0 : 1;  // no gradient, or NaN/Inf: the image stays
    }
    __syncthreads();
    if (go_shared == 0) return;
    double r = (double)rate[0];
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < K; i += (long long)gridDim.x * blockDim.x) {
        long long o = n * K + i;
        double gi = (double)g[o];
        double mi = b1 * (double)m[o] + (1.0 - b1) * gi, vi = b2 * (double)v[o] + (1.0 - b2) * gi * gi;
        m[o] = (T)mi;
        v[o] = (T)vi;
        T next = (T)((double)p[o] + r * (double)(T)mi / (sqrt((double)(T)vi) + eps));
        p[o] = min(max(next, lo), hi);
    }
}
