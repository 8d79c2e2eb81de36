// Crop a (h, w) window out of each image of a batch at its own offset (row, col) from device
// memory (int64 (N, 2)), and paste it back. Offsets in device memory let a captured graph take a
// new random crop on every replay.
#include "common.cuh"

template <typename T>
__global__ void crop_window(const T* __restrict__ image, const long long* __restrict__ offsets, T* __restrict__ out,
                            int N, int C, int H, int W, int h, int w) {
    CV_LOOP(i, (long long)N * C * h * w) {
        int row, j;
        long long nc = cv_unravel(i, h, w, &row, &j), n = nc / C;
        int c = nc % C;
        long long oy = offsets[2 * n], ox = offsets[2 * n + 1];
        out[i] = image[((n * C + c) * H + oy + row) * W + ox + j];
    }
}

template <typename T>
__global__ void paste_window(const T* __restrict__ window, const long long* __restrict__ offsets,
                             T* __restrict__ image, int N, int C, int H, int W, int h, int w) {
    CV_LOOP(i, (long long)N * C * h * w) {
        int row, j;
        long long nc = cv_unravel(i, h, w, &row, &j), n = nc / C;
        int c = nc % C;
        long long oy = offsets[2 * n], ox = offsets[2 * n + 1];
        image[((n * C + c) * H + oy + row) * W + ox + j] = window[i];
    }
}

// image window = clip(image window + window - before, lo, hi): a placement's update, added where
// several windows overlap (one launch per window, in stream order: no atomics, the same sums)
template <typename T>
__global__ void paste_add_window(const T* __restrict__ window, const T* __restrict__ before,
                                 const long long* __restrict__ offsets, T* __restrict__ image, int N, int C, int H,
                                 int W, int h, int w, T lo, T hi) {
    CV_LOOP(i, (long long)N * C * h * w) {
        int row, j;
        long long nc = cv_unravel(i, h, w, &row, &j), n = nc / C;
        int c = nc % C;
        long long oy = offsets[2 * n], ox = offsets[2 * n + 1];
        long long at = ((n * C + c) * H + oy + row) * W + ox + j;
        image[at] = min(max(image[at] + (window[i] - before[i]), lo), hi);
    }
}
