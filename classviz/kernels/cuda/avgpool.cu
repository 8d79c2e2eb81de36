// Average pooling, ONNX semantics (see kernels/cpu/avgpool.py): with count_include_pad the
// divisor counts the explicit pads but never the ceil-mode overhang past them. Backward is a
// gather over the windows that cover each input pixel. Global average pooling: one thread block
// per (n, c) plane, a fixed-order tree reduction.
#include "common.cuh"

__device__ __forceinline__ void cv_window(int o, int s, int p, int k, int size, int pad_end, int include_pad,
                                          int* a, int* b, int* count) {
    int start = o * s - p;
    int end = min(start + k, size + pad_end);
    *count = include_pad ? end - max(start, -p) : min(end, size) - max(start, 0);
    *a = max(start, 0);
    *b = min(end, size);
}

template <typename T>
__global__ void avgpool_forward(const T* __restrict__ x, T* __restrict__ y, int N, int C, int H, int W, int Ho,
                                int Wo, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr,
                                int include_pad, long long y_bs) {
    long long total = (long long)N * C * Ho * Wo;
    CV_LOOP(i, total) {
        int oy, ox;
        long long nc = cv_unravel(i, Ho, Wo, &oy, &ox);
        const T* plane = x + nc * H * W;
        int ya, yb, cy, xa, xb, cx;
        cv_window(oy, sh, pt, kh, H, pb, include_pad, &ya, &yb, &cy);
        cv_window(ox, sw, pl, kw, W, pr, include_pad, &xa, &xb, &cx);
        T s = 0;
        for (int iy = ya; iy < yb; ++iy)
            for (int ix = xa; ix < xb; ++ix) s += plane[iy * W + ix];
        long long n = nc / C, r = (nc % C) * Ho * Wo + oy * Wo + ox;
        y[cv_at(n, r, y_bs)] = s / (T)(cy * cx);
    }
}

template <typename T>
__global__ void avgpool_backward(const T* __restrict__ gy, T* __restrict__ gx, int N, int C, int H, int W, int Ho,
                                 int Wo, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr,
                                 int include_pad, long long gy_bs, int accumulate) {
    long long total = (long long)N * C * H * W;
    CV_LOOP(i, total) {
        int iy, ix;
        long long nc = cv_unravel(i, H, W, &iy, &ix);
        long long n = nc / C, plane_out = (nc % C) * Ho * Wo;
        int oy0 = cv_first_out(iy, kh, sh, pt), oy1 = cv_end_out(iy, sh, pt, Ho);
        int ox0 = cv_first_out(ix, kw, sw, pl), ox1 = cv_end_out(ix, sw, pl, Wo);
        T s = 0;
        for (int oy = oy0; oy < oy1; ++oy) {
            int ya, yb, cy;
            cv_window(oy, sh, pt, kh, H, pb, include_pad, &ya, &yb, &cy);
            if (iy < ya || iy >= yb) continue;
            for (int ox = ox0; ox < ox1; ++ox) {
                int xa, xb, cx;
                cv_window(ox, sw, pl, kw, W, pr, include_pad, &xa, &xb, &cx);
                if (ix < xa || ix >= xb) continue;
                s += gy[cv_at(n, plane_out + oy * Wo + ox, gy_bs)] / (T)(cy * cx);
            }
        }
        gx[i] = accumulate ? gx[i] + s : s;
    }
}

// one block of 256 threads per (n, c) plane
template <typename T>
__global__ void global_avgpool_forward(const T* __restrict__ x, T* __restrict__ y, int C, int HW, long long y_bs) {
    __shared__ T part[256];
    long long nc = blockIdx.x;
    const T* plane = x + nc * HW;
    T s = 0;
    for (int p = threadIdx.x; p < HW; p += blockDim.x) s += plane[p];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) y[cv_at(nc / C, nc % C, y_bs)] = part[0] / (T)HW;
}

template <typename T>
__global__ void global_avgpool_backward(const T* __restrict__ gy, T* __restrict__ gx, int N, int C, int HW,
                                        long long gy_bs, int accumulate) {
    long long total = (long long)N * C * HW;
    CV_LOOP(i, total) {
        long long nc = i / HW;
        T g = gy[cv_at(nc / C, nc % C, gy_bs)] / (T)HW;
        gx[i] = accumulate ? gx[i] + g : g;
    }
}
