// ReLU on (N, inner) arrays whose images may be `bs` apart (channel slices of a concat). The
// backward reads only the output: y > 0 is the mask, as in kernels/cpu/relu.py.
#include "common.cuh"

// y may be x (a Gemm's fused ReLU runs in place on its output): so neither is __restrict__
template <typename T>
__global__ void relu_forward(const T* x, T* y, long long N, long long inner,
                             long long x_bs, long long y_bs) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        T v = x[cv_at(n, r, x_bs)];
        y[cv_at(n, r, y_bs)] = v > (T)0 ? v : (T)0;
    }
}

// gx may alias gy (the fused ReLU of a Conv rewrites its own output gradient in place)
template <typename T>
__global__ void relu_backward(const T* y, const T* gy, T* gx, long long N, long long inner, long long y_bs,
                              long long gy_bs, long long gx_bs, int accumulate) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        T g = y[cv_at(n, r, y_bs)] > (T)0 ? gy[cv_at(n, r, gy_bs)] : (T)0;
        long long o = cv_at(n, r, gx_bs);
        gx[o] = accumulate ? gx[o] + g : g;
    }
}
