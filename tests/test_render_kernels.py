"""The renderer's CPU kernels against plain references: blur vs scipy.ndimage, crop/paste vs
slicing, the pixel map and ascent update vs NumPy in float64, the cubic resize vs PIL."""
import numpy as np
import pytest
import scipy.ndimage as nd
from PIL import Image

from classviz.kernels.cpu import blur, crop, pixels, resize


@pytest.mark.parametrize("sigma", [0.3, 0.44, 0.78, 1.3, 2.5, 3.0])
@pytest.mark.parametrize("shape", [(1, 3, 224, 224), (2, 3, 17, 23), (1, 2, 5, 7)])
def test_blur_matches_scipy_gaussian_filter(sigma, shape):
    rng = np.random.default_rng(int(sigma * 100) + shape[2])
    x = rng.uniform(0, 255, shape).astype(np.float32)
    ref = np.empty(shape)
    for n in range(shape[0]):
        for c in range(shape[1]):
            ref[n, c] = nd.gaussian_filter(x[n, c].astype(np.float64), sigma, mode="reflect", truncate=4.0)
    work = np.empty(blur.work_size(shape, blur.radius(sigma)), np.float32)
    blur.forward(x, blur.taps(sigma), work)
    assert np.abs(x - ref).max() / np.abs(ref).max() < 1e-5  # (1, 2, 5, 7) at sigma 3: radius 12 > size


def test_blur_sigma_zero_is_identity():
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 9, 9)).astype(np.float32)
    y = x.copy()
    blur.forward(y, blur.taps(0.0), np.empty(blur.work_size(x.shape, 0), np.float32))
    assert np.array_equal(x, y)


def test_crop_and_paste_are_slicing():
    rng = np.random.default_rng(1)
    img = rng.standard_normal((3, 3, 41, 37)).astype(np.float32)
    offs = np.array([[0, 0], [9, 5], [41 - 13, 37 - 11]], np.int64)
    win = np.empty((3, 3, 13, 11), np.float32)
    crop.crop(img, offs, win)
    for n, (oy, ox) in enumerate(offs):
        assert np.array_equal(win[n], img[n, :, oy:oy + 13, ox:ox + 11])
    new = rng.standard_normal(win.shape).astype(np.float32)
    expect = img.copy()
    for n, (oy, ox) in enumerate(offs):
        expect[n, :, oy:oy + 13, ox:ox + 11] = new[n]
    crop.paste(new, offs, img)
    assert np.array_equal(img, expect)


def test_to_model_and_ascent_match_numpy_float64():
    rng = np.random.default_rng(2)
    order = np.array([2, 1, 0], np.int64)
    scale, shift = np.array([0.5, 2.0, 1.5]), np.array([-104.0, -117.0, -123.0])
    px = rng.uniform(0, 255, (2, 3, 11, 13))
    out = np.empty_like(px)
    pixels.to_model(px, order, scale, shift, out)
    assert np.allclose(out, px[:, order] * scale[None, :, None, None] + shift[None, :, None, None], rtol=1e-14)

    px = np.concatenate([px, px])
    g = rng.standard_normal(px.shape)
    g[1] = 0  # an image with no gradient must stay as it is
    g[2, 1, 3, 4] = np.nan  # so must one with a NaN or an Inf in its gradient
    g[3, 0, 0, 0] = -np.inf
    ref = px.copy()
    gpix = np.empty_like(g)
    gpix[:, order] = g * scale[None, :, None, None]
    ref[0] = np.clip(ref[0] + 7.0 / np.abs(gpix[0]).mean() * gpix[0], 10.0, 240.0)
    norm = np.full(4, -1.0)
    pixels.ascent(px, g, order, scale, np.array([7.0]), 10.0, 240.0, norm)
    assert np.allclose(px, ref, rtol=1e-12, atol=1e-12)
    assert np.isclose(norm[0], np.abs(gpix[0]).mean(), rtol=1e-12) and norm[1] == 0
    assert np.isnan(norm[2]) and norm[3] == np.inf


def test_to_uint8_rounds_clips_and_moves_channels_last():
    a = np.array([[[[-3.0, 0.4, 0.6, 254.5, 300.0]]] * 3])
    im = pixels.to_uint8(a)[0]
    assert im.shape == (1, 5, 3) and im.dtype == np.uint8
    assert im[0, :, 0].tolist() == [0, 0, 1, 254, 255]


def test_resize_is_bicubic_like_pil_inside_and_keeps_constants():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, (1, 1, 40, 50)).astype(np.float32)
    out = np.empty((1, 1, 48, 60), np.float32)
    resize.forward(x, out)
    ref = np.asarray(Image.fromarray(x[0, 0], mode="F").resize((60, 48), Image.BICUBIC))
    # PIL renormalises the taps that fall off the edge where we repeat the edge pixel: compare inside
    assert np.abs(out[0, 0, 3:-3, 3:-3] - ref[3:-3, 3:-3]).max() < 1e-3
    c = np.full((2, 3, 9, 9), 77.0, np.float32)
    big = np.empty((2, 3, 11, 11), np.float32)
    resize.forward(c, big)
    assert np.abs(big - 77.0).max() < 1e-4
