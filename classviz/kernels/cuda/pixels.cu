// Pixels to model input, and the ascent update pixels += step / mean|g_pix| * g_pix, clipped
// (formulas in kernels/cpu/pixels.py). mean|g| is a two-stage reduction in a fixed order (block
// partials, then each update block sums the partials of its image), so a replay is deterministic;
// the step size comes from device memory so a captured graph reads each step's value.
#include "common.cuh"

// CV_PARTS (blocks per image in the first stage) and CV_THREADS come from source.py's DEFINES

template <typename T>
__global__ void to_model(const T* __restrict__ px, const long long* __restrict__ order, const T* __restrict__ scale,
                         const T* __restrict__ shift, T* __restrict__ out, int N, int C, long long P) {
    CV_LOOP(i, (long long)N * C * P) {
        long long p = i % P, t = i / P;
        int c = t % C;
        long long n = t / C;
        out[i] = px[(n * C + order[c]) * P + p] * scale[c] + shift[c];
    }
}

// the transpose of to_model: a gradient with respect to the model's input, in pixel space
template <typename T>
__global__ void to_pixel_grad(const T* __restrict__ g, const long long* __restrict__ order, const T* __restrict__ scale,
                              T* __restrict__ out, int N, int C, long long P) {
    CV_LOOP(i, (long long)N * C * P) {
        long long p = i % P, t = i / P;
        int c = t % C;
        long long n = t / C;
        out[(n * C + order[c]) * P + p] = g[i] * scale[c];
    }
}

// grid (CV_PARTS, N), CV_THREADS threads: parts[n * CV_PARTS + b] = partial sum of |g * scale[c]|
template <typename T>
__global__ void abs_partials(const T* __restrict__ g, const T* __restrict__ scale, double* __restrict__ parts,
                             int C, long long P) {
    __shared__ double acc[CV_THREADS];
    long long n = blockIdx.y, inner = (long long)C * P;
    const T* img = g + n * inner;
    double s = 0;
    for (long long r = blockIdx.x * (long long)blockDim.x + threadIdx.x; r < inner; r += (long long)gridDim.x * blockDim.x)
        s += fabs((double)img[r] * (double)scale[r / P]);
    acc[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) acc[threadIdx.x] += acc[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) parts[n * gridDim.x + blockIdx.x] = acc[0];
}

// grid (blocks, N), CV_THREADS threads
template <typename T>
__global__ void ascent_update(T* __restrict__ px, const T* __restrict__ g, const long long* __restrict__ order,
                              const T* __restrict__ scale, const double* __restrict__ parts, const T* __restrict__ step,
                              double* __restrict__ norm, int C, long long P, T lo, T hi) {
    __shared__ double k_shared;
    long long n = blockIdx.y, inner = (long long)C * P;
    if (threadIdx.x == 0) {
        double total = 0;
        for (int b = 0; b < CV_PARTS; ++b) total += parts[n * CV_PARTS + b];
        double mean = total / (double)inner;
        if (blockIdx.x == 0) norm[n] = mean;
        // no gradient, or a NaN/Inf one: the image stays as it is (the host reads norm and stops)
        k_shared = (mean == 0 || !isfinite(mean)) ? 0 : (double)step[0] / mean;
    }
    __syncthreads();
    double k = k_shared;
    if (k == 0) return;  // no gradient: the image stays as it is
    for (long long r = blockIdx.x * (long long)blockDim.x + threadIdx.x; r < inner; r += (long long)gridDim.x * blockDim.x) {
        int c = r / P;
        long long p = r % P;
        long long o = (n * C + order[c]) * P + p;
        T v = px[o] + (T)(k * (double)scale[c]) * g[n * inner + r];
        px[o] = min(max(v, lo), hi);
    }
}

// pixels where keep is 0 become the background colour exactly (a mask's kept-out region)
template <typename T>
__global__ void mask(T* __restrict__ px, const unsigned char* __restrict__ keep, const T* __restrict__ background,
                     int N, int C, long long P) {
    CV_LOOP(i, (long long)N * C * P) {
        long long p = i % P;
        if (!keep[p]) px[i] = background[(i / P) % C];
    }
}

// grad *= a per-pixel weight (h, w), the same for every image and channel (a path's soft disc)
template <typename T>
__global__ void weigh(T* __restrict__ g, const T* __restrict__ weight, long long total, long long P) {
    CV_LOOP(i, total) g[i] *= weight[i % P];
}
