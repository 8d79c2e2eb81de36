// Separable Gaussian blur with scipy's 'reflect' boundary (d c b a | a b c d | d c b a), per
// (n, c) plane, in place through a scratch buffer: rows into `work`, then columns back into x.
// The taps come from device memory, so a captured graph reads new taps (a new sigma) on replay;
// zero taps past the current radius add exactly nothing.
#include "common.cuh"

__device__ __forceinline__ int cv_reflect(int i, int n) {
    int period = 2 * n;
    i %= period;
    if (i < 0) i += period;
    return i >= n ? period - 1 - i : i;
}

template <typename T>
__global__ void blur_rows(const T* __restrict__ x, T* __restrict__ work, const float* __restrict__ taps,
                          int taps_n, long long planes, int H, int W) {
    int r = (taps_n - 1) / 2;
    CV_LOOP(i, planes * H * W) {
        int j = i % W;
        long long row = i - j;
        T s = 0;
        for (int k = 0; k < taps_n; ++k) s += (T)taps[k] * x[row + cv_reflect(j + k - r, W)];
        work[i] = s;
    }
}

template <typename T>
__global__ void blur_cols(T* __restrict__ x, const T* __restrict__ work, const float* __restrict__ taps,
                          int taps_n, long long planes, int H, int W) {
    int r = (taps_n - 1) / 2;
    CV_LOOP(i, planes * H * W) {
        int j = i % W;
        long long t = i / W;
        int row = t % H;
        long long plane = (t / H) * H * W;
        T s = 0;
        for (int k = 0; k < taps_n; ++k) s += (T)taps[k] * work[plane + (long long)cv_reflect(row + k - r, H) * W + j];
        x[i] = s;
    }
}
