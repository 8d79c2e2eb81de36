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
