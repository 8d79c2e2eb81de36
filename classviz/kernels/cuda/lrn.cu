// Local response normalisation across channels (ONNX/Caffe; formula in kernels/cpu/lrn.py).
// One thread per (n, c, pixel); the window is a handful of channels, read straight from memory
// (neighbouring threads read neighbouring pixels, so every load is coalesced).
#include "common.cuh"

template <typename T>
__device__ __forceinline__ T cv_pow_neg(T s, T beta) {
    if (beta == (T)0.75) { T r = sqrt(s); return (T)1 / (r * sqrt(r)); }  // GoogLeNet's beta: no pow
    return pow(s, -beta);
}

template <typename T>
__global__ void lrn_forward(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ scale, int N, int C,
                            int P, int size, T a, T beta, T bias, long long y_bs) {
    long long total = (long long)N * C * P;
    int lo = (size - 1) / 2, hi = size - 1 - lo;
    CV_LOOP(i, total) {
        int c, p;
        long long n = cv_unravel(i, C, P, &c, &p);
        const T* img = x + n * C * P;
        T acc = 0;
        for (int k = max(0, c - lo); k < min(C, c + hi + 1); ++k) {
            T v = img[(long long)k * P + p];
            acc += v * v;
        }
        T s = bias + a * acc;
        scale[i] = s;
        y[cv_at(n, (long long)c * P + p, y_bs)] = x[i] * cv_pow_neg(s, beta);
    }
}

template <typename T>
__global__ void lrn_backward(const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ y,
                             const T* __restrict__ scale, T* __restrict__ gx, int N, int C, int P, int size, T k2,
                             T beta, long long gy_bs, long long y_bs, int accumulate) {
    long long total = (long long)N * C * P;
    int lo = (size - 1) / 2, hi = size - 1 - lo;
    CV_LOOP(i, total) {
        int c, p;
        long long n = cv_unravel(i, C, P, &c, &p);
        T acc = 0;
        // channel c lies in the window of channel j when j - lo <= c <= j + hi
        for (int j = max(0, c - hi); j < min(C, c + lo + 1); ++j) {
            long long r = (long long)j * P + p;
            acc += gy[cv_at(n, r, gy_bs)] * y[cv_at(n, r, y_bs)] / scale[n * C * P + r];
        }
        long long r = (long long)c * P + p;
        T g = gy[cv_at(n, r, gy_bs)] * cv_pow_neg(scale[i], beta) - k2 * x[i] * acc;
        gx[i] = accumulate ? gx[i] + g : g;
    }
}
