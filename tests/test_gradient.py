"""Whole-network gradients of every head of the narrow models against central finite differences
in float64 (1e-5 relative), and against PyTorch's autograd on the same weights where installed."""
import os
import sys

import numpy as np
import pytest

import classviz
from support.ort import random_image


@pytest.mark.parametrize("head_index", [0, 1, 2])
def test_gradient_matches_finite_differences(model_path, flavour, head_index):
    net = classviz.load(model_path(flavour, 8), backend="cpu")
    if head_index >= len(net.heads):
        pytest.skip(f"{flavour} has {len(net.heads)} head(s)")
    head = net.heads[head_index]
    rng = np.random.default_rng(head_index)
    x = random_image(rng, 2, 224, np.float64)
    classes = [3, 917]
    obj, grad = net.gradient(x, classes, head=head)
    scores = net.forward(x, head=head)
    np.testing.assert_array_equal(obj, scores[[0, 1], classes])
    assert grad.shape == x.shape and grad.dtype == np.float64
    # pixel units (inputs are ~60): small enough that +-h crosses no ReLU/max-pool kink along d,
    # large enough that float64 rounding stays below 1e-6 of the derivative
    h = 1e-5
    for _ in range(3):
        d = rng.standard_normal(x.shape)
        fp = net.forward(x + h * d, head=head)[[0, 1], classes].sum()
        fm = net.forward(x - h * d, head=head)[[0, 1], classes].sum()
        fd = (fp - fm) / (2 * h)
        an = np.vdot(grad, d)
        assert abs(fd - an) <= 1e-5 * abs(an), (head, fd, an)


def test_feature_head_objective_is_channel_mean(model_path):
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    x = random_image(np.random.default_rng(5), 1, 224, np.float64)
    obj, grad = net.gradient(x, 2, head="inception_4c/output")
    assert np.isclose(obj[0], net.forward(x, head="inception_4c/output")[0, 2].mean())
    d = np.random.default_rng(6).standard_normal(x.shape)
    f = lambda z: net.forward(z, head="inception_4c/output")[0, 2].mean()
    fd = (f(x + 1e-5 * d) - f(x - 1e-5 * d)) / 2e-5
    assert abs(fd - np.vdot(grad, d)) <= 1e-5 * abs(fd)


def test_gradient_float32_agrees_with_float64(model_path):
    net = classviz.load(model_path("torchvision", 8), backend="cpu")
    x = random_image(np.random.default_rng(7), 2, 224, np.float64)
    _, g64 = net.gradient(x, [1, 2])
    _, g32 = net.gradient(x.astype(np.float32), [1, 2])
    assert g32.dtype == np.float32
    # near-ties in max-pool may route a few pixels differently in float32: compare in norm
    assert np.linalg.norm(g32 - g64) / np.linalg.norm(g64) < 1e-3


def test_gradient_matches_pytorch(model_path, flavour):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    from torch_peer import TorchNet, gradient
    net = classviz.load(model_path(flavour), backend="cpu")
    x = random_image(np.random.default_rng(8), 2, 224, np.float64)
    for head in net.heads:
        tnet = TorchNet(net.model, head, dtype=torch.float64)
        obj_t, g_t = gradient(tnet, x, [10, 20])
        obj, g = net.gradient(x, [10, 20], head=head)
        np.testing.assert_allclose(obj, obj_t, rtol=1e-10)
        err = np.abs(g - g_t).max() / np.abs(g_t).max()
        print(f"{flavour} {head}: max|grad - torch| / max|torch| = {err:.1e}")
        assert err < 1e-9
