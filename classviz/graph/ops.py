"""The registry: canonical op type -> the class that runs it inside a plan.

An op instance is built for one node at one input shape and dtype. It knows its output shape,
what its forward saves for the backward, and how much scratch it needs; it runs through whatever
backend module the plan hands it (`be.conv.forward(...)`), so nothing here knows about devices.
"""
import numpy as np

from ..errors import ArgumentError
from ..kernels import geometry
from ..kernels.shared import ACTIVATIONS, fused_activation


class Op:
    """Base: one node, shapes fixed. ins/outs are backend arrays; gins[i] is None when input i
    needs no gradient; acc[i] says whether gins[i] already holds another consumer's gradient.
    precision: the arithmetic of float32 convolutions ('fp32', 'tf32', 'bf16'; the backend's
    conv.prepare says what each means), which only Conv uses."""
    view = False   # True when the output is a view of the input (no forward work)
    work = 0       # scratch elements needed
    relu = False   # the fused activation (set by prepare where an op fuses one)

    @property
    def masks_gout(self):
        """True when the backward may overwrite its output's gradient (gout) with gout times a
        fused activation's mask (a backend masks in place where its dgrad cannot take the mask):
        whatever else that buffer held is then gone (the plan's buffer sharing must know)."""
        return False

    def __init__(self, node, in_shapes, dtype, be, precision="fp32"):
        self.node, self.dtype, self.precision = node, dtype, precision
        self.out_shape = self.infer(node, in_shapes)

    def prepare(self, be, relu, prepared):
        """Cast and upload weights, allocate what the forward saves. relu: fuse a ReLU after it
        (False, True, or for a Conv a number c: a ReLU clipped at c, such as ReLU6); prepared: the
        network's {key: prepared weights}, shared by every plan (see `weights`)."""

    def weights(self, prepared, key, make):
        """make() (this node's weights, cast, uploaded, transformed) once per network for the same
        `key` (a tuple of what they depend on besides the node): plans of other heads, batch sizes or
        crops of the same size reuse them, as Caffe's LayerSetUp runs once and Reshape per shape."""
        # a node is named by its output tensor (unique in a graph; the plan's merged siblings get
        # names of their own), not by id(): merged nodes are rebuilt for each plan
        k = (self.node.op, tuple(self.node.outputs), np.dtype(self.dtype).str, self.precision) + tuple(key)
        if k not in prepared:
            prepared[k] = make()
        return prepared[k]

    def fail(self, what):
        raise ArgumentError(f"node '{self.node.name}' ({self.node.op}): {what}")

    def param(self, be, key, shape=None):
        a = self.node.params[key].astype(self.dtype)
        return be.asarray(a.reshape(shape) if shape is not None else a)


class Conv(Op):
    def infer(self, node, in_shapes):
        n, c, h, w = _rank4(self, in_shapes[0])
        a = node.attrs
        wt = node.params["W"]
        self.group = a["group"]
        if c != wt.shape[1] * self.group:
            self.fail(f"expects {wt.shape[1] * self.group} input channels, got {c}")
        self.win = geometry.conv_window(a["kernel"], a["strides"], a["pads"], a["dilations"], h, w)
        _positive(self, self.win, h, w)
        return (n, wt.shape[0], self.win.Ho, self.win.Wo)

    # set by the plan: in_relu is the activation fused into the layer (or Add) that produced this
    # one's input, whose mask this layer's backward applies as it writes (the last part of) the
    # input's gradient (where the backend does that at no cost: `be.conv.masks_input`); out_masked
    # says the layer after this one applies this layer's own mask so, its backward takes the
    # gradient as it comes; sum_relu, where an Add folds into this layer, is the Add's activation
    # (False or True): the forward then reads the Add's other summand as ins[1] and writes the
    # Add's output (this layer has no activation of its own)
    in_relu, out_masked, sum_relu = False, False, None

    def prepare(self, be, relu, prepared):
        self.relu = relu
        p = self.node.params
        # the window holds the input's H and W (a Winograd tile size depends on them), not its batch
        self.cw = self.weights(prepared, (self.win,), lambda: be.conv.prepare(
            p["W"].astype(self.dtype), p["B"].astype(self.dtype), self.win, self.group, be.asarray, self.precision))
        self.work = be.conv.work_size(self.cw, self.out_shape[0])

    @property
    def masks_gout(self):
        return bool(self.relu) and not self.out_masked

    def forward(self, be, ins, out, work):
        if self.sum_relu is None:
            be.conv.forward(ins[0], self.cw, out, self.relu, work)
        else:
            be.conv.forward(ins[0], self.cw, out, self.sum_relu, work, residual=ins[1])

    def backward(self, be, gout, ins, out, gins, acc, work):
        mask = self.relu and not self.out_masked
        be.conv.backward(gout, self.cw, gins[0], acc[0], work, relu_out=out if mask else None, relu=self.relu,
                         x=ins[0] if self.in_relu else None, x_relu=self.in_relu)


class Gemm(Op):
    def infer(self, node, in_shapes):
        shape = in_shapes[0]
        k, c = node.params["W"].shape
        if len(shape) != 2:
            self.fail(f"expects a (N, {c}) input, got shape {shape}")
        if shape[1] != c:
            self.fail(f"expects {c} input features, got {shape[1]}: the network does not accept this input size")
        return (shape[0], k)

    def prepare(self, be, relu, prepared):
        self.relu = relu
        self.w, self.b = self.weights(prepared, (), lambda: (self.param(be, "W"), self.param(be, "B")))

    @property
    def masks_gout(self):
        return bool(self.relu)

    def forward(self, be, ins, out, work):
        be.gemm.forward(ins[0], self.w, self.b, out)
        if self.relu:
            be.relu.forward(out, out)

    def backward(self, be, gout, ins, out, gins, acc, work):
        if self.relu:
            be.relu.backward(out, gout, gout, False)
        be.gemm.backward(gout, self.w, gins[0], acc[0])


class Relu(Op):
    def infer(self, node, in_shapes):
        return in_shapes[0]

    def forward(self, be, ins, out, work):
        be.relu.forward(ins[0], out)

    def backward(self, be, gout, ins, out, gins, acc, work):
        be.relu.backward(out, gout, gins[0], acc[0])


class MaxPool(Op):
    def infer(self, node, in_shapes):
        n, c, h, w = _rank4(self, in_shapes[0])
        a = node.attrs
        self.win = geometry.pool_window(a["kernel"], a["strides"], a["pads"], a["ceil_mode"], h, w)
        _positive(self, self.win, h, w)
        return (n, c, self.win.Ho, self.win.Wo)

    # set by the plan: the activation fused into the layer that produced the input (False: none),
    # whose mask this backward applies through the pool's output (see the backend's maxpool.backward)
    in_relu = False

    def prepare(self, be, relu, prepared):
        self.argmax = be.empty(self.out_shape, np.int32)
        self.work = be.maxpool.work_size(self.win, self.out_shape[1])

    def forward(self, be, ins, out, work):
        be.maxpool.forward(ins[0], self.win, out, self.argmax, work)

    def backward(self, be, gout, ins, out, gins, acc, work):
        if self.in_relu is False:
            be.maxpool.backward(gout, self.win, gins[0], self.argmax, acc[0])
        else:
            be.maxpool.backward(gout, self.win, gins[0], self.argmax, acc[0], out, fused_activation(self.in_relu)[1])


class AveragePool(MaxPool):
    def prepare(self, be, relu, prepared):
        self.work = 0
        self.include_pad = bool(self.node.attrs["count_include_pad"])

    def forward(self, be, ins, out, work):
        be.avgpool.forward(ins[0], self.win, self.include_pad, out)

    def backward(self, be, gout, ins, out, gins, acc, work):
        be.avgpool.backward(gout, self.win, self.include_pad, gins[0], acc[0])


class GlobalAveragePool(Op):
    def infer(self, node, in_shapes):
        n, c, h, w = _rank4(self, in_shapes[0])
        return (n, c, 1, 1)

    def forward(self, be, ins, out, work):
        be.avgpool.global_forward(ins[0], out)

    def backward(self, be, gout, ins, out, gins, acc, work):
        be.avgpool.global_backward(gout, gins[0], acc[0])


class LRN(Op):
    def infer(self, node, in_shapes):
        return _rank4(self, in_shapes[0])

    def prepare(self, be, relu, prepared):
        a = self.node.attrs
        self.args = (a["size"], a["alpha"], a["beta"], a["bias"])
        self.scale = be.empty(self.out_shape, self.dtype)

    def forward(self, be, ins, out, work):
        size, alpha, beta, bias = self.args
        be.lrn.forward(ins[0], size, alpha, beta, bias, out, self.scale)

    def backward(self, be, gout, ins, out, gins, acc, work):
        size, alpha, beta, _ = self.args
        be.lrn.backward(gout, ins[0], out, self.scale, size, alpha, beta, gins[0], acc[0])


class Concat(Op):
    def infer(self, node, in_shapes):
        shapes = [_rank4(self, s) for s in in_shapes]
        n, _, h, w = shapes[0]
        if any((s[0], s[2], s[3]) != (n, h, w) for s in shapes):
            self.fail(f"inputs disagree in batch or spatial size: {shapes}")
        self.offsets = list(np.cumsum([0] + [s[1] for s in shapes[:-1]]))
        return (n, sum(s[1] for s in shapes), h, w)

    def forward(self, be, ins, out, work):
        for x, off, placed in zip(ins, self.offsets, self.placed):
            if not placed:
                be.concat.forward(x, off, out)

    def backward(self, be, gout, ins, out, gins, acc, work):
        for g, off, placed, a in zip(gins, self.offsets, self.placed, acc):
            if g is not None and not placed:
                be.concat.backward(gout, off, g, a)


class Flatten(Op):
    view = True

    def infer(self, node, in_shapes):
        shape = in_shapes[0]
        feats = int(np.prod(shape[1:]))
        if node.attrs.get("squeeze") and tuple(shape[2:]) != (1,) * (len(shape) - 2):
            self.fail(f"squeezes H and W of shape {shape}, which are not 1")
        expected = node.attrs.get("features")
        if expected is not None and feats != expected:
            self.fail(f"expects {expected} features, got {feats} from shape {shape}: "
                      "the network does not accept this input size")
        return (shape[0], feats)

    def view_of(self, x):
        """The output as a view of input value x, or None where x's layout allows none."""
        return x.reshape(self.out_shape) if x.flags.c_contiguous else None

    def forward(self, be, ins, out, work):
        if not self.out_is_view:
            out[...] = ins[0].reshape(out.shape)

    def backward(self, be, gout, ins, out, gins, acc, work):
        if not self.grad_is_view:
            g = gout.reshape(gins[0].shape)
            if acc[0]:
                gins[0][...] += g
            else:
                gins[0][...] = g


class ChannelSlice(Op):
    """Channels [offset, offset + channels) of its input, always as a view, values and gradients
    alike. No ONNX op maps here: the plan makes these when it merges sibling convolutions."""
    view = True

    def infer(self, node, in_shapes):
        n, _, h, w = _rank4(self, in_shapes[0])
        self.offset = node.attrs["offset"]
        return (n, node.attrs["channels"], h, w)

    def view_of(self, x):
        """Channels offset.. of x (N, C, H, W), a view."""
        return x[:, self.offset:self.offset + self.out_shape[1]]

    def forward(self, be, ins, out, work):
        pass

    def backward(self, be, gout, ins, out, gins, acc, work):
        pass  # the output's gradient is a view into the input's (see Plan._place_grads)


class Affine(Op):
    def infer(self, node, in_shapes):
        shape = in_shapes[0]
        out = np.broadcast_shapes(shape, (1,) + node.params["scale"].shape, (1,) + node.params["shift"].shape)
        if tuple(out) != tuple(shape):
            self.fail(f"constant of shape {node.params['scale'].shape} would broadcast the input {shape} to {out}")
        return tuple(shape)

    def prepare(self, be, relu, prepared):
        # one value per element of an image: a kernel indexes them directly, whatever broadcast
        image = self.out_shape[1:]
        self.scale, self.shift = self.weights(prepared, (image,), lambda: tuple(
            be.asarray(np.broadcast_to(self.node.params[k].astype(self.dtype), image)) for k in ("scale", "shift")))

    def forward(self, be, ins, out, work):
        be.affine.forward(ins[0], self.scale, self.shift, out)

    def backward(self, be, gout, ins, out, gins, acc, work):
        be.affine.backward(gout, self.scale, gins[0], acc[0])


class Add(Op):
    """The sum of two activations of one shape (a residual connection), with the ReLU after it
    fused where there is one."""

    def infer(self, node, in_shapes):
        if tuple(in_shapes[0]) != tuple(in_shapes[1]):
            self.fail(f"adds tensors of different shapes {in_shapes[0]} and {in_shapes[1]}")
        return tuple(in_shapes[0])

    # set by the plan: folded, when the convolution that computes one summand also adds the
    # other and applies the activation as it writes this Add's output (the forward is then done);
    # out_masked, when the last layer to write this output's gradient applies the mask as it does
    folded, out_masked = False, False

    def prepare(self, be, relu, prepared):
        self.relu = bool(relu)

    def forward(self, be, ins, out, work):
        if not self.folded:
            be.add.forward(ins[0], ins[1], out, self.relu)

    def backward(self, be, gout, ins, out, gins, acc, work):
        # an input's gradient may be gout's own buffer (the plan shares it where that is safe; it
        # then overwrites, never adds): there the mask is applied in place, or nothing is to do
        mask = out if self.relu and not self.out_masked else None
        if self.node.inputs[0] == self.node.inputs[1]:  # x + x: one buffer, the second adds
            for a in acc:
                be.add.backward(gout, gins[0], a, mask)
            return
        apart = [(g, a) for g, a in zip(gins, acc) if g is not gout]
        if mask is not None and len(apart) < 2:
            be.add.backward(gout, gout, False, mask, *(apart[0] if apart else ()))
        elif len(apart) == 2:  # both inputs' gradients in one pass over gout
            be.add.backward(gout, gins[0], acc[0], mask, gins[1], acc[1])
        elif apart:
            be.add.backward(gout, *apart[0])


class Mul(Op):
    """The product of two activations: of one shape (SiLU), or one of them (N, C, 1, 1) scaling
    the other's channels (squeeze-and-excite), in either order."""

    def infer(self, node, in_shapes):
        a, b = (tuple(s) for s in in_shapes)
        # the kernels take the full-size tensor first
        self.swap = len(a) == 4 and len(b) == 4 and a[2:] == (1, 1) and b[2:] != (1, 1)
        if self.swap:
            a, b = b, a
        if b != a and not (len(a) == 4 and b == a[:2] + (1, 1)):
            self.fail(f"multiplies tensors of shapes {in_shapes[0]} and {in_shapes[1]}: "
                      "only equal shapes or (N, C, H, W) by (N, C, 1, 1) are supported")
        return a

    def forward(self, be, ins, out, work):
        a, b = ins[::-1] if self.swap else ins
        be.mul.forward(a, b, out)

    def backward(self, be, gout, ins, out, gins, acc, work):
        if self.swap:
            be.mul.backward(gout, ins[1], ins[0], gins[1], gins[0], acc[1], acc[0])
        else:
            be.mul.backward(gout, ins[0], ins[1], gins[0], gins[1], acc[0], acc[1])


class Activation(Op):
    """A pointwise activation besides ReLU: attrs kind (one of kernels.shared.ACTIVATIONS),
    alpha and beta (its parameters, see there)."""

    def infer(self, node, in_shapes):
        a = node.attrs
        self.args = (ACTIVATIONS.index(a["kind"]), float(a.get("alpha", 0.0)), float(a.get("beta", 0.0)))
        return tuple(in_shapes[0])

    def forward(self, be, ins, out, work):
        be.activation.forward(ins[0], *self.args, out)

    def backward(self, be, gout, ins, out, gins, acc, work):
        be.activation.backward(ins[0], out, gout, *self.args, gins[0], acc[0])


REGISTRY = {cls.__name__: cls for cls in (Conv, Gemm, Relu, MaxPool, AveragePool, GlobalAveragePool, LRN,
                                          Concat, Flatten, ChannelSlice, Affine, Add, Mul, Activation)}


def _rank4(op, shape):
    if len(shape) != 4:
        op.fail(f"expects an (N, C, H, W) input, got shape {shape}")
    return tuple(shape)


def _positive(op, win, h, w):
    if win.Ho < 1 or win.Wo < 1:
        op.fail(f"input of {h}x{w} is too small (output would be {win.Ho}x{win.Wo})")
