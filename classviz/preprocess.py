"""How a model wants its pixels: channel order, value range, mean and std.

    model_input[:, c] = (pixel[:, channels[c]] * range / 255 - mean[c]) / std[c]

with pixels RGB in [0, 255] and mean/std listed in the model's own channel order. A model's
description is read from its ONNX metadata (key `classviz.preprocess`, written by classviz's Caffe
converter), else recognised from the graph, else given by the caller."""
import json
from typing import NamedTuple

import numpy as np

from .errors import ArgumentError, ModelError

METADATA_KEY = "classviz.preprocess"


class Preprocess(NamedTuple):
    """channels: 'BGR' or 'RGB' (the model's channel order); range: pixel scale the model expects
    (255 or 1); mean, std: 3 floats each in the model's channel order and in `range` units."""
    channels: str
    range: float
    mean: tuple
    std: tuple

    def order(self):
        """(3,) int64: model channel c reads RGB channel order[c]."""
        return np.array(["RGB".index(ch) for ch in self.channels], np.int64)

    def scale(self, dtype=np.float32):
        """(3,) of `dtype`: d model_input / d pixel per model channel."""
        return (self.range / 255.0 / np.asarray(self.std, np.float64)).astype(dtype)

    def shift(self, dtype=np.float32):
        """(3,) of `dtype`: model input of a 0 pixel per model channel."""
        return (-np.asarray(self.mean, np.float64) / np.asarray(self.std, np.float64)).astype(dtype)

    def to_json(self):
        """The metadata string that describes this preprocessing (str, JSON)."""
        return json.dumps({"channels": self.channels, "range": self.range, "mean": list(self.mean),
                           "std": list(self.std)})


CAFFE = Preprocess("BGR", 255.0, (104.0, 117.0, 123.0), (1.0, 1.0, 1.0))
TORCHVISION = Preprocess("RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# TensorFlow's EfficientNet-Lite builder: (pixel - 127) / 128 (the PyTorch port's own demo uses
# torchvision's values, which its weights were not trained with)
EFFICIENTNET_LITE = Preprocess("RGB", 255.0, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0))
PRESETS = {"caffe": CAFFE, "torchvision": TORCHVISION, "efficientnet_lite": EFFICIENTNET_LITE}


def parse(text, where):
    """A Preprocess from its JSON description `text`; `where` names the source in errors."""
    try:
        d = json.loads(text)
        p = Preprocess(str(d["channels"]).upper(), float(d["range"]), tuple(map(float, d["mean"])),
                       tuple(map(float, d["std"])))
    except (ValueError, TypeError, KeyError) as e:
        raise ModelError(f"{where}: bad preprocessing description ({type(e).__name__}: {e})") from None
    if sorted(p.channels) != sorted("RGB") or len(p.mean) != 3 or len(p.std) != 3 or min(p.std) <= 0 \
            or p.range <= 0:
        raise ModelError(f"{where}: bad preprocessing description {text!r}")
    return p


def for_model(model, given=None):
    """The preprocessing for `model` (a weights.Model) and where it came from.

    given: None, a preset name ('caffe', 'torchvision') or a Preprocess; it overrides the model.
    Returns (Preprocess, source) with source one of 'given', 'metadata', 'graph'."""
    if given is not None:
        if isinstance(given, Preprocess):
            return given, "given"
        if given not in PRESETS:
            raise ArgumentError(f"unknown preprocessing {given!r}; choose one of {', '.join(PRESETS)}")
        return PRESETS[given], "given"
    if METADATA_KEY in model.metadata:
        return parse(model.metadata[METADATA_KEY], f"metadata of {model.source}"), "metadata"
    ops = {n.op for n in model.nodes}
    # torchvision's GoogLeNet has no LRN and (with transform_input) an input prologue; every
    # Caffe-derived GoogLeNet keeps BVLC's two LRNs
    if "LRN" in ops and not any(n.name == "input_prologue" for n in model.nodes):
        return CAFFE, "graph"
    return TORCHVISION, "graph"


def describe(p):
    """One line naming a preprocessing: 'caffe (BGR, 0-255, mean 104/117/123)' or similar."""
    name = next((k for k, v in PRESETS.items() if v == p), "custom")
    mean = "/".join(f"{m:g}" for m in p.mean)
    std = "" if set(p.std) == {1.0} else ", std " + "/".join(f"{s:g}" for s in p.std)
    return f"{name} ({p.channels}, 0-{p.range:g}, mean {mean}{std})"
