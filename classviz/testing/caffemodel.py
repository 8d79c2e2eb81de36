"""GoogLeNet-structured `.caffemodel` files with seeded random weights, for tests and benchmarks.

Laid out like BVLC's train_val net as saved by Caffe: a TRAIN and a TEST Data layer, in-place ReLU
and Dropout layers, three classifiers each feeding a SoftmaxWithLoss and an Accuracy layer. Either
in the current `layer` encoding or the legacy V1 `layers` one (enum types, 4-D blob headers)."""
import numpy as np

from . import protobuf as wire
from .googlenet import INCEPTION

V1_CODES = {"Accuracy": 1, "Concat": 3, "Convolution": 4, "Data": 5, "Dropout": 6, "InnerProduct": 14, "LRN": 15,
            "Pooling": 17, "ReLU": 18, "Softmax": 20, "SoftmaxWithLoss": 21}
PARAM_FIELD = {"Convolution": (106, 10), "Pooling": (121, 19), "LRN": (118, 18), "InnerProduct": (117, 17),
               "Concat": (104, 9), "Dropout": (108, 12), "Input": (143, None)}


def blob(array, legacy=False):
    """BlobProto bytes for a float32 array (shape field, or num/channels/height/width when legacy)."""
    a = np.ascontiguousarray(array, "<f4")
    if legacy:
        dims = (1,) * (4 - a.ndim) + a.shape
        head = b"".join(wire.field_varint(f, d) for f, d in zip((1, 2, 3, 4), dims))
    else:
        head = wire.field_bytes(7, wire.field_packed_ints(1, a.shape))
    return head + wire.field_bytes(5, a.tobytes())


def layer(name, type_, bottoms, tops, blobs=(), param=b"", phase=None, legacy=False):
    """LayerParameter (or V1LayerParameter) bytes. param: the type's parameter message bytes;
    phase: 0 (TRAIN) or 1 (TEST) for an include rule, None for always."""
    k = 1 if legacy else 0
    out = [wire.field_bytes((1, 4)[k], name)]
    out.append(wire.field_varint(5, V1_CODES[type_]) if legacy else wire.field_bytes(2, type_))
    out += [wire.field_bytes((3, 2)[k], b) for b in bottoms]
    out += [wire.field_bytes((4, 3)[k], t) for t in tops]
    out += [wire.field_bytes((7, 6)[k], blob(b, legacy)) for b in blobs]
    if phase is not None:
        out.append(wire.field_bytes((8, 32)[k], wire.field_varint(1, phase)))
    if param:
        out.append(wire.field_bytes(PARAM_FIELD[type_][k], param))
    return b"".join(out)


def net(layers, name="GoogleNet", legacy=False):
    """NetParameter bytes from layer bytes."""
    return wire.field_bytes(1, name) + b"".join(wire.field_bytes(2 if legacy else 100, la) for la in layers)


def conv_param(cout, k, stride=1, pad=0, group=1, bias=True):
    """ConvolutionParameter bytes (square kernel)."""
    out = wire.field_varint(1, cout) + wire.field_varint(4, k)
    if stride != 1:
        out += wire.field_varint(6, stride)
    if pad:
        out += wire.field_varint(3, pad)
    if group != 1:
        out += wire.field_varint(5, group)
    if not bias:
        out += wire.field_varint(2, 0)
    return out


def pool_param(method, k, stride, pad=0):
    """PoolingParameter bytes: method 'MAX' or 'AVE'."""
    out = wire.field_varint(1, {"MAX": 0, "AVE": 1}[method]) + wire.field_varint(2, k) + wire.field_varint(3, stride)
    return out + (wire.field_varint(4, pad) if pad else b"")


def lrn_param(size=5, alpha=1e-4, beta=0.75, k=1.0):
    """LRNParameter bytes (ACROSS_CHANNELS)."""
    return wire.field_varint(1, size) + wire.field_float(2, alpha) + wire.field_float(3, beta) + wire.field_float(5, k)


class _Builder:
    def __init__(self, width, seed, classes, legacy):
        self.width, self.classes, self.legacy = width, classes, legacy
        self.rng = np.random.default_rng(seed)
        self.layers = []

    def ch(self, c):
        return max(1, c // self.width)

    def add(self, *a, **kw):
        self.layers.append(layer(*a, legacy=self.legacy, **kw))

    def conv(self, x, cin, cout, k, name, relu, stride=1, pad=0):
        w = (self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.05).astype(np.float32)
        self.add(name, "Convolution", [x], [name], [w, b], conv_param(cout, k, stride, pad))
        self.add(relu, "ReLU", [name], [name])  # in place, as Caffe writes it
        return name, cout

    def fc(self, x, cin, cout, name):
        w = (self.rng.standard_normal((cout, cin)) * np.sqrt(1.0 / cin)).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.05).astype(np.float32)
        self.add(name, "InnerProduct", [x], [name], [w, b], wire.field_varint(1, cout))
        return name

    def pool(self, x, method, k, s, name, pad=0):
        self.add(name, "Pooling", [x], [name], param=pool_param(method, k, s, pad))
        return name

    def head(self, score, tag):
        self.add(f"loss{tag}/loss", "SoftmaxWithLoss", [score, "label"], [f"loss{tag}/loss{tag}"])
        self.add(f"loss{tag}/top-1", "Accuracy", [score, "label"], [f"loss{tag}/top-1"], phase=1)

    def inception(self, x, cin, spec):
        tag, c1, c3r, c3, c5r, c5, cp = spec
        p = f"inception_{tag}/"
        b1, n1 = self.conv(x, cin, self.ch(c1), 1, p + "1x1", p + "relu_1x1")
        r3, _ = self.conv(x, cin, self.ch(c3r), 1, p + "3x3_reduce", p + "relu_3x3_reduce")
        b2, n2 = self.conv(r3, self.ch(c3r), self.ch(c3), 3, p + "3x3", p + "relu_3x3", pad=1)
        r5, _ = self.conv(x, cin, self.ch(c5r), 1, p + "5x5_reduce", p + "relu_5x5_reduce")
        b3, n3 = self.conv(r5, self.ch(c5r), self.ch(c5), 5, p + "5x5", p + "relu_5x5", pad=2)
        pp = self.pool(x, "MAX", 3, 1, p + "pool", pad=1)
        b4, n4 = self.conv(pp, cin, self.ch(cp), 1, p + "pool_proj", p + "relu_pool_proj")
        self.add(p + "output", "Concat", [b1, b2, b3, b4], [p + "output"])
        return p + "output", n1 + n2 + n3 + n4

    def aux(self, x, cin, tag):
        p = f"loss{tag}/"
        y = self.pool(x, "AVE", 5, 3, p + "ave_pool")
        y, c = self.conv(y, cin, self.ch(128), 1, p + "conv", p + "relu_conv")
        y = self.fc(y, c * 16, self.ch(1024), p + "fc")
        self.add(p + "relu_fc", "ReLU", [y], [y])
        self.add(p + "drop_fc", "Dropout", [y], [y], param=wire.field_float(1, 0.7))
        self.head(self.fc(y, self.ch(1024), self.classes, p + "classifier"), tag)

    def build(self):
        for phase in (0, 1):
            self.add("data", "Data", [], ["data", "label"], phase=phase)
        x, c = self.conv("data", 3, self.ch(64), 7, "conv1/7x7_s2", "conv1/relu_7x7", stride=2, pad=3)
        x = self.pool(x, "MAX", 3, 2, "pool1/3x3_s2")
        self.add("pool1/norm1", "LRN", [x], ["pool1/norm1"], param=lrn_param())
        x, c = self.conv("pool1/norm1", c, self.ch(64), 1, "conv2/3x3_reduce", "conv2/relu_3x3_reduce")
        x, c = self.conv(x, c, self.ch(192), 3, "conv2/3x3", "conv2/relu_3x3", pad=1)
        self.add("conv2/norm2", "LRN", [x], ["conv2/norm2"], param=lrn_param())
        x = self.pool("conv2/norm2", "MAX", 3, 2, "pool2/3x3_s2")
        for spec in INCEPTION:
            if isinstance(spec, str):
                x = self.pool(x, "MAX", 3, 2, spec + "/3x3_s2")
                continue
            x, c = self.inception(x, c, spec)
            if spec[0] in ("4a", "4d"):
                self.aux(x, c, 1 if spec[0] == "4a" else 2)
        x = self.pool(x, "AVE", 7, 1, "pool5/7x7_s1")
        self.add("pool5/drop_7x7_s1", "Dropout", [x], [x], param=wire.field_float(1, 0.4))
        self.head(self.fc(x, c, self.classes, "loss3/classifier"), 3)
        return net(self.layers, legacy=self.legacy)


def googlenet_caffemodel(width=1, seed=0, classes=1000, legacy=False):
    """Bytes of a BVLC-GoogLeNet-structured caffemodel with seeded random weights.

    width: channel divisor (1 = the real model's shapes, about 53 MB; 8 = narrow); legacy: write
    the V1 `layers` encoding."""
    return _Builder(width, seed, classes, legacy).build()


def write_googlenet_caffemodel(path, width=1, seed=0, classes=1000, legacy=False):
    """Write `googlenet_caffemodel(...)` to `path`; returns path."""
    with open(path, "wb") as f:
        f.write(googlenet_caffemodel(width, seed, classes, legacy))
    return path
