// What cuDNN's convolution leaves to us: the bias and the ReLU, fused into one pass over the
// output (cuDNN's own fused conv+bias+activation only runs one algorithm, which is rarely the
// fastest for these shapes).
#include "common.cuh"

// relu: the fused activation min(max(., 0), cap), cap = inf for a plain ReLU (6 for ReLU6);
// with has_res, a residual connection's other summand res (laid out as y, images res_bs apart) is
// added before it (when none, the host passes b as res: read-only, never read)
template <typename T>
__global__ void bias_act(T* __restrict__ y, const T* __restrict__ b, const T* __restrict__ res, long long N, int C,
                         long long HW, long long y_bs, long long res_bs, int has_res, int relu, T cap) {
    CV_LOOP(i, N * C * HW) {
        long long inner = (long long)C * HW;
        long long n = i / inner, r = i % inner;
        long long o = cv_at(n, r, y_bs);
        T v = y[o] + b[r / HW];
        if (has_res) v = v + res[cv_at(n, r, res_bs)];
        y[o] = relu ? min(max(v, (T)0), cap) : v;
    }
}

// precision="bf16": cuDNN convolves bfloat16 tensors (float accumulation); the network's own
// arrays stay float32. These kernels carry values across: float -> bf16 on the way in (with the
// fused ReLU's mask applied to the gradient on the way back), bf16 -> float on the way out (with
// the bias and ReLU, or added onto a gradient). bf16 is kept as its 16 raw bits: the rounding is
// written out rather than taken from cuda_bf16.h so that tests/cuda_host.py compiles this file too.
__device__ __forceinline__ unsigned short cv_to_bf16(float f) {
    unsigned u = __float_as_uint(f);
    return (unsigned short)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);  // nearest, ties to even
}
__device__ __forceinline__ float cv_from_bf16(unsigned short h) { return __uint_as_float((unsigned)h << 16); }

// out (dense N x inner) = bf16(x), or bf16(x * (0 < y < cap)) when masked (y laid out as x, y_bs apart)
template <typename T>
__global__ void to_bf16(const T* __restrict__ x, const T* __restrict__ y, unsigned short* __restrict__ out,
                        long long N, long long inner, long long x_bs, long long y_bs, int masked, T cap) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        T v = x[cv_at(n, r, x_bs)];
        T m = masked ? y[cv_at(n, r, y_bs)] : (T)1;
        out[i] = cv_to_bf16(masked && !(m > (T)0 && m < cap) ? 0.0f : (float)v);
    }
}

// y (N, C, HW, images y_bs apart) = float(src (dense)) + b (+ res, as in bias_act), then
// min(max(., 0), cap) when relu
template <typename T>
__global__ void bf16_bias_act(const unsigned short* __restrict__ src, const T* __restrict__ b,
                              const T* __restrict__ res, T* __restrict__ y, long long N, int C, long long HW,
                              long long y_bs, long long res_bs, int has_res, int relu, T cap) {
    CV_LOOP(i, N * C * HW) {
        long long inner = (long long)C * HW;
        long long n = i / inner, r = i % inner;
        T v = (T)cv_from_bf16(src[i]) + b[r / HW];
        if (has_res) v = v + res[cv_at(n, r, res_bs)];
        y[cv_at(n, r, y_bs)] = relu ? min(max(v, (T)0), cap) : v;
    }
}

// gx (N, inner, images gx_bs apart) = float(src (dense)), or gx += that
template <typename T>
__global__ void bf16_add(const unsigned short* __restrict__ src, T* __restrict__ gx, long long N, long long inner,
                         long long gx_bs, int accumulate) {
    CV_LOOP(i, N * inner) {
        long long o = cv_at(i / inner, i % inner, gx_bs);
        T v = (T)cv_from_bf16(src[i]);
        gx[o] = accumulate ? gx[o] + v : v;
    }
}

// Asymmetric padding, which cuDNN's descriptors cannot express (one pad per axis, on both sides):
// the layer convolves an explicitly padded copy (Hp = H + pt + pb, Wp = W + pl + pr, dense) with no
// padding of its own, and the dgrad of that copy is cropped back, or added, onto the input's.
template <typename T>
__global__ void pad_copy(const T* __restrict__ x, T* __restrict__ xp, long long N, int C, int H, int W, int pt,
                         int pl, int Hp, int Wp, long long x_bs) {
    CV_LOOP(i, N * C * Hp * Wp) {
        int px, py;
        long long t = cv_unravel(i, Hp, Wp, &py, &px);
        int c = t % C;
        long long n = t / C;
        int iy = py - pt, ix = px - pl;
        xp[i] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[n * x_bs + ((long long)c * H + iy) * W + ix] : (T)0;
    }
}

template <typename T>
__global__ void unpad_add(const T* __restrict__ gxp, T* __restrict__ gx, long long N, int C, int H, int W, int pt,
                          int pl, int Hp, int Wp, long long gx_bs, int accumulate) {
    CV_LOOP(i, N * C * H * W) {
        int ix, iy;
        long long t = cv_unravel(i, H, W, &iy, &ix);
        int c = t % C;
        long long n = t / C;
        T g = gxp[((n * C + c) * Hp + iy + pt) * Wp + ix + pl];
        long long o = n * gx_bs + ((long long)c * H + iy) * W + ix;
        gx[o] = accumulate ? gx[o] + g : g;
    }
}
