"""lucid's decorrelated Fourier parameterization of an image, on the host.

An image is not its pixels but a spectrum S, (N, 3, 2, H, W//2 + 1) real (the real and the imaginary
parts of each colour's 2-D real FFT), and

    pixels = 255 * sigmoid(COLOUR @ irfft2(S * scale))      per pixel, COLOUR acting on the 3 colours

where scale(fy, fx) = sqrt(H W) / 4 / max(|f|, 1 / max(H, W)) (f in cycles per pixel): every
frequency's coefficient has the amplitude of natural images' 1/f spectrum, so that a gradient step
on S changes low frequencies as much as high ones, and the colours are those of ImageNet's
decorrelated colour space (the square root of its colour covariance, by lucid's SVD; normalised
so its largest column has norm 1). The sigmoid keeps pixels in (0, 255) without clipping.

This module holds the constants, the per-shape scale and the two host-side conversions: the
reference `to_pixels` (the kernels/*/fourier.py kernels compute it on a backend, every step) and
its inverse `from_pixels` (once per octave: a start picture, an upscaled image)."""
import numpy as np

# lucid's square root of ImageNet's colour covariance (RGB rows; lucid's constants)
_COLOUR_SVD_SQRT = np.array([[0.26, 0.09, 0.02],
                             [0.27, 0.00, -0.05],
                             [0.27, -0.09, 0.03]])
COLOUR = _COLOUR_SVD_SQRT / np.max(np.linalg.norm(_COLOUR_SVD_SQRT, axis=0))  # (3, 3) float64
NOISE_SD = 0.01  # standard deviation of a start spectrum (lucid's)
_EDGE = 0.5  # pixels kept this far inside (0, 255) when inverted: the sigmoid reaches neither end


def freqs(h, w):
    """(h, w//2 + 1) float64: |f| of each coefficient of a real 2-D FFT of an h x w image, in cycles
    per pixel."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fy * fy + fx * fx)


def scale(h, w):
    """(h, w//2 + 1) float64: the factor each coefficient of the spectrum is multiplied by."""
    return np.sqrt(h * w) / 4.0 / np.maximum(freqs(h, w), 1.0 / max(h, w))


def shape(n, h, w):
    """The spectrum's shape for n images of h x w pixels: (n, 3, 2, h, w//2 + 1)."""
    return (n, 3, 2, h, w // 2 + 1)


def noise(rngs, h, w, dtype=np.float32):
    """A start spectrum, one image per Generator in `rngs`: Normal(0, NOISE_SD) for every part
    (what lucid starts from). Returns (len(rngs), 3, 2, h, w//2 + 1) of `dtype`."""
    return np.stack([rng.normal(0.0, NOISE_SD, shape(1, h, w)[1:]) for rng in rngs]).astype(dtype)


def to_pixels(spectrum, w):
    """Pixels (N, 3, H, w) float64 in (0, 255) of `spectrum` (N, 3, 2, H, w//2 + 1), by the formula of
    the module docstring (w: the width, which the spectrum's shape leaves open by one)."""
    h = spectrum.shape[-2]
    y = np.fft.irfft2((spectrum[:, :, 0] + 1j * spectrum[:, :, 1]) * scale(h, w), s=(h, w))
    z = np.einsum("ij,njhw->nihw", COLOUR, y)
    return 255.0 / (1.0 + np.exp(-z))


def from_pixels(pixels):
    """The spectrum (N, 3, 2, H, W//2 + 1) float64 whose `to_pixels` gives `pixels` (N, 3, H, W), in
    0..255, back to rounding; pixels closer than half a value to 0 or 255 come back that close (the
    sigmoid reaches neither)."""
    n, _, h, w = pixels.shape
    p = np.clip(np.asarray(pixels, np.float64), _EDGE, 255.0 - _EDGE) / 255.0
    z = np.log(p) - np.log1p(-p)
    y = np.einsum("ij,njhw->nihw", np.linalg.inv(COLOUR), z)
    s = np.fft.rfft2(y) / scale(h, w)
    return np.stack([s.real, s.imag], axis=2)
