"""Forward results against onnxruntime on all three flavours: every head, several seeds, batch 1
and 3, sizes 224 and 259 (where a head cannot take 259, the error must say so)."""
import numpy as np
import pytest

import classviz
from support.ort import ort_outputs, random_image

FEATURES = ["inception_4c/output", "pool1/3x3_s2"]


@pytest.mark.parametrize("n,size,seed", [(1, 224, 0), (3, 224, 1), (2, 259, 2)])
def test_every_head_matches_onnxruntime(model_path, flavour, n, size, seed):
    path = model_path(flavour)
    net = classviz.load(path, backend="cpu")
    x = random_image(np.random.default_rng(seed), n, size)
    for head in list(net.heads) + FEATURES:
        try:
            ours = net.forward(x, head=head)
        except classviz.ArgumentError as e:
            # Caffe-style pools/flatten fix the classifier input at 224: a one-line refusal is right
            assert size != 224 and head in net.heads, f"{head} refused {size}: {e}"
            assert "does not accept this input size" in str(e) and "\n" not in str(e)
            continue
        ref = ort_outputs(path, x, [head])[head]
        assert ours.shape == ref.shape
        err = np.abs(ours - ref).max() / np.abs(ref).max()
        print(f"{flavour} {head} N={n} {size}px max|diff|/max|ref| = {err:.2e}")
        assert err < 1e-4, (head, err)


def test_torchvision_main_head_takes_any_size(model_path):
    net = classviz.load(model_path("torchvision"), backend="cpu")
    x = random_image(np.random.default_rng(3), 1, 259)
    ref = ort_outputs(model_path("torchvision"), x, [net.heads[0]])[net.heads[0]]
    assert np.abs(net.forward(x) - ref).max() / np.abs(ref).max() < 1e-4


def test_float64_forward_matches_float32(model_path):
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    x = random_image(np.random.default_rng(4), 2, 224)
    y32, y64 = net.forward(x), net.forward(x.astype(np.float64))
    assert y64.dtype == np.float64
    assert np.abs(y32 - y64).max() / np.abs(y64).max() < 1e-5
