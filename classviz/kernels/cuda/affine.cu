// Per-element affine map y = x * scale + shift and its backward gx (+)= gy * scale, with scale and
// shift given for one image (inner elements) and applied to each of the N images. Kernels rather
// than CuPy's elementwise ops: `gx += gy * scale` would allocate a temporary, which a captured
// graph cannot do.
#include "common.cuh"

template <typename T>
__global__ void affine_forward(const T* __restrict__ x, const T* __restrict__ scale, const T* __restrict__ shift,
                               T* __restrict__ y, long long N, long long inner, long long x_bs, long long y_bs) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        y[cv_at(n, r, y_bs)] = x[cv_at(n, r, x_bs)] * scale[r] + shift[r];
    }
}

template <typename T>
__global__ void affine_backward(const T* __restrict__ gy, const T* __restrict__ scale, T* __restrict__ gx,
                                long long N, long long inner, long long gy_bs, long long gx_bs, int accumulate) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        T g = gy[cv_at(n, r, gy_bs)] * scale[r];
        long long o = cv_at(n, r, gx_bs);
        gx[o] = accumulate ? gx[o] + g : g;
    }
}
