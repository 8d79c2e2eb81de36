"""Read an ONNX image classifier into a `Model` of canonical nodes (see `classviz.weights.model.OPS`).

What exporters write (PyTorch's legacy and dynamo exporters, opsets 7 to 21) and what it becomes:
- nodes whose inputs are all constants (Constant, and the Shape/ConstantOfShape/Slice/Transpose/
  Cast/Reshape chains the legacy exporter writes to compute pads) -> evaluated once, here
- Dropout, Identity                    -> aliases (inference: the identity)
- Softmax / LogSoftmax                 -> `softmax_of` (the objective is the pre-softmax score)
- BatchNormalization, Mul/Add/Sub/Div by a constant -> Affine, folded into the Conv/Gemm before it
- Add, Mul of two activations          -> Add (residuals), Mul (squeeze-and-excite gates, SiLU)
- Sigmoid, HardSigmoid, HardSwish, Clip -> Activation (Clip(0, inf) -> Relu); Mul(x, Sigmoid(x))
  (SiLU, as exporters write it) -> one Activation 'silu'
- Pad (constant zeros)                 -> folded into the pads of the Conv or pool after it
- ReduceMean over H and W              -> GlobalAveragePool (then Flatten without keepdims)
- MatMul by a constant                 -> Gemm
- Reshape to (batch, features), Squeeze of (N, C, 1, 1) -> Flatten
- torchvision's transform_input prologue (Gather/Unsqueeze/Mul/Add/Concat on the channel axis)
                                        -> one per-channel Affine, found by evaluating it
float16 and bfloat16 weights are read as float32 (one Notice says so).
"""
import os
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelError, Notice
from .model import Model, Node, consumer_counts, producers

# ops that may only appear in the input prologue, evaluated once at load time
PROLOGUE_OPS = {"Gather", "Unsqueeze", "Squeeze", "Slice", "Concat", "Mul", "Add", "Sub", "Div",
                "Identity", "Cast"}
# ops refused with the reason named: classviz runs one static graph per input shape
RECURRENT = {"LSTM", "GRU", "RNN", "Loop", "Scan"}
DATA_DEPENDENT = {"NonZero", "Unique", "TopK", "NonMaxSuppression", "If", "Compress", "RoiAlign",
                  "StringNormalizer", "SequenceConstruct"}


def read_onnx(path):
    """Read the ONNX file at `path` (str or PathLike) and return a `Model`.

    Raises ModelError for a missing, truncated or non-ONNX file, an empty graph, an op outside the
    supported set (naming the op type and node), or external data outside the model's folder."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelError(f"weights file not found: {path}")
    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as e:  # protobuf raises several unrelated types for garbage input
        raise ModelError(f"{path} is not a readable ONNX file ({type(e).__name__}: {_one_line(e)})") from None
    if not proto.HasField("graph") or len(proto.graph.node) == 0:
        raise ModelError(f"{path}: the ONNX graph is empty (no nodes)")
    _load_external_data(proto, os.path.dirname(os.path.abspath(path)), path)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not 7 <= opset <= 21:
        raise ModelError(f"{path}: ONNX opset {opset} is not supported (7 to 21 are)")
    reader = _Reader(proto.graph, opset, path)
    model = reader.read()
    if reader.upcast:
        kinds = " and ".join(sorted(set(reader.upcast.values())))
        warnings.warn(f"{path}: {len(reader.upcast)} weight tensors stored as {kinds} are read as float32",
                      Notice, stacklevel=2)
    model.metadata = {p.key: p.value for p in proto.metadata_props}
    model.source = path
    return model


def _one_line(e):
    return " ".join(str(e).split())[:200]


def _load_external_data(proto, base_dir, path):
    """Load external tensor data, refusing any location outside the model's own folder."""
    from onnx.external_data_helper import _get_all_tensors, load_external_data_for_tensor, uses_external_data
    for tensor in _get_all_tensors(proto):
        if not uses_external_data(tensor):
            continue
        info = {e.key: e.value for e in tensor.external_data}
        loc = info.get("location", "")
        parts = loc.replace("\\", "/").split("/")
        if not loc or os.path.isabs(loc) or loc.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise ModelError(f"{path}: tensor '{tensor.name}' has external data at '{loc}', outside the model's folder")
        full = os.path.realpath(os.path.join(base_dir, loc))
        if os.path.commonpath([full, os.path.realpath(base_dir)]) != os.path.realpath(base_dir):
            raise ModelError(f"{path}: tensor '{tensor.name}' has external data at '{loc}', outside the model's folder")
        if not os.path.isfile(full):
            raise ModelError(f"{path}: external data file '{loc}' for tensor '{tensor.name}' is missing")
        try:
            load_external_data_for_tensor(tensor, base_dir)
        except Exception as e:
            raise ModelError(f"{path}: cannot read external data '{loc}': {_one_line(e)}") from None
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


class _Reader:
    def __init__(self, graph, opset, path):
        self.graph, self.opset, self.path = graph, opset, path
        self.consts, self.upcast, self.zero_is_batch = {}, {}, set()
        for init in graph.initializer:
            self.consts[init.name] = self._array(init)
        inits = set(self.consts)
        inputs = [i for i in graph.input if i.name not in inits]
        if len(inputs) != 1:
            raise ModelError(f"{path}: expected one image input, found {len(inputs)} ({', '.join(i.name for i in inputs)})")
        self.input = inputs[0]
        self.nodes, self.aliases, self.softmax_of = [], {}, {}

    def _array(self, tensor):
        try:
            a = numpy_helper.to_array(tensor)
        except Exception as e:
            raise ModelError(f"{self.path}: cannot decode tensor '{tensor.name}': {_one_line(e)}") from None
        if a.dtype == np.float16 or a.dtype.name == "bfloat16":
            self.upcast[tensor.name] = a.dtype.name
            a = a.astype(np.float32)
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            # one NaN in a weight makes every gradient NaN while the scores can stay finite
            nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
            raise ModelError(f"{self.path}: weights tensor '{tensor.name}' holds {nan} NaN and {inf} Inf values "
                             f"(of {a.size}): the file is damaged")
        return a

    def read(self):
        dims = self.input.type.tensor_type.shape.dim
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        if len(shape) != 4:
            raise ModelError(f"{self.path}: input '{self.input.name}' has rank {len(shape)}, expected (N, C, H, W)")
        onnx_nodes = self._fold_constants(self._toposort(list(self.graph.node)))
        prologue = self._prologue(onnx_nodes, shape[1] or 3)
        rest = [n for n in onnx_nodes if id(n) not in prologue]
        self._check_supported(rest)
        for node in rest:
            self._convert(node)
        outputs = [self._canon(o.name) for o in self.graph.output]
        _fold_pads(self.nodes, set(outputs), self.path)
        _fuse_silu(self.nodes, set(outputs))
        _fold_affines(self.nodes, set(outputs))
        model = Model(self.nodes, self.input.name, shape, outputs, self.aliases, self.softmax_of)
        return model

    # -- helpers -----------------------------------------------------------------------------
    def _toposort(self, nodes):
        ready = set(self.consts) | {self.input.name, ""}
        out, pending = [], nodes
        while pending:
            rest = []
            for n in pending:
                if all(i in ready for i in n.input):
                    out.append(n)
                    ready.update(n.output)
                else:
                    rest.append(n)
            if len(rest) == len(pending):
                n = rest[0]
                missing = [i for i in n.input if i not in ready]
                raise ModelError(f"{self.path}: node '{n.name}' ({n.op_type}) reads undefined tensor '{missing[0]}'")
            pending = rest
        return out

    def _canon(self, t):
        while t in self.aliases:
            t = self.aliases[t]
        return t

    def _input(self, node, k, what):
        """The constant input k of `node`, flattened (NumPy), or None where the node has no input k
        (absent or empty: an optional input left out)."""
        if len(node.input) <= k or not node.input[k]:
            return None
        return np.asarray(self._const(node.input[k], node, what)).reshape(-1)

    def _const(self, name, node, what):
        if name not in self.consts:
            raise ModelError(f"{self.path}: node '{node.name}' ({node.op_type}) needs a constant {what}, got computed tensor '{name}'")
        return self.consts[name]

    @staticmethod
    def _attrs(node):
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def _fold_constants(self, nodes):
        """Evaluate every node whose inputs are all constants (Constant nodes, initializers, and
        what is computed from them only) into self.consts; returns the other nodes, in order."""
        rest, batch, shapes = [], set(), {}
        for node in nodes:
            if node.op_type == "Constant":
                self.consts[node.output[0]] = self._constant(node)
            elif self._batch_size(node, batch, shapes):
                continue
            elif node.op_type in FOLDABLE and all(i == "" or i in self.consts for i in node.input) and node.input:
                try:
                    values = _evaluate(node, self._attrs(node), self.consts, self.opset)
                except Exception as e:
                    raise ModelError(f"{self.path}: cannot evaluate constant node '{node.name}' ({node.op_type}): "
                                     f"{_one_line(e)}") from None
                self.consts.update(zip(node.output, values))
            else:
                rest.append(node)
        for node in rest:  # what the batch-size chains were for: only a Reshape's leading 0 may stand for N
            for k, t in enumerate(node.input):
                if t in batch or t in shapes or (t in self.zero_is_batch and (node.op_type != "Reshape" or k != 1)):
                    raise ModelError(f"{self.path}: node '{node.name}' ({node.op_type}) uses the shape of an activation "
                                     "at run time, which is supported only as the batch size of a flatten")
        return rest

    def _batch_size(self, node, batch, shapes):
        """Follow x.view(x.size(0), -1) as the legacy exporter writes it, Shape(x) -> Gather(0) ->
        Unsqueeze -> Concat with constants -> Reshape: the batch size becomes the 0 that Reshape
        reads as "keep this dimension". `batch` holds the tensors equal to N, `shapes` those that
        are the shape of an activation. Returns True when `node` was taken up here."""
        op, ins = node.op_type, [i for i in node.input if i]
        if op == "Shape" and ins and ins[0] not in self.consts and not self._attrs(node).get("start", 0):
            shapes[node.output[0]] = ins[0]
        elif op == "Gather" and ins[0] in shapes and ins[1] in self.consts and \
                np.array_equal(np.asarray(self.consts[ins[1]]).reshape(-1), [0]) and self._attrs(node).get("axis", 0) == 0:
            batch.add(node.output[0])
        elif op in ("Unsqueeze", "Squeeze", "Cast", "Identity") and ins and ins[0] in batch:
            batch.add(node.output[0])
        elif op == "Concat" and ins and ins[0] in batch and all(i in self.consts for i in ins[1:]):
            rest = [np.asarray(self.consts[i]).reshape(-1) for i in ins[1:]]
            self.consts[node.output[0]] = np.concatenate([np.zeros(1, np.int64)] + [r.astype(np.int64) for r in rest])
            self.zero_is_batch.add(node.output[0])
        else:
            return False
        return True

    def _check_supported(self, nodes):
        """Raise one ModelError listing every op type of `nodes` that has no reader, with why
        (recurrent, data-dependent shapes) and the nodes."""
        bad = {}
        for n in nodes:
            op = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
            if n.domain not in ("", "ai.onnx") or not hasattr(self, f"do_{n.op_type}"):
                bad.setdefault(op, []).append(n.name or op)
        if not bad:
            return
        parts = []
        for op, names in bad.items():
            why = (" (recurrent)" if op in RECURRENT else " (data-dependent shape)" if op in DATA_DEPENDENT else "")
            shown = ", ".join(f"'{m}'" for m in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            parts.append(f"'{op}'{why} in {'node' if len(names) == 1 else 'nodes'} {shown}")
        raise ModelError(f"{self.path}: unsupported op type{'s' if len(bad) > 1 else ''} {'; '.join(parts)}")

    # -- the input prologue ------------------------------------------------------------------------
    def _prologue(self, nodes, channels):
        """Find the elementwise/indexing nodes between the input and the first real layer, and
        replace them by one per-channel Affine found by evaluating them. Returns ids of the nodes
        consumed."""
        region, tensors = [], {self.input.name}
        for node in nodes:
            live = [i for i in node.input if i in tensors]
            if not live:
                continue
            rest_const = all(i in tensors or i in self.consts or i == "" for i in node.input)
            if node.op_type not in PROLOGUE_OPS or not rest_const:
                continue
            if node.op_type in ("Mul", "Add", "Sub", "Div") and len(live) != 1:
                continue  # x * x, x + x: activations, not an affine map of the input
            region.append(node)
            tensors.update(node.output)
        if not region:
            return set()
        ids = {id(n) for n in region}
        exits = {t for n in nodes if id(n) not in ids for t in n.input if t in tensors and t != self.input.name}
        exits |= {o.name for o in self.graph.output if o.name in tensors and o.name != self.input.name}
        consumed_raw = any(self.input.name in n.input for n in nodes if id(n) not in ids)
        if len(exits) != 1 or consumed_raw:
            names = ", ".join(sorted(n.name or n.op_type for n in region))
            raise ModelError(f"{self.path}: cannot reduce the input prologue ({names}) to a per-channel affine map")
        exit_t = exits.pop()
        scale, shift = self._fit_affine(region, exit_t, channels)
        self.nodes.append(Node("Affine", "input_prologue", [self.input.name], [exit_t], {},
                               {"scale": scale, "shift": shift}))
        return ids

    def _fit_affine(self, region, exit_t, channels):
        rng = np.random.default_rng(0)
        probe = rng.standard_normal((2, channels, 3, 5)).astype(np.float32)
        f0 = self._run(region, exit_t, np.zeros_like(probe))
        f1 = self._run(region, exit_t, np.ones_like(probe))
        fx = self._run(region, exit_t, probe)
        if fx.shape != probe.shape:
            raise ModelError(f"{self.path}: the input prologue changes the input's shape {probe.shape} -> {fx.shape}")
        shift = f0[0, :, :1, :1].astype(np.float32)
        scale = (f1 - f0)[0, :, :1, :1].astype(np.float32)
        if not np.allclose(fx, probe * scale + shift, rtol=1e-5, atol=1e-5):
            raise ModelError(f"{self.path}: the input prologue is not a per-channel affine map")
        return scale, shift

    def _run(self, region, exit_t, x):
        env = dict(self.consts)
        env[self.input.name] = x
        for node in region:
            env.update(zip(node.output, _evaluate(node, self._attrs(node), env, self.opset)))
        return np.asarray(env[exit_t])

    def _constant(self, node):
        a = self._attrs(node)
        if "value" in a:
            return numpy_helper.to_array(a["value"])
        for k in ("value_float", "value_int"):
            if k in a:
                return np.array(a[k])
        for k in ("value_floats", "value_ints"):
            if k in a:
                return np.array(a[k])
        raise ModelError(f"{self.path}: Constant node '{node.name}' has no supported value")

    # -- one ONNX node -> canonical nodes: do_<OpType>(node, name, ins, a, emit), as caffe.py's ------
    def _convert(self, node):
        op, a = node.op_type, self._attrs(node)
        name = node.name or f"{op}_{len(self.nodes)}"
        ins = [self._canon(i) for i in node.input]
        handler = getattr(self, f"do_{op}")  # _check_supported has refused every node without one

        def emit(cop, inputs, attrs=None, params=None, output=None):
            self.nodes.append(Node(cop, name, inputs, [output or node.output[0]], attrs or {}, params or {}))
        handler(node, name, ins, a, emit)

    def do_Constant(self, node, name, ins, a, emit):
        pass  # folded into self.consts before conversion

    def do_Identity(self, node, name, ins, a, emit):
        self.aliases[node.output[0]] = ins[0]

    do_Dropout = do_Identity  # inference: the identity

    def do_Softmax(self, node, name, ins, a, emit):
        self.softmax_of[node.output[0]] = ins[0]  # the score is the pre-softmax input

    do_LogSoftmax = do_Softmax

    def do_Conv(self, node, name, ins, a, emit):
        w = self._const(node.input[1], node, "weight").astype(np.float32)
        if w.ndim != 4:
            raise ModelError(f"{self.path}: Conv node '{name}' is not 2-D (weight rank {w.ndim})")
        b = (self._const(node.input[2], node, "bias").astype(np.float32) if len(node.input) > 2 and node.input[2]
             else np.zeros(w.shape[0], np.float32))
        kernel = tuple(a.get("kernel_shape", w.shape[2:]))
        if kernel != w.shape[2:]:
            raise ModelError(f"{self.path}: Conv node '{name}' kernel_shape {kernel} disagrees with its weight {w.shape}")
        emit("Conv", [ins[0]], {"kernel": kernel, "strides": tuple(a.get("strides", (1, 1))),
                                "pads": self._pads(a, name), "dilations": tuple(a.get("dilations", (1, 1))),
                                "group": int(a.get("group", 1))}, {"W": w, "B": b})

    def do_Relu(self, node, name, ins, a, emit):
        emit("Relu", [ins[0]])

    def do_MaxPool(self, node, name, ins, a, emit):
        op = node.op_type
        if len(node.output) > 1 and node.output[1]:
            raise ModelError(f"{self.path}: MaxPool node '{name}' asks for its Indices output, which is not supported")
        kernel = tuple(a["kernel_shape"])
        if len(kernel) != 2:
            raise ModelError(f"{self.path}: {op} node '{name}' is not 2-D (kernel {kernel})")
        if tuple(a.get("dilations", (1, 1))) != (1, 1):
            raise ModelError(f"{self.path}: {op} node '{name}' has dilations {tuple(a['dilations'])}, which are not supported")
        attrs = {"kernel": kernel, "strides": tuple(a.get("strides", (1, 1))), "pads": self._pads(a, name),
                 "ceil_mode": int(a.get("ceil_mode", 0))}
        if op == "AveragePool":
            attrs["count_include_pad"] = int(a.get("count_include_pad", 0))
        emit(op, [ins[0]], attrs)

    do_AveragePool = do_MaxPool  # the same attributes, and count_include_pad

    def do_GlobalAveragePool(self, node, name, ins, a, emit):
        emit("GlobalAveragePool", [ins[0]])

    def do_LRN(self, node, name, ins, a, emit):
        emit("LRN", [ins[0]], {"size": int(a["size"]), "alpha": float(a.get("alpha", 1e-4)),
                               "beta": float(a.get("beta", 0.75)), "bias": float(a.get("bias", 1.0))})

    def do_Concat(self, node, name, ins, a, emit):
        if a.get("axis") not in (1, -3) or any(i in self.consts for i in ins):
            raise ModelError(f"{self.path}: Concat node '{name}' on axis {a.get('axis')} is not supported (only channels, axis 1)")
        emit("Concat", ins, {"axis": 1})

    def do_Flatten(self, node, name, ins, a, emit):
        if a.get("axis", 1) != 1:
            raise ModelError(f"{self.path}: Flatten node '{name}' with axis {a.get('axis')} is not supported (only axis 1)")
        emit("Flatten", [ins[0]], {"features": None})

    def do_Reshape(self, node, name, ins, a, emit):
        if len(node.input) > 1 and node.input[1] in self.zero_is_batch and a.get("allowzero", 0):
            raise ModelError(f"{self.path}: Reshape node '{name}' with allowzero=1 takes the batch size computed at "
                             "run time; not supported")
        shape = [int(s) for s in (self._const(node.input[1], node, "shape") if len(node.input) > 1 else a["shape"])]
        if len(shape) != 2 or shape[0] not in (0, -1, 1) and shape[1] != -1:
            raise ModelError(f"{self.path}: Reshape node '{name}' to {shape} is not a flatten to (batch, features); not supported")
        emit("Flatten", [ins[0]], {"features": shape[1] if shape[1] > 0 else None})

    def do_Gemm(self, node, name, ins, a, emit):
        if a.get("transA", 0):
            raise ModelError(f"{self.path}: Gemm node '{name}' with transA=1 is not supported")
        w = self._const(node.input[1], node, "weight").astype(np.float32)
        w = w if a.get("transB", 0) else w.T
        w = w * np.float32(a.get("alpha", 1.0))
        b = np.zeros(w.shape[0], np.float32)
        if len(node.input) > 2 and node.input[2]:
            c = self._const(node.input[2], node, "bias").astype(np.float32) * np.float32(a.get("beta", 1.0))
            if c.size not in (1, w.shape[0]):
                raise ModelError(f"{self.path}: Gemm node '{name}' bias of shape {c.shape} is not per-output")
            b = b + c.reshape(-1)
        emit("Gemm", [ins[0]], {}, {"W": np.ascontiguousarray(w), "B": b})

    def do_MatMul(self, node, name, ins, a, emit):
        w = self._const(node.input[1], node, "weight").astype(np.float32)
        if w.ndim != 2:
            raise ModelError(f"{self.path}: MatMul node '{name}' weight of rank {w.ndim} is not supported")
        emit("Gemm", [ins[0]], {}, {"W": np.ascontiguousarray(w.T), "B": np.zeros(w.shape[1], np.float32)})

    def do_BatchNormalization(self, node, name, ins, a, emit):
        s, b, m, v = (self._const(i, node, "statistic").astype(np.float64) for i in node.input[1:5])
        k = s / np.sqrt(v + float(a.get("epsilon", 1e-5)))
        emit("Affine", [ins[0]], {}, {"scale": k.astype(np.float32).reshape(-1, 1, 1),
                                      "shift": (b - m * k).astype(np.float32).reshape(-1, 1, 1)})

    def do_Mul(self, node, name, ins, a, emit):
        self._arith(node, name, ins, emit)

    do_Add = do_Sub = do_Div = do_Mul  # a constant operand: an Affine

    def _arith(self, node, name, ins, emit):
        op = node.op_type
        consts = [i in self.consts for i in node.input]
        if not any(consts):
            if op in ("Add", "Mul"):  # a residual connection, a channel gate, SiLU
                emit(op, ins)
                return
            raise ModelError(f"{self.path}: {op} node '{name}' of two computed tensors is not supported")
        if all(consts):
            raise ModelError(f"{self.path}: {op} node '{name}' of two constants was not folded")
        c = self.consts[node.input[consts.index(True)]].astype(np.float32)
        x_first = not consts[0]
        c = c.reshape(c.shape[1:]) if c.ndim == 4 and c.shape[0] == 1 else c
        one, zero = np.ones_like(c), np.zeros_like(c)
        if op == "Mul":
            scale, shift = c, zero
        elif op == "Add":
            scale, shift = one, c
        elif op == "Sub":
            scale, shift = (one, -c) if x_first else (-one, c)
        elif x_first:
            scale, shift = 1 / c, zero
        else:
            raise ModelError(f"{self.path}: Div node '{name}' divides a constant by a tensor; not supported")
        emit("Affine", [ins[1 - consts.index(True)]], {}, {"scale": scale, "shift": shift})

    def do_Sigmoid(self, node, name, ins, a, emit):
        emit("Activation", [ins[0]], {"kind": "sigmoid"})

    def do_HardSigmoid(self, node, name, ins, a, emit):
        emit("Activation", [ins[0]], {"kind": "hardsigmoid", "alpha": float(a.get("alpha", 0.2)),
                                      "beta": float(a.get("beta", 0.5))})

    def do_HardSwish(self, node, name, ins, a, emit):
        emit("Activation", [ins[0]], {"kind": "hardswish", "alpha": 1 / 6, "beta": 0.5})

    def do_Clip(self, node, name, ins, a, emit):
        if self.opset < 11:
            lo, hi = float(a.get("min", -np.inf)), float(a.get("max", np.inf))
        else:
            lo, hi = (self._input(node, k, "bound") for k in (1, 2))
            lo, hi = (-np.inf if lo is None else float(lo[0])), (np.inf if hi is None else float(hi[0]))
        if lo == 0 and hi == np.inf:
            emit("Relu", [ins[0]])
        else:
            emit("Activation", [ins[0]], {"kind": "clip", "alpha": lo, "beta": hi})

    def do_Pad(self, node, name, ins, a, emit):
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if self.opset < 11:
            pads, value = list(a.get("pads", a.get("paddings", []))), float(a.get("value", 0.0))
        else:
            pads = [int(v) for v in self._input(node, 1, "pads")]
            value = self._input(node, 2, "value")
            value = 0.0 if value is None else float(value[0])
            axes = self._input(node, 3, "axes")  # opset 18: the axes the pads apply to
            if axes is not None:
                full = [0] * 8
                for k, ax in enumerate(int(v) % 4 for v in axes):
                    full[ax], full[ax + 4] = pads[k], pads[k + len(axes)]
                pads = full
        if mode != "constant" or value != 0.0:
            raise ModelError(f"{self.path}: Pad node '{name}' pads with mode {mode!r} and value {value}; "
                             "only zeros (constant 0) are supported")
        if len(pads) != 8 or any(pads[k] for k in (0, 1, 4, 5)) or min(pads) < 0:
            raise ModelError(f"{self.path}: Pad node '{name}' has pads {pads}; only non-negative pads of H and W "
                             "of an (N, C, H, W) tensor are supported")
        emit("Pad", [ins[0]], {"pads": (pads[2], pads[3], pads[6], pads[7])})

    def _axes(self, node, a):
        # the axes of ReduceMean and Squeeze: an attribute before opset 13/18, an input after
        axes = a.get("axes") if "axes" in a else self._input(node, 1, "axes")
        return None if axes is None else [int(v) for v in axes]

    def do_ReduceMean(self, node, name, ins, a, emit):
        axes = self._axes(node, a)
        if axes is None or sorted(ax % 4 for ax in axes) != [2, 3]:
            raise ModelError(f"{self.path}: ReduceMean node '{name}' over axes {axes} is not supported "
                             "(only over H and W, axes (2, 3))")
        if a.get("keepdims", 1):
            emit("GlobalAveragePool", [ins[0]])
        else:
            pooled = node.output[0] + ":pooled"
            emit("GlobalAveragePool", [ins[0]], output=pooled)
            emit("Flatten", [pooled], {"features": None, "squeeze": True})

    def do_Squeeze(self, node, name, ins, a, emit):
        axes = self._axes(node, a)
        if axes is None or sorted(ax % 4 for ax in axes) != [2, 3]:
            raise ModelError(f"{self.path}: Squeeze node '{name}' over axes {axes} is not supported "
                             "(only the 1x1 H and W of (N, C, 1, 1))")
        emit("Flatten", [ins[0]], {"features": None, "squeeze": True})

    def _pads(self, a, name):
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto not in ("NOTSET", "VALID"):
            raise ModelError(f"{self.path}: node '{name}' uses auto_pad={auto}, which is not supported")
        p = tuple(int(v) for v in a.get("pads", (0, 0, 0, 0)))
        if len(p) != 4 or min(p) < 0:
            raise ModelError(f"{self.path}: node '{name}' has bad pads {p}")
        return p  # ONNX order: (top, left, bottom, right)


def _fold_pads(nodes, outputs, path):
    """Fold each Pad (zeros around H and W) into the padding of the one Conv or pool that reads it:
    a Conv pads with zeros anyway; an AveragePool then counts the padded zeros (count_include_pad,
    which only holds where the pool had no padding of its own or counted it already); a MaxPool
    only after a ReLU-like op (non-negative input: a zero added to the window cannot win over its
    maximum). Anything else is refused, naming the Pad."""
    producer, readers = producers(nodes), {}
    for n in nodes:
        for t in n.inputs:  # once per input read: a node reading the Pad twice counts twice
            readers.setdefault(t, []).append(n)
    kept = []
    for n in nodes:
        if n.op != "Pad":
            kept.append(n)
            continue
        out = n.outputs[0]
        after = readers.get(out, [])
        target = after[0] if len(after) == 1 and out not in outputs else None
        why = None
        if target is None or target.op not in ("Conv", "MaxPool", "AveragePool"):
            why = "it does not feed exactly one Conv or pooling layer"
        elif target.op == "AveragePool":
            if any(target.attrs["pads"]) and not target.attrs["count_include_pad"]:
                why = "the AveragePool after it has its own padding, not counted"
            else:
                target.attrs["count_include_pad"] = 1
        elif target.op == "MaxPool":
            src = producer.get(n.inputs[0])
            nonneg = src is not None and (src.op == "Relu" or src.op == "Activation" and (
                src.attrs["kind"] in ("sigmoid", "hardsigmoid") or src.attrs["kind"] == "clip" and src.attrs["alpha"] >= 0))
            if not nonneg:
                why = "the MaxPool after it could take a padded zero for its maximum"
        if why:
            raise ModelError(f"{path}: Pad node '{n.name}' cannot be folded into the layer after it: {why}")
        target.attrs["pads"] = tuple(p + q for p, q in zip(target.attrs["pads"], n.attrs["pads"]))
        target.inputs[0] = n.inputs[0]
    nodes[:] = kept


def _fuse_silu(nodes, outputs):
    """Replace each Mul(x, Sigmoid(x)) (either order) whose Sigmoid feeds nothing else by one
    Activation 'silu' on x: one pass each way instead of two (EfficientNet has one after every
    convolution)."""
    consumers, producer = consumer_counts(nodes), producers(nodes)
    gone = set()
    for n in nodes:
        if n.op != "Mul" or len(n.inputs) != 2:
            continue
        for s, x in (n.inputs, n.inputs[::-1]):
            src = producer.get(s)
            if (src is not None and src.op == "Activation" and src.attrs["kind"] == "sigmoid" and src.inputs[0] == x
                    and consumers[s] == 1 and s not in outputs):
                n.op, n.inputs, n.attrs = "Activation", [x], {"kind": "silu"}
                gone.add(id(src))
                break
    nodes[:] = [n for n in nodes if id(n) not in gone]


def _fold_affines(nodes, outputs):
    """Fold each Affine whose input comes only from a Conv/Gemm into that layer's W and B (exact:
    a per-output-channel scale and shift commute with the linear map)."""
    consumers, producer = consumer_counts(nodes), producers(nodes)
    kept = []
    for n in nodes:
        src = producer.get(n.inputs[0]) if n.op == "Affine" else None
        if src is not None and src.op in ("Conv", "Gemm") and consumers[n.inputs[0]] == 1 and n.inputs[0] not in outputs:
            k = src.params["W"].shape[0]
            scale = _per_channel(n.params["scale"], k, src.op)
            shift = _per_channel(n.params["shift"], k, src.op)
            if scale is not None and shift is not None:
                src.params["W"] = (src.params["W"] * scale.reshape((-1,) + (1,) * (src.params["W"].ndim - 1))).astype(np.float32)
                src.params["B"] = (src.params["B"] * scale + shift).astype(np.float32)
                src.outputs = n.outputs
                producer[n.outputs[0]] = src
                continue
        kept.append(n)
    nodes[:] = kept


def _per_channel(a, k, op):
    """A (k,)-vector if `a` broadcasts as one value per output channel of a Conv ((N, k, H, W)
    output) or Gemm ((N, k) output), else None."""
    per_channel = ((k, 1, 1),) if op == "Conv" else ((k,), (1, k))
    if a.size == 1 or a.shape in per_channel:
        return np.broadcast_to(a.reshape(-1), (k,)).astype(np.float32)
    return None


# what _evaluate computes: the input prologue's ops, and what exporters compute from constants
FOLDABLE = PROLOGUE_OPS | {"Shape", "ConstantOfShape", "Transpose", "Reshape", "Neg", "Range", "Expand", "Equal",
                           "Where", "Sqrt", "Reciprocal", "Pow", "Floor", "Ceil", "Flatten"}


def _evaluate(node, a, env, opset):
    """Evaluate one node with NumPy on the values in env (tensor name -> array); returns its
    outputs as a list. Float results of the prologue's arithmetic are float32; integer ones keep
    their type (pads, shapes, axes)."""
    op = node.op_type
    x = [env[i] if i else None for i in node.input]
    if op == "Gather":
        return [np.take(x[0], x[1], axis=a.get("axis", 0))]
    if op in ("Unsqueeze", "Squeeze"):
        axes = a.get("axes") if "axes" in a else (x[1].tolist() if len(x) > 1 and x[1] is not None else None)
        if op == "Squeeze":
            return [np.squeeze(x[0], axis=tuple(axes) if axes is not None else None)]
        out = np.asarray(x[0])
        ndim = out.ndim + len(axes)
        for ax in sorted(ax % ndim for ax in axes):
            out = np.expand_dims(out, ax)
        return [out]
    if op == "Slice":
        if "starts" in a:
            starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
        else:
            starts, ends = x[1].tolist(), x[2].tolist()
            axes = x[3].tolist() if len(x) > 3 and x[3] is not None else None
            steps = x[4].tolist() if len(x) > 4 and x[4] is not None else None
        axes = axes if axes is not None else list(range(len(starts)))
        steps = steps or [1] * len(starts)
        index = [slice(None)] * x[0].ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            index[ax] = slice(s, e, st)
        return [x[0][tuple(index)]]
    if op == "Concat":
        return [np.concatenate([np.atleast_1d(v) for v in x], axis=a["axis"])]
    if op == "Identity":
        return [x[0]]
    if op == "Cast":
        return [np.asarray(x[0]).astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"]))]
    if op == "Shape":
        shape = np.array(np.shape(x[0]), np.int64)
        return [shape[a.get("start", 0):a.get("end", None)]]
    if op == "ConstantOfShape":
        value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return [np.full(tuple(int(v) for v in x[0]), value.reshape(-1)[0], value.dtype)]
    if op == "Transpose":
        return [np.transpose(x[0], a.get("perm"))]
    if op == "Reshape":
        shape = [int(v) for v in (x[1] if len(x) > 1 else a["shape"])]
        if not a.get("allowzero", 0):
            shape = [x[0].shape[k] if v == 0 else v for k, v in enumerate(shape)]
        return [np.reshape(x[0], shape)]
    if op == "Flatten":
        ax = a.get("axis", 1) % max(x[0].ndim, 1)
        return [np.reshape(x[0], (int(np.prod(x[0].shape[:ax])), -1))]
    if op == "Range":
        return [np.arange(x[0], x[1], x[2]).astype(np.result_type(x[0]))]
    if op == "Expand":
        return [x[0] * np.ones(tuple(int(v) for v in x[1]), x[0].dtype)]
    if op == "Where":
        return [np.where(x[0], x[1], x[2])]
    unary = {"Neg": np.negative, "Sqrt": np.sqrt, "Reciprocal": np.reciprocal, "Floor": np.floor, "Ceil": np.ceil}
    if op in unary:
        return [unary[op](x[0])]
    if op == "Equal":
        return [np.equal(x[0], x[1])]
    f = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide, "Pow": np.power}[op]
    r = f(x[0], x[1])
    if op == "Div" and np.asarray(x[0]).dtype.kind in "iu" and np.asarray(x[1]).dtype.kind in "iu":
        r = np.trunc(r).astype(np.result_type(x[0], x[1]))  # ONNX integer division truncates
    elif np.asarray(r).dtype.kind == "f":
        r = np.asarray(r).astype(np.float32)
    return [r]
