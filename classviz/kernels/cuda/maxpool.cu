// Max pooling, forward and backward to the input. The forward saves `argmax` (flat index
// iy*W + ix of the winner in its plane, int32); ties go to the first maximum in row-major window
// order, as in kernels/cpu/maxpool.py. The backward is a gather (each input pixel sums the
// gradients of the windows it won), so it needs no atomics and adds in a fixed order.
#include "common.cuh"

template <typename T>
__global__ void maxpool_forward(const T* __restrict__ x, T* __restrict__ y, int* __restrict__ argmax,
                                int N, int C, int H, int W, int Ho, int Wo, int kh, int kw, int sh, int sw,
                                int pt, int pl, long long y_bs) {
    long long total = (long long)N * C * Ho * Wo;
    CV_LOOP(i, total) {
        int oy, ox;
        long long nc = cv_unravel(i, Ho, Wo, &oy, &ox);
        const T* plane = x + nc * H * W;
        int y0 = oy * sh - pt, x0 = ox * sw - pl;
        int ya = max(y0, 0), yb = min(y0 + kh, H), xa = max(x0, 0), xb = min(x0 + kw, W);
        int best_i = ya * W + xa;
        T best = plane[best_i];
        for (int iy = ya; iy < yb; ++iy)
            for (int ix = xa; ix < xb; ++ix) {
                T v = plane[iy * W + ix];
                if (v > best) { best = v; best_i = iy * W + ix; }
            }
        long long n = nc / C, r = (nc % C) * Ho * Wo + oy * Wo + ox;
        y[cv_at(n, r, y_bs)] = best;
        argmax[i] = best_i;
    }
}

template <typename T>
__global__ void maxpool_backward(const T* __restrict__ gy, const int* __restrict__ argmax,
                                 const T* __restrict__ y, T* __restrict__ gx, int N, int C, int H, int W,
                                 int Ho, int Wo, int kh, int kw, int sh, int sw, int pt, int pl, long long gy_bs,
                                 long long y_bs, int accumulate, int masked, int capped, T cap) {
    // masked: each won window's gradient times (0 < y < cap) (y > 0 when not capped), the mask
    // of the activation before the pool at its winner (y is laid out as gy; when not masked the
    // host passes gy as y, read-only and never read)
    long long total = (long long)N * C * H * W;
    CV_LOOP(i, total) {
        int iy, ix;
        long long nc = cv_unravel(i, H, W, &iy, &ix);
        long long n = nc / C, plane_out = (nc % C) * Ho * Wo;
        int me = iy * W + ix;
        int oy0 = cv_first_out(iy, kh, sh, pt), oy1 = cv_end_out(iy, sh, pt, Ho);
        int ox0 = cv_first_out(ix, kw, sw, pl), ox1 = cv_end_out(ix, sw, pl, Wo);
        T s = 0;
        for (int oy = oy0; oy < oy1; ++oy)
            for (int ox = ox0; ox < ox1; ++ox) {
                long long o = plane_out + oy * Wo + ox;
                if (argmax[nc * Ho * Wo + oy * Wo + ox] == me) {
                    T g = gy[cv_at(n, o, gy_bs)];
                    if (masked) {
                        T v = y[cv_at(n, o, y_bs)];
                        if (!(v > (T)0 && (!capped || v < cap))) g = g * (T)0;  // a product, as the CPU's
                    }
                    s += g;
                }
            }
        gx[i] = accumulate ? gx[i] + s : s;
    }
}
