"""Objectives: what an image's ascent maximises, as a weighted sum of terms.

    "tabby cat + 0.5 * tiger - 0.3 * 207"
    "inception_4c/output:97"            a channel's mean
    "inception_4c/output:97@7,7"        one neuron (row 7, column 7 of that tensor's grid)
    "inception_4c/output:l2"            DeepDream's objective: the mean of the tensor's squares

Terms are joined by ' + ' or ' - ' (spaces around the operator, so that 'black-and-tan coonhound'
stays whole); each is `[WEIGHT *] TARGET`. A class target (an index or a name) is the pre-softmax
score on the head the schedule's octave names (main, then aux2, aux1 for deepdraw), as a plain
class always was; a TENSOR target stays on its tensor in every octave.

One backward pass whatever the number of terms: every term's tensor gets a seed (a dense map of
the term's d objective / d tensor, plus 2 w t / size for an l2 term), the deepest of them starts
the backward and the others are added in as it passes them (graph.Plan's taps).

This module knows nothing of devices: it parses and checks, and builds the seeds as NumPy arrays
that a renderer uploads once per octave."""
import math
import re
from typing import NamedTuple

import numpy as np

from . import classes as classnames
from .errors import ArgumentError

_SPLIT = re.compile(r" ([+-]) ")
_WEIGHTED = re.compile(r"^\s*(\S+?)\s*\*\s*(.*)$")
_NEURON = re.compile(r"^([0-9]+)@([0-9]+),([0-9]+)$")


class Term(NamedTuple):
    """One term. weight: float; kind: 'class', 'channel', 'neuron' or 'l2'; tensor: the tensor
    name (None for a class: the octave's head); index: the class or channel (None for l2); row,
    col: a neuron's place in the tensor's grid (None otherwise)."""
    weight: float
    kind: str
    tensor: object = None
    index: object = None
    row: object = None
    col: object = None

    def text(self):
        """The term as the grammar writes it, weight included ('0.5 * tiger shark' style, the
        class by index)."""
        if self.kind == "class":
            target = str(self.index)
        elif self.kind == "l2":
            target = f"{self.tensor}:l2"
        elif self.kind == "channel":
            target = f"{self.tensor}:{self.index}"
        else:
            target = f"{self.tensor}:{self.index}@{self.row},{self.col}"
        return f"{self.weight!r} * {target}"


class Objective(NamedTuple):
    """An image's objective: a tuple of Terms. `plain` is the class index when the objective is
    one class with weight 1 (drawn exactly as a plain class always was), else None."""
    terms: tuple

    @property
    def plain(self):
        t = self.terms
        return t[0].index if len(t) == 1 and t[0].kind == "class" and t[0].weight == 1.0 else None

    def text(self):
        """The canonical expression (str): parse(text) gives this objective back."""
        out = ""
        for k, t in enumerate(self.terms):
            s = t.text()
            if k == 0:
                out = s
            elif t.weight < 0:
                out += " - " + t._replace(weight=-t.weight).text()
            else:
                out += " + " + s
        return out

    def tensors(self):
        """Tensor names the non-class terms read (list, in order, once each)."""
        return list(dict.fromkeys(t.tensor for t in self.terms if t.kind != "class"))


def is_expression(text):
    """True when `text` (str) is more than one class index or name: it has an operator between
    terms, a weight or a TENSOR: target."""
    return isinstance(text, str) and (bool(_SPLIT.search(" " + text.strip() + " ")) or "*" in text or ":" in text)


def parse(expr, network, crop, classes):
    """The Objective that `expr` names, checked against `network` (graph.Network) for inputs of
    `crop` x `crop` pixels and a class head of `classes` classes.

    expr: an int (a class index), or a str in the grammar of this module's docstring.
    Raises ArgumentError, one line naming the term, for: an unknown class name, an index out of
    range, an operator with no term after it, a weight that is not a finite number, an unknown
    tensor, a channel out of range, a neuron outside its tensor's grid or on a tensor with none."""
    if isinstance(expr, bool) or not isinstance(expr, (int, np.integer, str)):
        raise ArgumentError(f"an objective is a class index or an expression, got {type(expr).__name__}")
    if not isinstance(expr, str):
        return Objective((Term(1.0, "class", index=classnames.lookup(int(expr), classes)),))
    if not expr.strip():
        raise ArgumentError("an empty objective: give a class or an expression like 'tabby cat + 0.5 * tiger'")
    parts = _SPLIT.split(" " + expr.strip() + " ")
    # parts: ['', sign?...] -- rebuild (sign, text) pairs; a leading ' - ' negates the first term
    pieces, sign = [], 1.0
    first = parts[0].strip()
    rest = parts[1:]
    if first:
        pieces.append((1.0, first))
    for k in range(0, len(rest), 2):
        op, text = rest[k], rest[k + 1].strip() if k + 1 < len(rest) else ""
        sign = -1.0 if op == "-" else 1.0
        if not text:
            raise ArgumentError(f"objective {expr!r}: '{op}' has no term after it")
        pieces.append((sign, text))
    if not pieces:
        raise ArgumentError(f"objective {expr!r} has no term")
    shapes = {}
    terms = [_term(sign, text, expr, network, crop, classes, shapes) for sign, text in pieces]
    return Objective(tuple(terms))


def _term(sign, text, expr, network, crop, classes, shapes):
    weight = 1.0
    m = _WEIGHTED.match(text)
    if m:
        try:
            weight = float(m.group(1))
        except ValueError:
            raise ArgumentError(f"objective {expr!r}: weight {m.group(1)!r} is not a number") from None
        if not math.isfinite(weight):
            raise ArgumentError(f"objective {expr!r}: weight {m.group(1)!r} is not a finite number")
        text = m.group(2).strip()
        if not text:
            raise ArgumentError(f"objective {expr!r}: '*' has no target after it")
    weight *= sign
    if ":" not in text:
        try:
            return Term(weight, "class", index=classnames.lookup(text, classes))
        except ArgumentError as e:
            raise ArgumentError(f"objective {expr!r}: {e}") from None
    name, _, spec = text.rpartition(":")
    try:
        tensor = network.resolve_head(name)
    except ArgumentError:
        raise ArgumentError(f"objective {expr!r}: no tensor named {name!r} in the model (`classviz info` lists "
                            "its heads; any tensor of the graph can be named)") from None
    if tensor not in shapes:
        shapes[tensor] = network.infer_shapes(tensor, (1, network.model.input_shape[1] or 3, crop, crop))[tensor]
    shape = shapes[tensor]
    if spec == "l2":
        return Term(weight, "l2", tensor)
    m = _NEURON.match(spec)
    if not (m or spec.isdigit() and spec.isascii()):
        raise ArgumentError(f"objective {expr!r}: {spec!r} after '{name}:' is not a channel, CHANNEL@ROW,COL or l2")
    channel = int(m.group(1) if m else spec)
    if channel >= shape[1]:
        raise ArgumentError(f"objective {expr!r}: channel {channel} is out of range: {name} has {shape[1]} "
                            f"channels (0..{shape[1] - 1})")
    if not m:
        return Term(weight, "channel", tensor, channel)
    row, col = int(m.group(2)), int(m.group(3))
    if len(shape) != 4:
        raise ArgumentError(f"objective {expr!r}: {name} has shape {tuple(shape)}, no grid to name a neuron in")
    if row >= shape[2] or col >= shape[3]:
        raise ArgumentError(f"objective {expr!r}: neuron ({row}, {col}) is outside {name}'s {shape[2]}x{shape[3]} "
                            f"grid at {crop}x{crop} pixels")
    return Term(weight, "neuron", tensor, channel, row, col)


def seeds(objectives, tensor, head, shape, dtype):
    """The seed of `tensor` for a batch: (S, l2w) with S of `shape` (N, ...) and l2w (N,), both
    `dtype`, such that image n's objective takes, from this tensor t,
    sum(S[n] * t[n]) + l2w[n] * mean(t[n]^2), and its gradient there is S[n] + 2 l2w[n] t[n] / size.
    objectives: one Objective per image; head: the tensor the octave's class terms read (or None)."""
    s = np.zeros(shape, np.float64)
    l2w = np.zeros(shape[0], np.float64)
    positions = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    for n, o in enumerate(objectives):
        for t in o.terms:
            on = t.tensor if t.kind != "class" else head
            if on != tensor:
                continue
            if t.kind in ("class", "channel"):
                s[n, t.index] += t.weight / positions
            elif t.kind == "neuron":
                s[n, t.index, t.row, t.col] += t.weight
            else:
                l2w[n] += t.weight
    return s.astype(dtype), l2w.astype(dtype)
