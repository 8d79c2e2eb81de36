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
