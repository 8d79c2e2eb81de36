// Sum of two activations (a residual connection), then max(., 0) when a ReLU after it is fused,
// and its backward: the output's gradient (masked by y > 0 after the fused ReLU) copied or added
// onto each input's, both in one launch. Arrays are (N, inner), images bs apart (channel slices of a concat).
#include "common.cuh"

template <typename T>
__global__ void add_forward(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, long long N,
                            long long inner, long long a_bs, long long b_bs, long long y_bs, int relu) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        T v = a[cv_at(n, r, a_bs)] + b[cv_at(n, r, b_bs)];
        y[cv_at(n, r, y_bs)] = relu && v < (T)0 ? (T)0 : v;
    }
}

template <typename T>
__global__ void add_backward(const T* gy, const T* __restrict__ y, T* gx, T* gx2, long long N,
                             long long inner, long long gy_bs, long long y_bs, long long gx_bs, long long gx2_bs,
                             int masked, int accumulate, int two, int accumulate2) {
    // gx and gx2 are not __restrict__: with two == 0 the host passes gx for both (only gx is written);
    // nor is gy: the plan may hand gy's own buffer as gx or gx2 (each element is read, then written)
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        T g = gy[cv_at(n, r, gy_bs)];
        if (masked && !(y[cv_at(n, r, y_bs)] > (T)0)) g = (T)0;
        long long o = cv_at(n, r, gx_bs);
        gx[o] = accumulate ? gx[o] + g : g;
        if (two) {
            long long o2 = cv_at(n, r, gx2_bs);
            gx2[o2] = accumulate2 ? gx2[o2] + g : g;
        }
    }
}
