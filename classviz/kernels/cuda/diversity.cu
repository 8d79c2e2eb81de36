// lucid's diversity term between the K facets of a batch (formulas in kernels/cpu/diversity.py).
// The Gram matrices and the final product A_i F_i are gemm.cu's kernels; here, the pairwise dot
// products of the Grams (one block per pair, a fixed-order reduction in double) and the adjoint
// A_i, elementwise. No atomics: a replay gives the same bits.
#include "common.cuh"

#define CV_DIVERSITY_EPS 1e-10

// grid (K, K), CV_THREADS threads: dots[i, j] = <G_i, G_j>; grams (K, M) contiguous, M = C * C
template <typename T>
__global__ void gram_dots(const T* __restrict__ grams, double* __restrict__ dots, long long M) {
    __shared__ double acc[CV_THREADS];
    int i = blockIdx.x, j = blockIdx.y, K = gridDim.x;
    const T* a = grams + i * M;
    const T* b = grams + j * M;
    double s = 0;
    for (long long r = threadIdx.x; r < M; r += blockDim.x) s += (double)a[r] * (double)b[r];
    acc[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) acc[threadIdx.x] += acc[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) dots[i * K + j] = acc[0];
}

// adjoint[i] = coef * (S_i - <g_i, S_i> g_i) / |G_i|, S_i = sum_{j != i} G_j / |G_j|, g_i = G_i / |G_i|
template <typename T>
__global__ void gram_adjoint(const T* __restrict__ grams, const double* __restrict__ dots, T* __restrict__ adjoint,
                             int K, long long M, double coef) {
    CV_LOOP(e, (long long)K * M) {
        int i = e / M;
        long long r = e % M;
        double ni = sqrt(max(dots[i * K + i], CV_DIVERSITY_EPS)), s = 0, along = 0;
        for (int j = 0; j < K; ++j) {
            if (j == i) continue;
            double nj = sqrt(max(dots[j * K + j], CV_DIVERSITY_EPS));
            s += (double)grams[j * M + r] / nj;
            along += dots[i * K + j] / (ni * nj);
        }
        adjoint[e] = (T)(coef * (s - along * (double)grams[e] / ni) / ni);
    }
}
