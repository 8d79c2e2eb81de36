"""The common ImageNet CNNs as ONNX files with seeded random weights, written the way PyTorch's two
exporters write them, for tests and benchmarks: AlexNet (Caffe's, with grouped convolutions and
LRN), VGG-16, ResNet-18, ResNet-50, MobileNetV2, EfficientNet-B0, EfficientNet-Lite0 and
Inception-v3 (299x299). Layer shapes, strides, pads and block structure follow torchvision (and,
for Lite0, the TensorFlow "same" padding of its port); `width` scales every channel count, so a
test can run the real structure at a fraction of its cost. Their pictures are noise.

    from classviz.testing import write_architecture
    write_architecture("r50.onnx", "resnet50", style="dynamo", width=0.125, seed=0)

Styles, as measured on real exports (benchmarks/realnet.py writes both from PyTorch):
- "legacy" (torch.onnx.export(..., dynamo=False), opset 13): BatchNormalization folded into the
  convolution, Clip with min/max inputs, GlobalAveragePool + Flatten, Gemm; a stride-2 "same"
  convolution gets a Pad node whose pads a Constant/ConstantOfShape/Concat/Reshape/Slice/
  Transpose/Cast chain computes; weights inside the file.
- "dynamo" (the default exporter since PyTorch 2.9, opset 18): BatchNormalization nodes kept,
  asymmetric pads written on the Conv itself, ReduceMean with its axes as an input, Reshape to
  (1, features), Gemm; weights in an external `<file>.data`.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ARCHITECTURES = ("alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0",
                 "efficientnet_lite0", "inception_v3")
STYLES = ("legacy", "dynamo")
INPUT_SIZE = {name: 299 if name == "inception_v3" else 224 for name in ARCHITECTURES}


class _Graph:
    """Collects nodes and seeded weights in one exporter style; every layer method takes and
    returns (tensor name, channels)."""

    def __init__(self, style, width, seed, classes):
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
        self.style, self.width, self.classes = style, width, classes
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def ch(self, c):
        """A channel count scaled by the width (at least 4)."""
        return max(4, int(round(c * self.width)))

    def name(self, kind):
        self.count += 1
        return f"{kind}_{self.count}"

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def f32(self, a):
        return np.asarray(a, np.float32)

    # -- layers ---------------------------------------------------------------------------------
    def conv(self, x, cin, cout, k, s=1, pads=None, group=1, bn=True, act="relu"):
        """Conv (+ BatchNormalization) (+ activation). k: int or (kh, kw); pads: (top, left,
        bottom, right), default k // 2 on each side; act: 'relu', 'relu6', 'silu' or None. A
        convolution before a BatchNormalization has no bias (torchvision's), unless folded."""
        kh, kw = (k, k) if isinstance(k, int) else k
        pads = pads or (kh // 2, kw // 2, kh // 2, kw // 2)
        n = self.name("conv")
        w = self.rng.standard_normal((cout, cin // group, kh, kw)) * np.sqrt(2.0 / (cin // group * kh * kw))
        b = self.rng.standard_normal(cout) * 0.05
        if bn:
            gamma, beta = self.rng.uniform(0.5, 1.5, cout), self.rng.standard_normal(cout) * 0.1
            mean, var = self.rng.standard_normal(cout) * 0.1, self.rng.uniform(0.5, 1.5, cout)
        if bn and self.style == "legacy":  # eval-mode export folds the BatchNormalization
            k_ = gamma / np.sqrt(var + 1e-5)
            w, b = w * k_[:, None, None, None], (b - mean) * k_ + beta
        ins = [x, self.const(n + ".weight", self.f32(w))]
        if not bn or self.style == "legacy":
            ins.append(self.const(n + ".bias", self.f32(b)))
        if self.style == "legacy" and pads[:2] != pads[2:]:
            ins[0] = self._legacy_pad(x, pads)
            pads = (0, 0, 0, 0)
        y = self.node("Conv", ins, n, kernel_shape=[kh, kw], strides=[s, s], pads=list(pads), group=group)
        if bn and self.style == "dynamo":
            names = [self.const(f"{n}.bn.{p}", self.f32(a)) for p, a in
                     zip(("weight", "bias", "running_mean", "running_var"), (gamma, beta, mean, var))]
            y = self.node("BatchNormalization", [y] + names, n + "/bn", epsilon=1e-5)
        return self.act(y, act), cout

    def _legacy_pad(self, x, pads):
        # what the legacy exporter writes for F.pad(x, (l, r, t, b)) with a pad list it computed:
        # the ONNX pads assembled at run time from constants
        n = self.name("pad")
        t, l, b, r = pads
        c = lambda suffix, a: self.node("Constant", [], f"{n}/const_{suffix}", value=numpy_helper.from_array(np.asarray(a)))
        four = c("four", np.array([4], np.int64))
        zeros = self.node("ConstantOfShape", [four], f"{n}/zeros", value=numpy_helper.from_array(np.zeros(1, np.int64)))
        flat = self.node("Concat", [c("torch_pads", np.array([l, r, t, b], np.int64)), zeros], f"{n}/concat", axis=0)
        pairs = self.node("Reshape", [flat, c("pairs", np.array([-1, 2], np.int64))], f"{n}/pairs")
        rev = self.node("Slice", [pairs, c("st", np.array([-1], np.int64)), c("en", np.array([-2 ** 63 + 1], np.int64)),
                                  c("ax", np.array([0], np.int64)), c("sp", np.array([-1], np.int64))], f"{n}/reversed")
        tr = self.node("Transpose", [rev], f"{n}/transposed", perm=[1, 0])
        onnx_pads = self.node("Cast", [self.node("Reshape", [tr, c("flat", np.array([-1], np.int64))], f"{n}/flat")],
                              f"{n}/cast", to=TensorProto.INT64)
        return self.node("Pad", [x, onnx_pads, c("value", np.array(0, np.float32))], n, mode="constant")

    def act(self, x, act):
        if act is None:
            return x
        if act == "relu":
            return self.node("Relu", [x], self.name("relu"))
        if act == "relu6":
            n = self.name("relu6")
            lo, hi = self.const(n + ".min", np.array(0, np.float32)), self.const(n + ".max", np.array(6, np.float32))
            return self.node("Clip", [x, lo, hi], n)
        if act == "silu":
            n = self.name("silu")
            return self.node("Mul", [x, self.node("Sigmoid", [x], n + "/sigmoid")], n)
        raise ValueError(act)

    def pool(self, x, op, k, s, pads=(0, 0, 0, 0), ceil=0, include_pad=None):
        attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=list(pads), ceil_mode=ceil)
        if include_pad is not None:
            attrs["count_include_pad"] = include_pad
        return self.node(op, [x], self.name(op.lower()), **attrs)

    def lrn(self, x):
        return self.node("LRN", [x], self.name("lrn"), size=5, alpha=1e-4, beta=0.75, bias=1.0)

    def add(self, a, b):
        return self.node("Add", [a, b], self.name("add"))

    def concat(self, xs):
        return self.node("Concat", xs, self.name("concat"), axis=1)

    def mean_hw(self, x, axes):
        """(N, C, H, W) -> (N, C, 1, 1): GlobalAveragePool (legacy), or ReduceMean with `axes`
        (H and W, either sign) as an input (dynamo)."""
        n = self.name("mean")
        if self.style == "legacy":
            return self.node("GlobalAveragePool", [x], n)
        return self.node("ReduceMean", [x, self.const(n + ".axes", np.array(axes, np.int64))], n, keepdims=1)

    def global_pool(self, x, c):
        """(N, C, H, W) -> (N, C), as each exporter writes it."""
        return self.flatten(self.mean_hw(x, (-1, -2)), c)

    def flatten(self, x, features):
        n = self.name("flatten")
        if self.style == "legacy":
            return self.node("Flatten", [x], n, axis=1)
        return self.node("Reshape", [x, self.const(n + ".shape", np.array([1, features], np.int64))], n)

    def fc(self, x, cin, cout, act=None):
        n = self.name("fc")
        w = self.rng.standard_normal((cout, cin)) * np.sqrt(2.0 / cin)
        y = self.node("Gemm", [x, self.const(n + ".weight", self.f32(w)),
                               self.const(n + ".bias", self.f32(self.rng.standard_normal(cout) * 0.05))], n, transB=1)
        return self.act(y, act)

    def squeeze_excite(self, x, c, squeezed, act):
        n = self.name("se")
        s, _ = self.conv(self.mean_hw(x, (2, 3)), c, squeezed, 1, bn=False, act=act)
        s, _ = self.conv(s, squeezed, c, 1, bn=False, act=None)
        return self.node("Mul", [x, self.node("Sigmoid", [s], n + "/gate")], n + "/scale")

    def save(self, path, output, size, metadata=None):
        graph = helper.make_graph(self.nodes, "classviz_zoo",
                                  [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
                                  [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, self.classes])],
                                  self.inits)
        opset = 13 if self.style == "legacy" else 18
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="classviz.testing.zoo")
        for k, v in (metadata or {}).items():
            model.metadata_props.add(key=k, value=v)
        path = os.fspath(path)
        if self.style == "dynamo":
            data = os.path.basename(path) + ".data"
            if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(path)), data)):
                os.remove(os.path.join(os.path.dirname(os.path.abspath(path)), data))  # onnx appends otherwise
            onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data,
                      size_threshold=1024)
        else:
            onnx.save(model, path)
        return path


# -- architectures: each takes the _Graph and returns (output tensor) ---------------------------

def _alexnet(g):
    # Caffe's bvlc_alexnet (LRN, two groups in conv2/4/5) at torchvision's 224 geometry
    x, c = g.conv("input", 3, g.ch(96), 11, 4, pads=(2, 2, 2, 2), bn=False)
    x = g.pool(g.lrn(x), "MaxPool", 3, 2)
    x, c = g.conv(x, c, g.ch(256), 5, group=2, bn=False)
    x = g.pool(g.lrn(x), "MaxPool", 3, 2)
    x, c = g.conv(x, c, g.ch(384), 3, bn=False)
    x, c = g.conv(x, c, g.ch(384), 3, group=2, bn=False)
    x, c = g.conv(x, c, g.ch(256), 3, group=2, bn=False)
    x = g.flatten(g.pool(x, "MaxPool", 3, 2), c * 36)
    x = g.fc(x, c * 36, g.ch(4096), "relu")
    x = g.fc(x, g.ch(4096), g.ch(4096), "relu")
    return g.fc(x, g.ch(4096), g.classes)


def _vgg16(g):
    x, c = "input", 3
    for block in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for width in block:
            x, c = g.conv(x, c, g.ch(width), 3, bn=False)
        x = g.pool(x, "MaxPool", 2, 2)
    x = g.flatten(x, c * 49)
    x = g.fc(x, c * 49, g.ch(4096), "relu")
    x = g.fc(x, g.ch(4096), g.ch(4096), "relu")
    return g.fc(x, g.ch(4096), g.classes)


def _resnet(g, blocks, bottleneck):
    x, c = g.conv("input", 3, g.ch(64), 7, 2)
    x = g.pool(x, "MaxPool", 3, 2, pads=(1, 1, 1, 1))
    for stage, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for i in range(n):
            s = 2 if stage > 0 and i == 0 else 1
            out = g.ch(width * 4) if bottleneck else g.ch(width)
            if bottleneck:
                y, cy = g.conv(x, c, g.ch(width), 1)
                y, cy = g.conv(y, cy, g.ch(width), 3, s)
                y, cy = g.conv(y, cy, out, 1, act=None)
            else:
                y, cy = g.conv(x, c, out, 3, s)
                y, cy = g.conv(y, cy, out, 3, act=None)
            shortcut = x if (s == 1 and c == out) else g.conv(x, c, out, 1, s, act=None)[0]
            x, c = g.act(g.add(y, shortcut), "relu"), out
    return g.fc(g.global_pool(x, c), c, g.classes)


def _mobilenet_v2(g):
    x, c = g.conv("input", 3, g.ch(32), 3, 2, act="relu6")
    for t, width, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                           (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride, out = (s if i == 0 else 1), g.ch(width)
            y, cy = (x, c) if t == 1 else g.conv(x, c, c * t, 1, act="relu6")
            y, cy = g.conv(y, cy, cy, 3, stride, group=cy, act="relu6")
            y, cy = g.conv(y, cy, out, 1, act=None)
            x, c = (g.add(y, x) if stride == 1 and c == out else y), out
    x, c = g.conv(x, c, g.ch(1280), 1, act="relu6")
    return g.fc(g.global_pool(x, c), c, g.classes)


EFFICIENT_BLOCKS = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                    (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))  # (expansion, kernel, stride, channels, repeats)


def _efficientnet(g, lite):
    act = "relu6" if lite else "silu"
    size = 224

    def same(k, s, n):  # TensorFlow's "same" padding of the Lite port: extra pad at the end
        if not lite:
            return (k // 2,) * 4
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        return (total // 2, total // 2, total - total // 2, total - total // 2)

    x, c = g.conv("input", 3, g.ch(32), 3, 2, pads=same(3, 2, size), act=act)
    size //= 2
    for e, k, s, width, n in EFFICIENT_BLOCKS:
        for i in range(n):
            stride, out = (s if i == 0 else 1), g.ch(width)
            y, cy = (x, c) if e == 1 else g.conv(x, c, c * e, 1, act=act)
            y, cy = g.conv(y, cy, cy, k, stride, pads=same(k, stride, size), group=cy, act=act)
            if not lite:
                y = g.squeeze_excite(y, cy, max(1, c // 4), act)
            y, cy = g.conv(y, cy, out, 1, act=None)
            size = -(-size // stride)
            x, c = (g.add(y, x) if stride == 1 and c == out else y), out
    x, c = g.conv(x, c, g.ch(1280), 1, act=act)
    return g.fc(g.global_pool(x, c), c, g.classes)


def _inception_v3(g):
    conv = lambda x, cin, cout, k, s=1, pads=None: g.conv(x, cin, g.ch(cout), k, s, pads=pads or (0, 0, 0, 0)
                                                           if k == 1 or s == 2 else None)
    x, c = conv("input", 3, 32, 3, 2)
    x, c = g.conv(x, c, g.ch(32), 3, pads=(0, 0, 0, 0))
    x, c = conv(x, c, 64, 3)
    x = g.pool(x, "MaxPool", 3, 2)
    x, c = conv(x, c, 80, 1)
    x, c = g.conv(x, c, g.ch(192), 3, pads=(0, 0, 0, 0))
    x = g.pool(x, "MaxPool", 3, 2)

    def avg_branch(x, c, cout):
        p = g.pool(x, "AveragePool", 3, 1, pads=(1, 1, 1, 1), include_pad=1)
        return conv(p, c, cout, 1)

    def inception_a(x, c, pool_features):
        b1 = conv(x, c, 64, 1)
        b5 = conv(*conv(x, c, 48, 1), 64, 5)
        b3 = conv(*conv(*conv(x, c, 64, 1), 96, 3), 96, 3)
        bp = avg_branch(x, c, pool_features)
        return g.concat([b[0] for b in (b1, b5, b3, bp)]), sum(b[1] for b in (b1, b5, b3, bp))

    def inception_b(x, c):
        b3 = conv(x, c, 384, 3, 2)
        bd = conv(*conv(*conv(x, c, 64, 1), 96, 3), 96, 3, 2)
        bp = g.pool(x, "MaxPool", 3, 2)
        return g.concat([b3[0], bd[0], bp]), b3[1] + bd[1] + c

    def inception_c(x, c, c7):
        b1 = conv(x, c, 192, 1)
        b7 = conv(*conv(*conv(x, c, c7, 1), c7, (1, 7)), 192, (7, 1))
        bd = conv(x, c, c7, 1)
        for k, cout in (((7, 1), c7), ((1, 7), c7), ((7, 1), c7), ((1, 7), 192)):
            bd = conv(*bd, cout, k)
        bp = avg_branch(x, c, 192)
        return g.concat([b[0] for b in (b1, b7, bd, bp)]), sum(b[1] for b in (b1, b7, bd, bp))

    def inception_d(x, c):
        b3 = conv(*conv(x, c, 192, 1), 320, 3, 2)
        b7 = conv(x, c, 192, 1)
        for k, cout, s in (((1, 7), 192, 1), ((7, 1), 192, 1), (3, 192, 2)):
            b7 = conv(*b7, cout, k, s)
        bp = g.pool(x, "MaxPool", 3, 2)
        return g.concat([b3[0], b7[0], bp]), b3[1] + b7[1] + c

    def inception_e(x, c):
        b1 = conv(x, c, 320, 1)
        b3 = conv(x, c, 384, 1)
        b3s = [conv(*b3, 384, (1, 3)), conv(*b3, 384, (3, 1))]
        bd = conv(*conv(x, c, 448, 1), 384, 3)
        bds = [conv(*bd, 384, (1, 3)), conv(*bd, 384, (3, 1))]
        bp = avg_branch(x, c, 192)
        parts = [b1] + b3s + bds + [bp]
        return g.concat([b[0] for b in parts]), sum(b[1] for b in parts)

    for pool_features in (32, 64, 64):
        x, c = inception_a(x, c, pool_features)
    x, c = inception_b(x, c)
    for c7 in (128, 160, 160, 192):
        x, c = inception_c(x, c, c7)
    x, c = inception_d(x, c)
    for _ in range(2):
        x, c = inception_e(x, c)
    return g.fc(g.global_pool(x, c), c, g.classes)


_BUILD = {"alexnet": _alexnet, "vgg16": _vgg16, "resnet18": lambda g: _resnet(g, (2, 2, 2, 2), False),
          "resnet50": lambda g: _resnet(g, (3, 4, 6, 3), True), "mobilenet_v2": _mobilenet_v2,
          "efficientnet_b0": lambda g: _efficientnet(g, False), "efficientnet_lite0": lambda g: _efficientnet(g, True),
          "inception_v3": _inception_v3}


def write_architecture(path, name, style="legacy", width=0.125, seed=0, classes=1000, metadata=None):
    """Write architecture `name` (one of ARCHITECTURES) as an ONNX file at `path` in exporter
    `style` ('legacy' or 'dynamo', see the module docstring), every channel count scaled by
    `width` (1.0: the real network's), weights drawn from `seed`, `classes` outputs; metadata:
    {key: value} for the file's metadata_props. Input (1, 3, S, S) with S = INPUT_SIZE[name].
    Returns the path (str); a dynamo-style file has its weights in `path` + '.data' beside it."""
    if name not in _BUILD:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    g = _Graph(style, width, seed, classes)
    out = _BUILD[name](g)
    return g.save(path, out, INPUT_SIZE[name], metadata)
