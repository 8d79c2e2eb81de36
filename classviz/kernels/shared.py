"""What both backends share, so that kernels/cuda never imports kernels/cpu: the names of the
backends and precisions, values computed on the host for either backend (blur taps, the resize
matrix), the conversion of finished pixels to uint8, and the concat's slice copies, which are the
same array code on NumPy and CuPy (CuPy runs them as copy kernels, without temporaries)."""
import numpy as np

BACKENDS = ("auto", "cpu", "cuda")
# arithmetic of float32 convolutions: true float32, TF32 tensor cores, bfloat16 (CUDA only; see
# kernels/cuda/conv.py)
PRECISIONS = ("fp32", "tf32", "bf16")
# pointwise activations of kernels/*/activation.py; a kernel gets the index, and two parameters
# (alpha, beta): sigmoid (unused), hardsigmoid y = clip(alpha*x + beta, 0, 1), hardswish
# y = x * clip(alpha*x + beta, 0, 1), clip y = min(max(x, alpha), beta), silu y = x * sigmoid(x)
# (unused parameters; the reader makes it of Mul(x, Sigmoid(x)), one pass instead of two)
ACTIVATIONS = ("sigmoid", "hardsigmoid", "hardswish", "clip", "silu")
CLIP = ACTIVATIONS.index("clip")


def fused_activation(relu):
    """(on, cap) of the activation a convolution runs fused, given as False (none), True
    (max(., 0)) or a number c > 0 (min(max(., 0), c): ReLU6 is 6.0); cap is inf for a plain ReLU.
    Both backends' conv.forward and conv.backward read their `relu` argument so."""
    if relu is False or relu is None:
        return False, np.inf
    return True, (np.inf if relu is True else float(relu))


# Adam's constants (TensorFlow's defaults, which lucid used): kernels/*/adam.py
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8


def adam_rate(lr, t):
    """The step size of Adam's t-th step (t >= 1) with learning rate lr, its bias correction folded
    in: lr * sqrt(1 - B2^t) / (1 - B1^t) (float)."""
    return lr * (1.0 - ADAM_B2 ** t) ** 0.5 / (1.0 - ADAM_B1 ** t)


def fourier_back(scale, h, w):
    """(h, w//2 + 1) float64: the factors of the Fourier parameterization's backward (kernels/*/
    fourier.py), c_k / (h w) * scale, with c_k = 1 for the columns a real transform holds once
    (frequency 0, and w/2 when w is even) and 2 for the others (they stand for their conjugates)."""
    ck = np.full(w // 2 + 1, 2.0)
    ck[0] = 1.0
    if w % 2 == 0:
        ck[-1] = 1.0
    return np.asarray(scale, np.float64) * ck / (h * w)


# --- the blur's kernel ---------------------------------------------------------------------------

def radius(sigma):
    """Half-width in pixels of the truncated kernel for `sigma` (float, pixels): int(4 sigma + 0.5),
    scipy's rule; 0 for sigma <= 0 (no blur)."""
    return int(4.0 * sigma + 0.5) if sigma > 0 else 0


def taps(sigma, dtype=np.float32):
    """The normalised 1-D Gaussian for `sigma` (pixels): array (2r+1,) of `dtype`, r = radius(sigma),
    computed in float64 like scipy; [1.] for sigma <= 0."""
    r = radius(sigma)
    if r == 0:
        return np.ones(1, dtype)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 / (sigma * sigma) * x * x)
    return (w / w.sum()).astype(dtype)


# --- the upscale between octaves ------------------------------------------------------------------

def resize_matrix(n_in, n_out, dtype=np.float32, a=-0.5):
    """Cubic interpolation weights (n_out, n_in) of `dtype`: row i holds the taps of output pixel i
    and sums to 1. Keys' cubic convolution with parameter `a` (-0.5: Pillow's BICUBIC; OpenCV and
    PyTorch use -0.75), pixel centres aligned (src = (dst + 0.5) * n_in / n_out - 0.5), edge pixels
    repeated. How far this is from the other cubics: benchmarks/README.md (resize_compare.py)."""
    m = np.zeros((n_out, n_in), np.float64)
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    base = np.floor(src).astype(np.int64)
    t = src - base
    for k in range(-1, 3):
        idx = np.clip(base + k, 0, n_in - 1)
        np.add.at(m, (np.arange(n_out), idx), _keys(t - k, a))
    return m.astype(dtype)


def _keys(d, a):
    d = np.abs(d)
    return np.where(d <= 1, ((a + 2) * d - (a + 3)) * d * d + 1,
                    np.where(d < 2, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a, 0.0))


# --- finished pixels --------------------------------------------------------------------------------

def to_uint8(pixels):
    """(N, C, H, W) float pixels (NumPy) -> list of N uint8 (H, W, C) arrays, rounded and clipped."""
    a = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(im.transpose(1, 2, 0)) for im in a]


# --- the concat's slice copies (NumPy or CuPy arrays) -----------------------------------------------

def concat_forward(x, offset, y):
    """Copy x (N, c, H, W) into y[:, offset:offset+c]."""
    y[:, offset:offset + x.shape[1]] = x


def concat_backward(gy, offset, gx, accumulate):
    """gx (N, c, H, W) = gy[:, offset:offset+c], or += that."""
    part = gy[:, offset:offset + gx.shape[1]]
    if accumulate:
        gx += part
    else:
        gx[...] = part
