// Product of two activations: y = a * b with b of a's shape, or one value per (image, channel)
// plane (squeeze-and-excite's gates: b (N, C, 1, 1), plane = H*W). Arrays are (N, inner) with
// images bs apart; a per-plane b is addressed as n * b_bs + r / plane.
#include "common.cuh"

__device__ __forceinline__ long long cv_other(long long n, long long r, long long bs, long long plane, int per_plane) {
    return per_plane ? n * bs + r / plane : cv_at(n, r, bs);
}

template <typename T>
__global__ void mul_forward(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, long long N,
                            long long inner, long long plane, long long a_bs, long long b_bs, long long y_bs,
                            int per_plane) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        y[cv_at(n, r, y_bs)] = a[cv_at(n, r, a_bs)] * b[cv_other(n, r, b_bs, plane, per_plane)];
    }
}

// out (+)= gy * other, other of out's shape or per plane: ga = gy * b, and gb = gy * a when b has
// a's shape. out may alias gy.
template <typename T>
__global__ void mul_backward(const T* gy, const T* __restrict__ other, T* out, long long N, long long inner,
                             long long plane, long long gy_bs, long long other_bs, long long out_bs, int per_plane,
                             int accumulate) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, r = i % inner;
        T g = gy[cv_at(n, r, gy_bs)] * other[cv_other(n, r, other_bs, plane, per_plane)];
        long long o = cv_at(n, r, out_bs);
        out[o] = accumulate ? out[o] + g : g;
    }
}

// gb[n, c] (+)= sum over the plane of gy * a, b per plane: a block per plane (grid-stride over
// the N*C planes), blockDim.x (a power of two, at most CV_THREADS) partial sums added in a fixed
// tree, so a replay gives the same bits
template <typename T>
__global__ void mul_backward_planes(const T* __restrict__ gy, const T* __restrict__ a, T* __restrict__ gb,
                                    long long N, int C, long long plane, long long gy_bs, long long a_bs,
                                    long long gb_bs, int accumulate) {
    __shared__ double acc[CV_THREADS];
    for (long long p = blockIdx.x; p < N * C; p += gridDim.x) {
        long long n = p / C, r0 = (p % C) * plane;
        double s = 0;
        for (long long k = threadIdx.x; k < plane; k += blockDim.x)
            s += (double)gy[cv_at(n, r0 + k, gy_bs)] * (double)a[cv_at(n, r0 + k, a_bs)];
        acc[threadIdx.x] = s;
        __syncthreads();
        for (int w = blockDim.x / 2; w > 0; w >>= 1) {
            if (threadIdx.x < w) acc[threadIdx.x] += acc[threadIdx.x + w];
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            long long o = n * gb_bs + p % C;
            gb[o] = accumulate ? gb[o] + (T)acc[0] : (T)acc[0];
        }
        __syncthreads();  // acc is reused by the next plane
    }
}
