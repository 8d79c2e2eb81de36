"""The network as a structure: which ops it has, where its heads are, what each head depends on."""
import numpy as np

from ..errors import ArgumentError, ModelError
from ..weights.model import producers
from .ops import REGISTRY


class Network:
    """A `classviz.weights.Model` checked against the op registry, with its heads found.

    heads: tuple of classifier tensor names, main (deepest) first, then the auxiliary heads deepest
    first; roles: dict 'main'/'aux2'/'aux1' -> tensor name, where present."""

    def __init__(self, model):
        for node in model.nodes:
            if node.op not in REGISTRY:
                raise ModelError(f"unsupported op type '{node.op}' in node '{node.name}'")
        self.model = model
        self.producer = producers(model.nodes)
        self.depth = self._depths()
        outputs = [t for t in dict.fromkeys(model.resolve(o) for o in model.outputs) if t in self.producer]
        if not outputs:
            raise ModelError(f"{model.source}: no graph output is computed from the input")
        # classifier heads are the outputs a Gemm makes; a graph without one offers its outputs
        classifiers = [t for t in outputs if self.producer[t].op == "Gemm"] or outputs
        self.heads = tuple(sorted(classifiers, key=lambda t: -self.depth[t]))
        aux = self.heads[1:]
        self.roles = {"main": self.heads[0]}
        self.roles.update({f"aux{len(aux) - i}": t for i, t in enumerate(aux)})

    def _depths(self):
        """Longest path, in nodes, from the input to each tensor (nodes are topologically sorted)."""
        depth = {self.model.input_name: 0}
        for node in self.model.nodes:
            d = 1 + max(depth.get(i, 0) for i in node.inputs)
            for t in node.outputs:
                depth[t] = d
        return depth

    def resolve_head(self, head):
        """The tensor name for `head`: None (the main classifier), a role ('main', 'aux2', 'aux1')
        or any tensor name of the graph (through Dropout/Identity/Softmax aliases).
        Raises ArgumentError naming the available heads when there is no such tensor."""
        if head is None:
            return self.heads[0]
        if not isinstance(head, str):
            raise ArgumentError(f"head must be a string or None, got {type(head).__name__}")
        if head in self.roles:
            return self.roles[head]
        t = self.model.resolve(head)
        if t not in self.producer:
            known = ", ".join(list(self.roles) + list(self.heads))
            raise ArgumentError(f"no head or tensor named {head!r} in the network (heads: {known})")
        return t

    def ancestors(self, tensor):
        """The nodes `tensor` depends on, in topological order (list of `Node`)."""
        need, stack = set(), [tensor]
        while stack:
            t = stack.pop()
            node = self.producer.get(t)
            if node is not None and id(node) not in need:
                need.add(id(node))
                stack.extend(node.inputs)
        return [n for n in self.model.nodes if id(n) in need]

    def infer_shapes(self, head, shape, dtype=np.float32):
        """The shape of every tensor on the way to `head` (None, a role or a tensor name) for an
        input of `shape` (N, C, H, W), without a backend or any weights prepared: {tensor: shape}.
        Class counts, head shapes and what a size does to the grid come from here.
        Raises ArgumentError when the network cannot take that input."""
        shapes = {self.model.input_name: tuple(shape)}
        for node in self.ancestors(self.resolve_head(head)):
            op = REGISTRY[node.op](node, [shapes[i] for i in node.inputs], np.dtype(dtype), None)
            for t in node.outputs:
                shapes[t] = op.out_shape
        return shapes

    def receptive_fields(self, head):
        """Which input pixels each element of every tensor on the way to `head` sees, without a
        backend: {tensor: ((size, jump, start) for H, (size, jump, start) for W)}. Element (i, j)
        sees input rows start_h + i * jump_h .. + size_h - 1 (and columns alike), which may reach
        into the padding past the image; None for a tensor that sees the whole image (after a
        global pool, a flatten or a fully connected layer, or a channel gate computed from them). A
        Concat's, Add's or Mul's field covers its inputs'."""
        fields = {self.model.input_name: ((1, 1, 0), (1, 1, 0))}
        for node in self.ancestors(self.resolve_head(head)):
            ins = [fields[i] for i in node.inputs]
            if node.op in ("Conv", "MaxPool", "AveragePool") and ins[0] is not None:
                a = node.attrs
                dil = a.get("dilations", (1, 1))
                # pads are (top, left, bottom, right): the leading pad of axis 0 is pads[0], of axis 1 pads[1]
                out = tuple((size + (k - 1) * d * jump, jump * st, start - p * jump)
                            for (size, jump, start), k, st, p, d in zip(ins[0], a["kernel"], a["strides"],
                                                                       a["pads"][:2], dil))
            elif node.op in ("GlobalAveragePool", "Flatten", "Gemm") or any(f is None for f in ins):
                out = None
            elif node.op in ("Concat", "Add", "Mul"):  # inputs on one grid (a Mul's gate seeing all is None)
                out = tuple(_cover(axis) for axis in zip(*ins))
            else:  # Relu, Activation, LRN (across channels), Affine, ChannelSlice: element by element
                out = ins[0]
            for t in node.outputs:
                fields[t] = out
        return fields


def _cover(fields):
    """(size, jump, start) covering every (size, jump, start) of `fields` on one grid."""
    start = min(f[2] for f in fields)
    end = max(f[2] + f[0] for f in fields)
    return (end - start, fields[0][1], start)
