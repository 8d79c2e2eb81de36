"""GoogLeNet-structured ONNX files with seeded random weights, for tests and benchmarks.

Three flavours, shaped like the exports people have:
- "zoo": the ONNX model zoo's googlenet (opset 9, input `data_0`, Caffe pools written as explicit
  end padding, LRN, AveragePool 7x7, Reshape, Gemm, Softmax output; no auxiliary heads);
- "bvlc_aux": BVLC GoogLeNet with both auxiliary classifiers (opset 13, input `data`, ceil_mode
  pools, outputs loss1/loss3/loss2 classifiers listed out of depth order on purpose);
- "torchvision": torch.onnx.export of torchvision's googlenet (opset 17, transform_input prologue,
  Conv+BatchNormalization, ceil_mode pools, "5x5" branch that is really 3x3, GlobalAveragePool,
  Flatten, Gemm).
`width` divides every channel count (8 gives the narrow variant used for finite differences).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLAVOURS = ("zoo", "bvlc_aux", "torchvision")

# (name, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj): the same numbers in Caffe and torchvision
INCEPTION = [("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64), "pool3",
             ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
             ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
             ("4e", 256, 160, 320, 32, 128, 128), "pool4",
             ("5a", 256, 160, 320, 32, 128, 128), ("5b", 384, 192, 384, 48, 128, 128)]


class _Builder:
    def __init__(self, flavour, width, seed, classes):
        self.flavour, self.width, self.classes = flavour, width, classes
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []

    def ch(self, c):
        return max(1, c // self.width)

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, output, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def conv(self, x, cin, cout, k, name, stride=1, pad=0):
        """Conv (+ BatchNormalization for torchvision) + Relu; returns (tensor, cout)."""
        w = (self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        tv = self.flavour == "torchvision"
        ins = [x, self.const(name + ".weight", w)]
        if not tv:
            ins.append(self.const(name + ".bias", self.rng.standard_normal(cout).astype(np.float32) * 0.05))
        y = self.node("Conv", ins, name + "_conv", name, kernel_shape=[k, k], strides=[stride, stride],
                      pads=[pad] * 4)
        if tv:
            bn = [self.rng.uniform(0.5, 1.5, cout), self.rng.standard_normal(cout) * 0.1,
                  self.rng.standard_normal(cout) * 0.1, self.rng.uniform(0.5, 1.5, cout)]
            names = [self.const(f"{name}.bn.{p}", a.astype(np.float32)) for p, a in
                     zip(("weight", "bias", "running_mean", "running_var"), bn)]
            y = self.node("BatchNormalization", [y] + names, name + "_bn", name + "/bn", epsilon=1e-3)
        return self.node("Relu", [y], name + "_relu", name + "/relu"), cout

    def maxpool(self, x, k, s, name, pad=0):
        if self.flavour == "zoo":
            # Caffe's ceil rounding, written as one extra row/column of end padding where needed
            end = 0 if (k, s) == (3, 1) else 1
            return self.node("MaxPool", [x], name, name, kernel_shape=[k, k], strides=[s, s],
                             pads=[pad, pad, pad + end, pad + end])
        return self.node("MaxPool", [x], name, name, kernel_shape=[k, k], strides=[s, s],
                         pads=[pad] * 4, ceil_mode=1)

    def lrn(self, x, name):
        if self.flavour == "torchvision":
            return x
        return self.node("LRN", [x], name, name, size=5, alpha=1e-4, beta=0.75, bias=1.0)

    def dropout(self, x, name):
        return self.node("Dropout", [x], name, name)

    def fc(self, x, cin, cout, name):
        w = (self.rng.standard_normal((cout, cin)) * np.sqrt(1.0 / cin)).astype(np.float32)
        b = self.rng.standard_normal(cout).astype(np.float32) * 0.05
        return self.node("Gemm", [x, self.const(name + ".weight", w), self.const(name + ".bias", b)],
                         name, name, transB=1)

    def flatten(self, x, features, name):
        if self.flavour == "zoo":
            return self.node("Reshape", [x, self.const(name + ".shape", np.array([-1, features], np.int64))],
                             name, name)
        return self.node("Flatten", [x], name, name, axis=1)

    def inception(self, x, cin, spec):
        tag, c1, c3r, c3, c5r, c5, cp = spec
        p = f"inception_{tag}/"
        k5 = 3 if self.flavour == "torchvision" else 5
        b1, n1 = self.conv(x, cin, self.ch(c1), 1, p + "1x1")
        b2, n2 = self.conv(self.conv(x, cin, self.ch(c3r), 1, p + "3x3_reduce")[0], self.ch(c3r), self.ch(c3), 3, p + "3x3", pad=1)
        b3, n3 = self.conv(self.conv(x, cin, self.ch(c5r), 1, p + "5x5_reduce")[0], self.ch(c5r), self.ch(c5), k5, p + "5x5", pad=k5 // 2)
        b4, n4 = self.conv(self.maxpool(x, 3, 1, p + "pool", pad=1), cin, self.ch(cp), 1, p + "pool_proj")
        return self.node("Concat", [b1, b2, b3, b4], p + "output", p + "output", axis=1), n1 + n2 + n3 + n4

    def aux(self, x, cin, tag):
        p = f"loss{tag}/"
        y = self.node("AveragePool", [x], p + "ave_pool", p + "ave_pool", kernel_shape=[5, 5], strides=[3, 3],
                      ceil_mode=1)
        y, c = self.conv(y, cin, self.ch(128), 1, p + "conv")
        y = self.flatten(y, c * 16, p + "flatten")
        y = self.node("Relu", [self.fc(y, c * 16, self.ch(1024), p + "fc")], p + "fc_relu", p + "relu_fc")
        return self.fc(self.dropout(y, p + "drop_fc"), self.ch(1024), self.classes, p + "classifier")

    def prologue(self, x):
        """torchvision's transform_input: per channel x*std/0.5 + (mean-0.5)/0.5, then concat."""
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        parts = []
        for c in range(3):
            g = self.node("Gather", [x, self.const(f"tf.idx{c}", np.array(c, np.int64))], f"tf.g{c}", f"tf.g{c}", axis=1)
            u = self.node("Unsqueeze", [g, self.const(f"tf.ax{c}", np.array([1], np.int64))], f"tf.u{c}", f"tf.u{c}")
            m = self.node("Mul", [u, self.const(f"tf.s{c}", np.array(std[c] / 0.5, np.float32))], f"tf.m{c}", f"tf.m{c}")
            parts.append(self.node("Add", [m, self.const(f"tf.b{c}", np.array((mean[c] - 0.5) / 0.5, np.float32))],
                                   f"tf.a{c}", f"tf.a{c}"))
        return self.node("Concat", parts, "tf.cat", "tf.cat", axis=1)

    def build(self):
        tv, zoo = self.flavour == "torchvision", self.flavour == "zoo"
        inp = {"zoo": "data_0", "bvlc_aux": "data", "torchvision": "x"}[self.flavour]
        x = self.prologue(inp) if tv else inp
        x, c = self.conv(x, 3, self.ch(64), 7, "conv1/7x7_s2", stride=2, pad=3)
        x = self.lrn(self.maxpool(x, 3, 2, "pool1/3x3_s2"), "pool1/norm1")
        x, c = self.conv(x, c, self.ch(64), 1, "conv2/3x3_reduce")
        x, c = self.conv(x, c, self.ch(192), 3, "conv2/3x3", pad=1)
        x = self.maxpool(self.lrn(x, "conv2/norm2"), 3, 2, "pool2/3x3_s2")
        heads = {}
        for spec in INCEPTION:
            if isinstance(spec, str):
                x = self.maxpool(x, 2 if tv and spec == "pool4" else 3, 2, spec + "/3x3_s2")
                continue
            x, c = self.inception(x, c, spec)
            if self.flavour == "bvlc_aux" and spec[0] in ("4a", "4d"):
                heads[spec[0]] = self.aux(x, c, 1 if spec[0] == "4a" else 2)
        if tv:
            x = self.node("GlobalAveragePool", [x], "avgpool", "avgpool")
        else:
            x = self.node("AveragePool", [x], "pool5/7x7_s1", "pool5/7x7_s1", kernel_shape=[7, 7], strides=[1, 1],
                          **({} if zoo else {"ceil_mode": 1}))
        x = self.flatten(self.dropout(x, "pool5/drop_7x7_s1"), c, "pool5/flatten")
        main = self.fc(x, c, self.classes, "loss3/classifier")
        if zoo:
            outputs = [self.node("Softmax", [main], "prob_1", "prob")]
        elif tv:
            outputs = [main]
        else:
            outputs = [heads["4a"], main, heads["4d"]]
        dyn = "N" if not zoo else 1
        graph = helper.make_graph(
            self.nodes, f"googlenet_{self.flavour}",
            [helper.make_tensor_value_info(inp, TensorProto.FLOAT, [dyn, 3, 224, 224])],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, [dyn, self.classes]) for o in outputs],
            self.inits)
        opset = {"zoo": 9, "bvlc_aux": 13, "torchvision": 17}[self.flavour]
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="classviz.weights.synthetic")
        model.ir_version = 7 if opset < 15 else 8
        return model


def googlenet(flavour="bvlc_aux", width=1, seed=0, classes=1000):
    """Build a GoogLeNet-structured `onnx.ModelProto` with seeded random float32 weights.

    flavour: one of FLAVOURS; width: channel divisor (1 = real size, 8 = narrow); seed: int;
    classes: number of outputs of each classifier. The zoo flavour declares batch 1 like the real
    file does; the others a symbolic batch."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; choose one of {', '.join(FLAVOURS)}")
    return _Builder(flavour, width, seed, classes).build()


def write_googlenet(path, flavour="bvlc_aux", width=1, seed=0, classes=1000):
    """Write `googlenet(flavour, width, seed, classes)` to `path` (str or PathLike); returns path."""
    onnx.save(googlenet(flavour, width, seed, classes), path)
    return path
