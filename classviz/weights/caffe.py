"""Caffe -> ONNX: a `.caffemodel` (binary NetParameter, `layer` or legacy `layers`) to an ONNX
GoogLeNet that keeps every classifier that fed a loss, with no Caffe install.

Semantics kept exactly:
- Pooling sizes round up (Caffe's rule: ceil((H + 2p - k) / s) + 1, minus one when the last window
  would start in the padding); the overhang becomes explicit end padding.
- MAX pools pad with -inf. AVE pools divide by the window clipped to [-p, H + p): with p = 0 that is
  the valid count (ONNX count_include_pad=0); with p > 0 and no window past H + p it is the full
  kernel (count_include_pad=1). Past that no ONNX form is exact, so it is refused by name.
- LRN (ACROSS_CHANNELS): Caffe's x / (k + alpha/n sum x^2)^beta is ONNX's LRN as it stands.
- InnerProduct flattens everything after the batch axis first.
Data/Input layers become one input `data` (N, C, H, W) with a symbolic batch; Dropout, Silence and
Split are identities; Softmax, losses and Accuracy are dropped and their score inputs become the
outputs (the pre-softmax classifiers). The file's metadata records the preprocessing and the
source's name and SHA-1."""
import hashlib
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import preprocess as prep
from ..errors import ModelError
from ..kernels import geometry
from . import wire
from .wire import scalar

OPSET = 13

# legacy V1LayerParameter.LayerType numbers -> LayerParameter type strings
V1_TYPES = {1: "Accuracy", 3: "Concat", 4: "Convolution", 5: "Data", 6: "Dropout", 12: "ImageData",
            14: "InnerProduct", 15: "LRN", 17: "Pooling", 18: "ReLU", 20: "Softmax", 21: "SoftmaxWithLoss",
            22: "Split", 24: "WindowData", 29: "MemoryData", 32: "DummyData", 36: "Silence", 9: "HDF5Data"}
# (LayerParameter field, V1LayerParameter field) of what we read
F_NAME, F_TYPE, F_BOTTOM, F_TOP, F_BLOBS = (1, 4), (2, 5), (3, 2), (4, 3), (7, 6)
F_CONV, F_POOL, F_LRN, F_IP, F_CONCAT, F_RELU, F_INPUT = (106, 10), (121, 19), (118, 18), (117, 17), (104, 9), \
    (123, 30), (143, None)
F_INCLUDE, F_EXCLUDE = (8, 32), (9, 33)
INPUTS = {"Data", "Input", "ImageData", "WindowData", "MemoryData", "DummyData", "HDF5Data", "AnnotatedData"}


class Layer:
    """One Caffe layer as read from the file: name, type, bottoms, tops, blobs (list of float32 arrays
    in their stored shapes), and its raw type-specific parameter message (dict from wire.parse)."""

    def __init__(self, msg, legacy, where):
        k = 1 if legacy else 0
        self.name = scalar(msg, F_NAME[k], "", str)
        if legacy:
            code = scalar(msg, F_TYPE[1], 0)
            self.type = V1_TYPES.get(code, f"V1 layer type {code}")
        else:
            self.type = scalar(msg, F_TYPE[0], "", str)
        self.bottoms = [wire.text(v) for v in msg.get(F_BOTTOM[k], [])]
        self.tops = [wire.text(v) for v in msg.get(F_TOP[k], [])]
        self.blobs = [_blob(wire.parse(b), f"{where}: layer '{self.name}' blob {i}")
                      for i, b in enumerate(msg.get(F_BLOBS[k], []))]
        self.msg, self.legacy = msg, legacy
        self.phases = [_phase(r) for r in msg.get(F_INCLUDE[k], [])], [_phase(r) for r in msg.get(F_EXCLUDE[k], [])]

    def param(self, fields):
        """The type-specific parameter message for (new field, legacy field), {} when absent."""
        f = fields[1 if self.legacy else 0]
        return wire.parse(self.msg[f][-1]) if f is not None and f in self.msg else {}

    def in_test_phase(self):
        """Whether the layer is part of the TEST (deploy) net by its include/exclude rules."""
        inc, exc = self.phases
        if inc:
            return any(p in (None, 1) for p in inc)
        return not any(p == 1 for p in exc)


def _phase(rule):
    return scalar(wire.parse(rule), 1)


def _blob(msg, where):
    if 7 in msg:
        shape = tuple(wire.signed(d) for d in wire.ints(wire.parse(msg[7][-1]).get(1, [])))
    else:
        shape = tuple(scalar(msg, f, 0) for f in (1, 2, 3, 4))
        while len(shape) > 1 and shape[0] in (0, 1):  # legacy 4-D (1, 1, K, C) style headers
            shape = shape[1:]
    if 5 in msg:
        data = wire.floats(msg[5], "<f4")
    elif 8 in msg:
        data = wire.floats(msg[8], "<f8").astype(np.float32)
    else:
        data = np.zeros(0, np.float32)
    if any(d < 0 for d in shape) or math.prod(shape) != data.size:
        raise ModelError(f"{where}: {data.size} values do not fill its shape {shape}")
    return data.reshape(shape)


def read_layers(buf, where):
    """Layers of the caffemodel bytes `buf`: (list of Layer in file order, {input name: (C, H, W) or
    None}). `where` names the file in errors. Raises ModelError for anything not a caffemodel."""
    try:
        net = wire.parse(buf)
    except wire.WireError as e:
        raise ModelError(f"{where} is not a caffemodel (not a protobuf message: {e})") from None
    legacy = 100 not in net and 2 in net
    raw = net.get(2 if legacy else 100, [])
    if not raw:
        raise ModelError(f"{where} is not a caffemodel (no layers in it)")
    try:
        layers = [Layer(wire.parse(m), legacy, where) for m in raw]
    except wire.WireError as e:
        raise ModelError(f"{where}: a layer is malformed ({e}); the file may be truncated") from None
    inputs = {}
    names = [wire.text(v) for v in net.get(3, [])]  # NetParameter.input (deprecated form)
    dims = [wire.signed(d) for d in wire.ints(net.get(4, []))]
    shapes = [wire.ints(wire.parse(s).get(1, [])) for s in net.get(8, [])]
    for i, n in enumerate(names):
        if i < len(shapes) and len(shapes[i]) == 4:
            inputs[n] = tuple(shapes[i][1:])
        elif len(dims) >= 4 * (i + 1):
            inputs[n] = tuple(dims[4 * i + 1:4 * i + 4])
        else:
            inputs[n] = None
    return layers, inputs


def convert(path, prototxt_shape=None):
    """Convert the caffemodel at `path` to an ONNX ModelProto.

    prototxt_shape: optional (C, H, W) of the input when the file does not say (default (3, 224, 224)).
    Returns the onnx.ModelProto (opset 13, input `data` (N, C, H, W), one output per classifier that
    fed a loss or softmax, metadata classviz.preprocess/source/source_sha1), checked by onnx.checker.
    Raises ModelError naming the problem (missing file, not a caffemodel, unsupported layer, ...)."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except FileNotFoundError:
        raise ModelError(f"caffemodel not found: {path}") from None
    except OSError as e:
        raise ModelError(f"cannot read {path}: {e.strerror}") from None
    return convert_bytes(buf, os.path.basename(path), hashlib.sha1(buf).hexdigest(), prototxt_shape)


def convert_bytes(buf, name, sha1, shape=None):
    """As `convert`, from the file's bytes `buf`; `name` and `sha1` go into the metadata."""
    layers, declared = read_layers(buf, name)
    model = _Converter(name, declared, shape).run(layers)
    model.metadata_props.extend([
        onnx.StringStringEntryProto(key=prep.METADATA_KEY, value=prep.CAFFE.to_json()),
        onnx.StringStringEntryProto(key="classviz.source", value=name),
        onnx.StringStringEntryProto(key="classviz.source_sha1", value=sha1)])
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ModelError(f"{name}: the converted graph fails onnx.checker: {str(e).splitlines()[0]}") from None
    return model


class _Converter:
    def __init__(self, where, declared, shape):
        self.where, self.declared, self.shape = where, declared, shape
        self.nodes, self.inits, self.used = [], [], set()
        self.blob = {}      # Caffe blob name -> current ONNX tensor name (in-place layers rename)
        self.dims = {}      # ONNX tensor -> (C, H, W) or (K,)
        self.scores = []    # ONNX tensors that fed a softmax or a loss, in file order

    def fail(self, layer, what):
        raise ModelError(f"{self.where}: layer '{layer.name}' ({layer.type}): {what}")

    def run(self, layers):
        active = [la for la in layers if la.in_test_phase()]
        for la in active:
            if la.type in INPUTS:
                self.add_input(la)
        for name, chw in self.declared.items():
            if name not in self.blob:
                self.add_input_named(name, chw)
        if not self.blob:
            self.add_input_named("data", None)
        for la in active:
            if la.type in INPUTS:
                continue
            handler = getattr(self, "do_" + la.type, None)
            if handler is None:
                supported = sorted(k[3:] for k in dir(self) if k.startswith("do_"))
                raise ModelError(f"{self.where}: layer '{la.name}' has unsupported type '{la.type}' "
                                 f"(supported: {', '.join(supported)}, plus input, dropout and loss layers)")
            handler(la)
        outputs = list(dict.fromkeys(self.scores)) or self.dangling()
        graph = helper.make_graph(
            self.nodes, "googlenet", [self.input_info],
            [helper.make_tensor_value_info(t, TensorProto.FLOAT, ["N", *self.dims[t]]) for t in outputs],
            self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                 producer_name="classviz caffe converter")

    def dangling(self):
        read = {i for n in self.nodes for i in n.input}
        return [t for n in self.nodes for t in n.output if t not in read]

    # -- inputs -----------------------------------------------------------------------------------------
    def add_input(self, la):
        chw = None
        if la.type == "Input":
            shapes = [wire.ints(wire.parse(s).get(1, [])) for s in la.param(F_INPUT).get(1, [])]
            if shapes and len(shapes[0]) == 4:
                chw = tuple(shapes[0][1:])
        for t in la.tops[:1]:  # the label top of a Data layer is not an image
            if t not in self.blob:
                self.add_input_named(t, chw)

    def add_input_named(self, name, chw):
        if self.blob:
            return  # one image input: GoogLeNet has one; the rest (labels) only feed losses
        chw = tuple(chw or self.shape or (3, 224, 224))
        self.input_info = helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", *chw])
        self.used.add("data")
        self.blob[name] = "data"
        self.dims["data"] = chw

    # -- helpers ----------------------------------------------------------------------------------------
    def out_name(self, top, layer):
        for cand in (top, layer.name, f"{top}/{layer.name}"):
            if cand and cand not in self.used:
                self.used.add(cand)
                return cand
        k = 2
        while f"{top}_{k}" in self.used:
            k += 1
        self.used.add(f"{top}_{k}")
        return f"{top}_{k}"

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def emit(self, la, op, inputs, dims, **attrs):
        out = self.out_name(la.tops[0], la)
        self.nodes.append(helper.make_node(op, inputs, [out], name=la.name or out, **attrs))
        self.blob[la.tops[0]] = out
        self.dims[out] = dims
        return out

    def src(self, la, i=0):
        if i >= len(la.bottoms) or la.bottoms[i] not in self.blob:
            self.fail(la, f"reads blob '{la.bottoms[i] if i < len(la.bottoms) else ''}' that no earlier layer makes")
        return self.blob[la.bottoms[i]]

    def one_top(self, la):
        if len(la.tops) != 1 or not la.bottoms:
            self.fail(la, f"expected one top and a bottom, got {len(la.tops)} tops")

    # -- layers -----------------------------------------------------------------------------------------
    def do_Convolution(self, la):
        self.one_top(la)
        p = la.param(F_CONV)
        c, h, w = self.dims[self.src(la)]
        kh, kw = _pair(p, 4, 11, 12, None)
        sh, sw = _pair(p, 6, 13, 14, 1)
        ph, pw = _pair(p, 3, 9, 10, 0)
        dh, dw = _pair(p, 18, None, None, 1)
        group = scalar(p, 5, 1)
        cout = scalar(p, 1, 0)
        bias = scalar(p, 2, True, bool)
        if kh is None:
            self.fail(la, "no kernel size")
        want = [(cout, c // max(group, 1), kh, kw)] + ([(cout,)] if bias else [])
        blobs = self.blobs_as(la, want)
        oh, ow = geometry.conv_out(h, kh, sh, ph, ph, dh), geometry.conv_out(w, kw, sw, pw, pw, dw)
        if oh < 1 or ow < 1:
            self.fail(la, f"input {h}x{w} is smaller than its kernel")
        ins = [self.src(la), self.const(la.name + "/weight", blobs[0])]
        if bias:
            ins.append(self.const(la.name + "/bias", blobs[1]))
        self.emit(la, "Conv", ins, (cout, oh, ow), kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
                  dilations=[dh, dw], group=group)

    def do_ReLU(self, la):
        self.one_top(la)
        slope = scalar(la.param(F_RELU), 1, 0.0, float)
        if slope != 0:
            self.fail(la, f"negative_slope {slope} (leaky ReLU) is not supported")
        self.emit(la, "Relu", [self.src(la)], self.dims[self.src(la)])

    def do_Pooling(self, la):
        self.one_top(la)
        p = la.param(F_POOL)
        method = scalar(p, 1, 0)
        c, h, w = self.dims[self.src(la)]
        if scalar(p, 12, False, bool):  # global_pooling
            kh, kw, sh, sw, ph, pw = h, w, 1, 1, 0, 0
        else:
            kh, kw = _pair(p, 2, 5, 6, None, repeated=False)
            sh, sw = _pair(p, 3, 7, 8, 1, repeated=False)
            ph, pw = _pair(p, 4, 9, 10, 0, repeated=False)
        if kh is None:
            self.fail(la, "no kernel size")
        floor = scalar(p, 13, 0) == 1  # round_mode FLOOR (newer Caffe); CEIL is the default
        oh, eh = _caffe_pool_size(h, kh, sh, ph, floor)
        ow, ew = _caffe_pool_size(w, kw, sw, pw, floor)
        pads = [ph, pw, ph + eh, pw + ew]
        if method == 0:
            self.emit(la, "MaxPool", [self.src(la)], (c, oh, ow), kernel_shape=[kh, kw], strides=[sh, sw], pads=pads)
        elif method == 1:
            if ph == 0 and pw == 0:
                cip = 0
            elif (oh - 1) * sh + kh <= h + 2 * ph and (ow - 1) * sw + kw <= w + 2 * pw:
                cip, pads = 1, [ph, pw, ph, pw]
            else:
                self.fail(la, "AVE pooling with padding whose last window passes the padding has no exact ONNX form")
            self.emit(la, "AveragePool", [self.src(la)], (c, oh, ow), kernel_shape=[kh, kw], strides=[sh, sw],
                      pads=pads, count_include_pad=cip)
        else:
            self.fail(la, "STOCHASTIC pooling is not supported")

    def do_LRN(self, la):
        self.one_top(la)
        p = la.param(F_LRN)
        if scalar(p, 4, 0) != 0:
            self.fail(la, "WITHIN_CHANNEL normalisation is not supported (only ACROSS_CHANNELS)")
        self.emit(la, "LRN", [self.src(la)], self.dims[self.src(la)], size=scalar(p, 1, 5),
                  alpha=scalar(p, 2, 1.0, float), beta=scalar(p, 3, 0.75, float), bias=scalar(p, 5, 1.0, float))

    def do_Concat(self, la):
        p = la.param(F_CONCAT)
        axis = scalar(p, 2, scalar(p, 1, 1))
        if axis != 1:
            self.fail(la, f"concatenation on axis {axis} is not supported (only channels)")
        dims = [self.dims[self.src(la, i)] for i in range(len(la.bottoms))]
        if len({d[1:] for d in dims}) != 1:
            self.fail(la, f"inputs of different sizes {dims}")
        self.emit(la, "Concat", [self.src(la, i) for i in range(len(la.bottoms))],
                  (sum(d[0] for d in dims), *dims[0][1:]), axis=1)

    def do_InnerProduct(self, la):
        self.one_top(la)
        p = la.param(F_IP)
        if scalar(p, 5, 1) != 1:
            self.fail(la, f"axis {scalar(p, 5, 1)} is not supported (only 1)")
        k = scalar(p, 1, 0)
        bias = scalar(p, 2, True, bool)
        transpose = scalar(p, 6, False, bool)
        x = self.src(la)
        features = math.prod(self.dims[x])
        blobs = self.blobs_as(la, [(features, k) if transpose else (k, features)] + ([(k,)] if bias else []))
        if len(self.dims[x]) > 1:
            flat = self.out_name(la.name + "/flatten", la)
            self.nodes.append(helper.make_node("Flatten", [x], [flat], name=flat, axis=1))
            self.dims[flat] = (features,)
            x = flat
        ins = [x, self.const(la.name + "/weight", blobs[0])]
        if bias:
            ins.append(self.const(la.name + "/bias", blobs[1]))
        self.emit(la, "Gemm", ins, (k,), transB=0 if transpose else 1)

    def blobs_as(self, la, shapes):
        if len(la.blobs) < len(shapes):
            self.fail(la, f"has {len(la.blobs)} weight blobs, expected {len(shapes)}")
        out = []
        for b, s in zip(la.blobs, shapes):
            if b.size != math.prod(s):
                self.fail(la, f"weight blob of shape {b.shape} ({b.size} values) does not fit {s}")
            out.append(b.reshape(s))
        return out

    # identities and heads
    def do_Dropout(self, la):
        for t in la.tops:
            self.blob[t] = self.src(la)

    do_Split = do_Dropout

    def do_Silence(self, la):
        pass

    def _score(self, la):
        self.scores.append(self.src(la))

    do_Softmax = do_SoftmaxWithLoss = do_Accuracy = _score
    do_EuclideanLoss = do_SigmoidCrossEntropyLoss = do_MultinomialLogisticLoss = do_InfogainLoss = _score
    do_HingeLoss = _score


def _pair(p, single, fh, fw, default, repeated=True):
    """(h, w) of a Caffe geometry parameter given as one value, a repeated value (h, w) or *_h/*_w."""
    if fh is not None and (fh in p or fw in p):
        return scalar(p, fh, default), scalar(p, fw, default)
    if single in p:
        vals = wire.ints(p[single]) if repeated else [p[single][-1]]
        return (vals[0], vals[0]) if len(vals) == 1 else (vals[0], vals[1])
    return default, default


def _caffe_pool_size(n, k, s, p, floor):
    """Caffe's pooled size along one axis and the end padding that makes ONNX compute it:
    (out, extra). out = ceil((n + 2p - k) / s) + 1, less one if the last window starts in the
    end padding (p > 0); with floor rounding, the plain floor. With padding this is ONNX's ceil
    mode (geometry.pool_out); without, Caffe keeps even a last window that starts past the input
    (possible when k < s), which ONNX drops, so that case is Caffe's own rule."""
    if floor:
        return geometry.pool_out(n, k, s, p, p, False), 0
    out = geometry.pool_out(n, k, s, p, p, True) if p > 0 else -(-(n - k) // s) + 1
    return out, max(0, (out - 1) * s + k - (n + 2 * p))
