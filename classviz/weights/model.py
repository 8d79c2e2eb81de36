"""The small graph that `classviz.weights` hands to `classviz.graph`: nodes with named float32 arrays.

Every node carries one of a few canonical op types (see `OPS`); the ONNX reader rewrites what an
export wrote (BatchNormalization, Dropout, MatMul+Add, Reshape-as-flatten, torchvision's input
prologue, ...) into these, so nothing downstream knows about ONNX opsets or exporter habits.
"""
from dataclasses import dataclass, field

import numpy as np

# op type -> what its attrs and params hold (documentation only; graph.ops is the registry)
OPS = {
    "Conv": "attrs kernel (kh, kw), strides (sh, sw), pads (top, left, bottom, right), dilations, group;"
            " params W (Cout, Cin/group, kh, kw), B (Cout,)",
    "Relu": "",
    "MaxPool": "attrs kernel, strides, pads, ceil_mode",
    "AveragePool": "attrs kernel, strides, pads, ceil_mode, count_include_pad",
    "GlobalAveragePool": "",
    "LRN": "attrs size, alpha, beta, bias",
    "Concat": "attrs axis (always 1)",
    "Flatten": "attrs features (expected flattened size or None), squeeze (True: H and W must be 1)",
    "Gemm": "params W (K, C), B (K,): y = x @ W.T + B",
    "Add": "two activations of one shape: y = a + b",
    "Mul": "two activations, of one shape or one (N, C, 1, 1): y = a * b",
    "Activation": "attrs kind (sigmoid, hardsigmoid, hardswish, clip), alpha, beta (see kernels.shared.ACTIVATIONS)",
    "Affine": "params scale, shift broadcastable against the input without its batch axis: y = x*scale + shift",
}


@dataclass
class Node:
    """One canonical op.

    op: a key of `OPS`; name: the ONNX node name (or a made-up one where the file had none);
    inputs/outputs: activation tensor names (weights are not inputs); attrs: python scalars and
    tuples; params: named float32 numpy arrays.
    """
    op: str
    name: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)


@dataclass
class Model:
    """A network read from a weights file.

    nodes: `Node`s in topological order; input_name: the image input tensor; input_shape: its
    declared (N, C, H, W) with None for symbolic dims; outputs: the graph's output tensors after
    alias resolution; aliases: tensor name -> the canonical tensor it equals (Dropout, Identity);
    softmax_of: softmax output tensor -> its input (the pre-softmax score); metadata: the file's
    metadata_props; source: the file path.
    """
    nodes: list
    input_name: str
    input_shape: tuple
    outputs: list
    aliases: dict = field(default_factory=dict)
    softmax_of: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    source: str = ""

    def resolve(self, tensor):
        """Map a tensor name to the canonical tensor it stands for (through Dropout, Identity,
        Softmax). Returns the name unchanged when it is already canonical."""
        seen = set()
        while tensor not in seen:
            seen.add(tensor)
            if tensor in self.aliases:
                tensor = self.aliases[tensor]
            elif tensor in self.softmax_of:
                tensor = self.softmax_of[tensor]
            else:
                break
        return tensor

    def parameter_count(self):
        """Total number of weight values (int)."""
        return int(sum(np.size(a) for n in self.nodes for a in n.params.values()))


def producers(nodes):
    """{tensor name: the Node that writes it} for `nodes` (each canonical node has one output)."""
    return {t: n for n in nodes for t in n.outputs}


def consumer_counts(nodes):
    """{tensor name: how many inputs of `nodes` read it} (a node reading a tensor twice counts twice)."""
    counts = {}
    for n in nodes:
        for t in n.inputs:
            counts[t] = counts.get(t, 0) + 1
    return counts
