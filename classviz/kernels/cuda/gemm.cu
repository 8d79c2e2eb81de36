// Fully connected layer: y = x @ w.T + b and gx (+)= gy @ w, for the classifiers' small batches
// (N of 1-64, K and C of about 1000). One thread per output element, summing in a fixed order
// (four interleaved partial sums, then added left to right), so a replay gives the same bits and
// nothing here needs a library handle or a workspace: the kernels capture into a CUDA graph as
// they are (CuPy's cuBLAS wrapper refuses to run while a stream captures).
#include "common.cuh"

// y[n, k] = sum_c x[n, c] w[k, c] + b[k]; x (N, C), w (K, C), b (K,), y (N, K), all contiguous
template <typename T>
__global__ void fc_forward(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                           T* __restrict__ y, long long N, long long K, long long C) {
    CV_LOOP(i, N * K) {
        long long n = i / K, k = i % K;
        const T* xr = x + n * C;
        const T* wr = w + k * C;
        T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        long long c = 0;
        for (; c + 4 <= C; c += 4) {
            s0 += xr[c] * wr[c];
            s1 += xr[c + 1] * wr[c + 1];
            s2 += xr[c + 2] * wr[c + 2];
            s3 += xr[c + 3] * wr[c + 3];
        }
        for (; c < C; ++c) s0 += xr[c] * wr[c];
        y[i] = ((s0 + s1) + (s2 + s3)) + b[k];
    }
}

// gx[n, c] = sum_k gy[n, k] w[k, c] (or gx += that); gy (N, K), w (K, C), gx (N, C), contiguous.
// Neighbouring threads read neighbouring columns of w: each row of w is read coalesced.
template <typename T>
__global__ void fc_backward(const T* __restrict__ gy, const T* __restrict__ w, T* __restrict__ gx, long long N,
                            long long K, long long C, int accumulate) {
    CV_LOOP(i, N * C) {
        long long n = i / C, c = i % C;
        const T* g = gy + n * K;
        T s = 0;
        for (long long k = 0; k < K; ++k) s += g[k] * w[k * C + c];
        gx[i] = accumulate ? gx[i] + s : s;
    }
}
