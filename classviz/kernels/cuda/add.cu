// Sum of two activations (a residual connection) and its backward, a copy or add of the output's
// gradient onto each input's; arrays are (N, inner), images bs apart (channel slices of a concat).
#include "common.cuh"

template <typename T>
__global__ void add_forward(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, long long N,
                            long long inner, long long a_bs, long long b_bs, long long y_bs) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        y[cv_at(n, r, y_bs)] = a[cv_at(n, r, a_bs)] + b[cv_at(n, r, b_bs)];
    }
}

template <typename T>
__global__ void add_backward(const T* __restrict__ gy, T* __restrict__ gx, long long N, long long inner,
                             long long gy_bs, long long gx_bs, int accumulate) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        T g = gy[cv_at(n, r, gy_bs)];
        long long o = cv_at(n, r, gx_bs);
        gx[o] = accumulate ? gx[o] + g : g;
    }
}
