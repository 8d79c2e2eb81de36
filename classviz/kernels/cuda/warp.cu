// A random rotation, scale and shift per image as four 1-D resampling passes, and their adjoints
// as gathers (formulas and the reasons in kernels/cpu/warp.py): positions in double, a fixed
// summation order, no atomics, so a replay is deterministic and the CPU twin agrees to rounding.
#include "common.cuh"

// left tap and right weight of position pos on a line of `length` pixels, clamped to its ends
__device__ __forceinline__ int cv_tap(double pos, int length, double* f) {
    double p = min(max(pos, 0.0), length - 1.0);
    int i0 = min((int)floor(p), length - 1);
    *f = p - i0;
    return i0;
}

// a of pass k's positions along one line of image n, pos(j) = a + slope * j, slope = params[0]; the
// forward and its adjoint read the map from here alone
__device__ __forceinline__ double cv_line_start(const double* p, int line, double cl, double cj) {
    return cj + p[1] * (line - cl) + p[2] - p[0] * cj;
}

// element (line, j) of plane nc: along rows a line is a row, along columns a column
__device__ __forceinline__ long long cv_line_at(long long nc, int line, int j, int H, int W, int rows) {
    return rows ? (nc * H + line) * W + j : (nc * H + j) * W + line;
}

template <typename T>
__global__ void warp_pass(const T* __restrict__ x, const double* __restrict__ params, T* __restrict__ y, int N, int C,
                          int H, int W, int k, int rows) {
    int lines = rows ? H : W, length = rows ? W : H;
    double cl = (lines - 1) / 2.0, cj = (length - 1) / 2.0;
    CV_LOOP(i, (long long)N * C * lines * length) {
        int j = i % length;
        long long t = i / length;
        int line = t % lines;
        long long nc = t / lines, n = nc / C;
        const double* p = params + (n * 4 + k) * 3;  // slope, shear, shift
        double a = cv_line_start(p, line, cl, cj), f;
        int i0 = cv_tap(a + p[0] * j, length, &f), i1 = min(i0 + 1, length - 1);
        double v = (1.0 - f) * (double)x[cv_line_at(nc, line, i0, H, W, rows)] +
                   f * (double)x[cv_line_at(nc, line, i1, H, W, rows)];
        y[cv_line_at(nc, line, j, H, W, rows)] = (T)v;
    }
}

template <typename T>
__global__ void warp_adjoint(const T* __restrict__ gy, const double* __restrict__ params, T* __restrict__ gx, int N,
                             int C, int H, int W, int k, int rows) {
    int lines = rows ? H : W, length = rows ? W : H;
    double cl = (lines - 1) / 2.0, cj = (length - 1) / 2.0;
    CV_LOOP(i, (long long)N * C * lines * length) {
        int m = i % length;
        long long t = i / length;
        int line = t % lines;
        long long nc = t / lines, n = nc / C;
        const double* p = params + (n * 4 + k) * 3;
        double slope = p[0], a = cv_line_start(p, line, cl, cj);
        // the outputs whose position falls in [m - 1, m + 1] (one more each side for rounding), and
        // at the ends every output clamped onto the first or last pixel
        int lo = m <= 1 ? 0 : max(0, (int)floor((m - 1 - a) / slope) - 1);
        int hi = m >= length - 2 ? length - 1 : min(length - 1, (int)ceil((m + 1 - a) / slope) + 1);
        double acc = 0;
        for (int j = lo; j <= hi; ++j) {
            double f;
            int i0 = cv_tap(a + slope * j, length, &f), i1 = min(i0 + 1, length - 1);
            double g = (double)gy[cv_line_at(nc, line, j, H, W, rows)];
            if (i0 == m) acc += (1.0 - f) * g;
            if (i1 == m) acc += f * g;
        }
        gx[cv_line_at(nc, line, m, H, W, rows)] = (T)acc;
    }
}
