"""A plain NumPy forward of Caffe's layer semantics, written from Caffe's own definitions (loops over
pooling windows, its divisor, its rounding), to check what the converter's ONNX computes.

Activations are (N, C, H, W) float64."""
import numpy as np

from classviz.weights import caffe, wire


def conv(x, w, b, stride, pad, group):
    """Caffe Convolution: x (N, C, H, W), w (K, C/group, kh, kw), b (K,) or None."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    cg, kg = x.shape[1] // group, w.shape[0] // group
    y = np.concatenate([np.einsum("nchwij,kcij->nkhw", win[:, g * cg:(g + 1) * cg], w[g * kg:(g + 1) * kg])
                        for g in range(group)], axis=1)
    return y + (b[None, :, None, None] if b is not None else 0)


def pool(x, method, k, s, p):
    """Caffe Pooling (MAX/AVE) with its ceil rounding and its AVE divisor (window clipped to H + p)."""
    n, c, h, w = x.shape
    oh = int(np.ceil((h + 2 * p - k) / s)) + 1
    ow = int(np.ceil((w + 2 * p - k) / s)) + 1
    if p:
        oh -= (oh - 1) * s >= h + p
        ow -= (ow - 1) * s >= w + p
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * s - p, j * s - p
            he, we = min(hs + k, h + p), min(ws + k, w + p)
            size = (he - hs) * (we - ws)
            region = x[:, :, max(hs, 0):min(he, h), max(ws, 0):min(we, w)]
            y[:, :, i, j] = region.max(axis=(2, 3)) if method == 0 else region.sum(axis=(2, 3)) / size
    return y


def lrn(x, size, alpha, beta, k):
    """Caffe LRN ACROSS_CHANNELS: x / (k + alpha/size * sum over the size channels around c of x^2)^beta."""
    sq = np.pad(x * x, ((0, 0), ((size - 1) // 2, size // 2), (0, 0), (0, 0)))
    window = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    return x / (k + alpha / size * window) ** beta


def forward(model_bytes, x):
    """Run the TEST-phase net in caffemodel bytes on x (N, C, H, W); returns {blob name: array} with
    each classifier's output under its top name (what the converter names its outputs)."""
    layers, _ = caffe.read_layers(model_bytes, "reference")
    blobs = {"data": x}  # nets that declare their input in the header
    for la in layers:
        if not la.in_test_phase():
            continue
        t = la.type
        if t in ("Data", "Input"):
            blobs[la.tops[0]] = x
            continue
        if t in ("SoftmaxWithLoss", "Accuracy", "Softmax"):
            continue
        a = blobs[la.bottoms[0]] if la.bottoms else None
        if t == "Convolution":
            p = la.param(caffe.F_CONV)
            b = la.blobs[1] if len(la.blobs) > 1 else None
            y = conv(a, la.blobs[0].astype(np.float64), b, wire.scalar(p, 6, 1), wire.scalar(p, 3, 0),
                     wire.scalar(p, 5, 1))
        elif t == "ReLU":
            y = np.maximum(a, 0)
        elif t == "Pooling":
            p = la.param(caffe.F_POOL)
            y = pool(a, wire.scalar(p, 1, 0), wire.scalar(p, 2), wire.scalar(p, 3, 1), wire.scalar(p, 4, 0))
        elif t == "LRN":
            p = la.param(caffe.F_LRN)
            y = lrn(a, wire.scalar(p, 1, 5), wire.scalar(p, 2, 1.0, float), wire.scalar(p, 3, 0.75, float),
                    wire.scalar(p, 5, 1.0, float))
        elif t == "Concat":
            y = np.concatenate([blobs[b] for b in la.bottoms], axis=1)
        elif t == "InnerProduct":
            w = la.blobs[0].astype(np.float64)
            y = a.reshape(a.shape[0], -1) @ w.reshape(w.shape[-2] if w.ndim > 1 else 1, -1).T + la.blobs[1]
        elif t == "Dropout":
            y = a
        else:
            raise NotImplementedError(t)
        blobs[la.tops[0]] = y
    return blobs
