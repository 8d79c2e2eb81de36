// lucid's decorrelated Fourier parameterization on the GPU (the formula: classviz/fourier.py; the
// backward's derivation: kernels/cpu/fourier.py). The transforms are direct DFT sums, one output
// per thread, over twiddle tables computed in double on the host: each sum runs in a fixed order
// in double (a replay is deterministic), and nothing needs cuFFT's plans or workspace, which
// neither a graph capture nor the host emulation would allow us to manage. Intermediates are
// double. Layouts: spectrum (N, 3, 2, H, Wf) (real, imaginary), pixels (N, 3, H, W), Wf = W/2 + 1.
#include "common.cuh"

// c_k: how many columns of the full spectrum column k of a real transform stands for
__device__ __forceinline__ double cv_ck(int k, int W) { return (k == 0 || 2 * k == W) ? 1.0 : 2.0; }

// U = the inverse DFT along H of S * scale: one (image-colour, h, k) per thread; U (N*3, 2, H, Wf)
template <typename T>
__global__ void spectrum_to_columns(const T* __restrict__ s, const double* __restrict__ scale,
                                    const double* __restrict__ tw_h, double* __restrict__ u, int NC, int H, int Wf) {
    CV_LOOP(i, (long long)NC * H * Wf) {
        int k = i % Wf, h = (i / Wf) % H;
        long long nc = i / ((long long)H * Wf);
        const T* re = s + nc * 2 * H * Wf;
        const T* im = re + (long long)H * Wf;
        double ur = 0, ui = 0;
        for (int kh = 0; kh < H; ++kh) {
            int t = (int)(((long long)kh * h) % H);
            double c = tw_h[t], sn = tw_h[H + t], a = scale[kh * Wf + k];
            double yr = (double)re[kh * Wf + k] * a, yi = (double)im[kh * Wf + k] * a;
            ur += yr * c - yi * sn;
            ui += yr * sn + yi * c;
        }
        u[(nc * 2) * H * Wf + (long long)h * Wf + k] = ur;
        u[(nc * 2 + 1) * H * Wf + (long long)h * Wf + k] = ui;
    }
}

// pixels = 255 sigmoid(colour @ (the real inverse DFT along W of U) / (H W)): one (n, h, w) per thread
template <typename T>
__global__ void columns_to_pixels(const double* __restrict__ u, const double* __restrict__ colour,
                                  const double* __restrict__ tw_w, T* __restrict__ px, int N, int H, int W) {
    int Wf = W / 2 + 1;
    long long P = (long long)H * W;
    CV_LOOP(i, (long long)N * P) {
        int w = i % W, h = (i / W) % H;
        long long n = i / P;
        double y[3];
        for (int c = 0; c < 3; ++c) {
            const double* ur = u + ((n * 3 + c) * 2) * H * Wf + (long long)h * Wf;
            const double* ui = ur + (long long)H * Wf;
            double acc = 0;
            for (int k = 0; k < Wf; ++k) {
                int t = (int)(((long long)k * w) % W);
                acc += cv_ck(k, W) * (ur[k] * tw_w[t] - ui[k] * tw_w[W + t]);
            }
            y[c] = acc / (double)P;
        }
        for (int c = 0; c < 3; ++c) {
            double z = colour[3 * c] * y[0] + colour[3 * c + 1] * y[1] + colour[3 * c + 2] * y[2];
            px[(n * 3 + c) * P + (long long)h * W + w] = (T)(255.0 / (1.0 + exp(-z)));
        }
    }
}

// r = colour^T (g * p (255 - p) / 255): the gradient before the colour matrix; r (N, 3, H, W) double
template <typename T>
__global__ void pixels_to_rows(const T* __restrict__ g, const T* __restrict__ px, const double* __restrict__ colour,
                               double* __restrict__ r, int N, long long P) {
    CV_LOOP(i, (long long)N * P) {
        long long p = i % P, n = i / P;
        double gz[3];
        for (int c = 0; c < 3; ++c) {
            double v = (double)px[(n * 3 + c) * P + p];
            gz[c] = (double)g[(n * 3 + c) * P + p] * v * (255.0 - v) / 255.0;
        }
        for (int c = 0; c < 3; ++c)
            r[(n * 3 + c) * P + p] = colour[c] * gz[0] + colour[3 + c] * gz[1] + colour[6 + c] * gz[2];
    }
}

// V = the real DFT along W of r: one (image-colour, h, k) per thread; V (N*3, 2, H, Wf)
template <typename T>
__global__ void rows_to_columns(const double* __restrict__ r, const double* __restrict__ tw_w, double* __restrict__ v,
                                int NC, int H, int W) {
    int Wf = W / 2 + 1;
    CV_LOOP(i, (long long)NC * H * Wf) {
        int k = i % Wf, h = (i / Wf) % H;
        long long nc = i / ((long long)H * Wf);
        const double* row = r + (nc * H + h) * W;
        double vr = 0, vi = 0;
        for (int w = 0; w < W; ++w) {
            int t = (int)(((long long)k * w) % W);
            vr += row[w] * tw_w[t];
            vi -= row[w] * tw_w[W + t];
        }
        v[(nc * 2) * H * Wf + (long long)h * Wf + k] = vr;
        v[(nc * 2 + 1) * H * Wf + (long long)h * Wf + k] = vi;
    }
}

// gs = back * (the DFT along H of V), back = c_k / (H W) * scale: one (image-colour, kh, k) per thread
template <typename T>
__global__ void columns_to_spectrum(const double* __restrict__ v, const double* __restrict__ back,
                                    const double* __restrict__ tw_h, T* __restrict__ gs, int NC, int H, int Wf) {
    CV_LOOP(i, (long long)NC * H * Wf) {
        int k = i % Wf, kh = (i / Wf) % H;
        long long nc = i / ((long long)H * Wf);
        const double* vr = v + (nc * 2) * H * Wf + k;
        const double* vi = vr + (long long)H * Wf;
        double gr = 0, gi = 0;
        for (int h = 0; h < H; ++h) {
            int t = (int)(((long long)kh * h) % H);
            double c = tw_h[t], sn = tw_h[H + t];
            gr += vr[(long long)h * Wf] * c + vi[(long long)h * Wf] * sn;
            gi += vi[(long long)h * Wf] * c - vr[(long long)h * Wf] * sn;
        }
        double b = back[kh * Wf + k];
        gs[(nc * 2) * H * Wf + (long long)kh * Wf + k] = (T)(gr * b);
        gs[(nc * 2 + 1) * H * Wf + (long long)kh * Wf + k] = (T)(gi * b);
    }
}
