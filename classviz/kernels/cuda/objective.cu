// The ascent's objective (see kernels/cpu/objective.py): obj[n] = mean over positions of
// y[n, classes[n]], and the backward seed g = 1/P at [n, classes[n], :], 0 elsewhere.
#include "common.cuh"

template <typename T>
__global__ void objective_gather(const T* __restrict__ y, const long long* __restrict__ classes, T* __restrict__ obj,
                                 int N, int K, int P) {
    CV_LOOP(n, (long long)N) {
        const T* row = y + (n * K + classes[n]) * P;
        T s = 0;
        for (int p = 0; p < P; ++p) s += row[p];
        obj[n] = s / (T)P;
    }
}

template <typename T>
__global__ void objective_seed(T* __restrict__ g, const long long* __restrict__ classes, int N, int K, int P) {
    CV_LOOP(i, (long long)N * K * P) {
        int k, p;
        long long n = cv_unravel(i, K, P, &k, &p);
        g[i] = k == classes[n] ? (T)1 / (T)P : (T)0;
    }
}

// Weighted objectives (classviz/objective.py): image n takes from a tensor t of `inner` elements
// per image sum(s[n] * t[n]) + l2w[n] * mean(t[n]^2), and its gradient there is
// s[n] + 2 l2w[n] t[n] / inner. A block per image (grid-stride over images), blockDim.x (a power
// of two) partial sums added in a fixed tree: a replay gives the same bits.
template <typename T>
__global__ void objective_weighted(const T* __restrict__ t, const T* __restrict__ s, const T* __restrict__ l2w,
                                   T* __restrict__ obj, long long N, long long inner, long long t_bs, int accumulate) {
    __shared__ double lin[CV_THREADS], sq[CV_THREADS];
    for (long long n = blockIdx.x; n < N; n += gridDim.x) {
        double a = 0, b = 0;
        for (long long k = threadIdx.x; k < inner; k += blockDim.x) {
            double v = (double)t[cv_at(n, k, t_bs)];
            a += (double)s[n * inner + k] * v;
            b += v * v;
        }
        lin[threadIdx.x] = a;
        sq[threadIdx.x] = b;
        __syncthreads();
        for (int w = blockDim.x / 2; w > 0; w >>= 1) {
            if (threadIdx.x < w) {
                lin[threadIdx.x] += lin[threadIdx.x + w];
                sq[threadIdx.x] += sq[threadIdx.x + w];
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            T v = (T)(lin[0] + (double)l2w[n] * sq[0] / (double)inner);
            obj[n] = accumulate ? obj[n] + v : v;
        }
        __syncthreads();  // lin and sq are reused by the next image
    }
}

template <typename T>
__global__ void objective_weighted_seed(const T* __restrict__ t, const T* __restrict__ s, const T* __restrict__ l2w,
                                        T* g, long long N, long long inner, long long t_bs, long long g_bs,
                                        int accumulate) {
    CV_LOOP(i, N * inner) {
        long long n = i / inner, k = i % inner;
        T v = s[i] + (T)2 * l2w[n] * t[cv_at(n, k, t_bs)] / (T)inner;
        long long o = cv_at(n, k, g_bs);
        g[o] = accumulate ? g[o] + v : v;
    }
}
