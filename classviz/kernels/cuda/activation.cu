// Pointwise activations besides ReLU (kernels/shared.py's ACTIVATIONS, by index: 0 sigmoid,
// 1 hardsigmoid, 2 hardswish, 3 clip, 4 silu) with parameters alpha, beta; formulas and the derivative's
// conventions at the edges as in kernels/cpu/activation.py. Arrays are (N, inner), images bs apart.
#include "common.cuh"

template <typename T>
__device__ __forceinline__ T cv_activate(T v, int kind, T alpha, T beta) {
    if (kind == 0) return (T)1 / ((T)1 + exp(-v));
    if (kind == 3) return min(max(v, alpha), beta);
    if (kind == 4) return v / ((T)1 + exp(-v));
    T h = min(max(alpha * v + beta, (T)0), (T)1);
    return kind == 1 ? h : v * h;
}

template <typename T>
__device__ __forceinline__ T cv_slope(T v, T out, int kind, T alpha, T beta) {
    if (kind == 0) return out * ((T)1 - out);
    if (kind == 3) return (alpha < v && v < beta) ? (T)1 : (T)0;
    if (kind == 4) {
        T s = (T)1 / ((T)1 + exp(-v));
        return s * ((T)1 + v * ((T)1 - s));
    }
    T t = alpha * v + beta;
    bool inside = (T)0 < t && t < (T)1;
    if (kind == 1) return inside ? alpha : (T)0;
    return inside ? t + alpha * v : (t >= (T)1 ? (T)1 : (T)0);
}

template <typename T>
__global__ void activation_forward(const T* __restrict__ x, T* __restrict__ y, long long N, long long inner,
                                   long long x_bs, long long y_bs, int kind, T alpha, T beta) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        y[cv_at(n, r, y_bs)] = cv_activate(x[cv_at(n, r, x_bs)], kind, alpha, beta);
    }
}

// gx may alias gy
template <typename T>
__global__ void activation_backward(const T* __restrict__ x, const T* __restrict__ y, const T* gy, T* gx,
                                    long long N, long long inner, long long x_bs, long long y_bs, long long gy_bs,
                                    long long gx_bs, int kind, T alpha, T beta, int accumulate) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        T g = gy[cv_at(n, r, gy_bs)] * cv_slope(x[cv_at(n, r, x_bs)], y[cv_at(n, r, y_bs)], kind, alpha, beta);
        long long o = cv_at(n, r, gx_bs);
        gx[o] = accumulate ? gx[o] + g : g;
    }
}
