"""An execution plan: one head, one input shape, one dtype, one backend; built once, run every step.

Building it decides everything that does not change between steps:
- which nodes run (only those the head depends on);
- fusions: sibling 1x1 convolutions (same input, each followed by a ReLU alone) merge into one
  convolution, whose output the siblings' outputs are channel slices of: one GEMM instead of
  several thin ones forward, and backward one GEMM writes the input's gradient instead of one
  writing and the others accumulating; a ReLU folds into the Conv, Gemm or Add before it; a
  residual Add folds into the convolution that computes its later summand, which adds the other
  and applies the Add's activation as it stores (the Add's forward is then nothing);
- buffers, allocated once: every tensor's value and gradient; the inputs of a channel Concat are
  placed as views of its output (so the concat costs nothing forward or backward), a Flatten is a
  view of its input;
- the backward schedule: which gradient writes overwrite and which accumulate, and which layer
  applies a fused activation's mask (its own, or the last one to write that gradient, as it
  writes or adds it: ResNet's block outputs, masked by the next block's first GEMM);
- a residual Add's inputs take its output's gradient buffer where nothing reads or writes that
  buffer out of turn: the Add then masks its output's gradient in place (or, without a fused ReLU,
  does nothing) instead of copying it into two more buffers.
"""
import numpy as np

from ..errors import ArgumentError
from ..weights.model import Node, consumer_counts, producers
from .ops import REGISTRY


class Step:
    """One op of the plan with the tensors it reads and writes: ins, the inputs (each gets a
    gradient), reads, what its forward takes (ins, and a folded Add's other summand), out."""

    def __init__(self, op, ins, out):
        self.op, self.ins, self.out = op, ins, out
        self.reads = ins
        self.acc = [False] * len(ins)


class Plan:
    """Forward to `head` and backward to the input for inputs of exactly `shape` and `dtype`.

    network: graph.Network; head: a tensor name (already resolved); taps: more tensors (resolved
    names) whose values the caller reads after `forward` and whose gradients it seeds during
    `backward` (an objective with terms on several tensors): each keeps a buffer of its own (no
    fusion, merge or view hides it), and the plan computes everything they and the head need;
    shape: (N, C, H, W);
    dtype: numpy float32 or float64; be: a backend module from `classviz.kernels`; precision:
    the arithmetic of float32 convolutions, 'fp32', 'tf32' or 'bf16' (the last two CUDA only).
    max_memory: bytes the plan may take (None: what the backend has available); prepared: the
    network's {key: prepared weights} that plans share (None: this plan's own).
    Raises ArgumentError when the network cannot take this input shape, or when the plan would need
    more memory than it may take (saying how much, before allocating any of it)."""

    def __init__(self, network, head, shape, dtype, be, precision="fp32", max_memory=None, prepared=None,
                 taps=()):
        self.be, self.head, self.shape, self.dtype, self.precision = be, head, tuple(shape), dtype, precision
        self.input = network.model.input_name
        self.taps = tuple(t for t in dict.fromkeys(taps) if t != head)
        if self.input in self.taps:
            raise ArgumentError("the input image is not a tensor an objective can read: name one the network computes")
        need = {id(n) for t in (head, *self.taps) for n in network.ancestors(t)}
        nodes = _merge_siblings([n for n in network.model.nodes if id(n) in need],
                                keep={head, self.input, *self.taps})
        consumers = consumer_counts(nodes)
        for t in self.taps:  # the objective reads each tap: so no fusion, concat view or merge takes it
            consumers[t] = consumers.get(t, 0) + 1
        self.steps = self._fuse(nodes, consumers)
        relus = self._infer_shapes()
        self._check_memory(max_memory)
        prepared = {} if prepared is None else prepared
        for s, relu in zip(self.steps, relus):
            s.op.prepare(be, relu, prepared)
        self.folded = self._fold_adds(consumers)
        self._place_values(consumers)
        self._place_grads(consumers)
        self._hand_masks_on(consumers)
        self.work = be.empty((max([s.op.work for s in self.steps] + [1]),), dtype)

    # -- building -------------------------------------------------------------------------------
    def _fuse(self, nodes, consumers):
        # a ReLU folds into the Conv, Gemm or Add before it, a clipped ReLU (ReLU6: Clip(0, c)) into the
        # Conv: the flag is True, or c
        producer = producers(nodes)
        fused_into, steps = {}, []
        for n in nodes:
            src = producer.get(n.inputs[0])
            if src is None or consumers[n.inputs[0]] != 1 or n.inputs[0] == self.head:
                continue
            if n.op == "Relu" and src.op in ("Conv", "Gemm", "Add"):
                fused_into[id(src)] = (n, True)
            elif n.op == "Activation" and src.op == "Conv" and _clipped_relu(n):
                fused_into[id(src)] = (n, float(n.attrs["beta"]))
        gone = {id(act) for act, _ in fused_into.values()}
        for n in nodes:
            if id(n) in gone:
                continue
            act, flag = fused_into.get(id(n), (None, False))
            steps.append((n, flag, act.outputs[0] if act else n.outputs[0]))
        return steps

    def _infer_shapes(self):
        """Shapes of every tensor, and the plan's Steps (ops not yet prepared); returns each step's
        fused-ReLU flag."""
        self.shapes = {self.input: self.shape}
        steps, relus = [], []
        for node, relu, out in self.steps:
            op = REGISTRY[node.op](node, [self.shapes[i] for i in node.inputs], self.dtype, self.be, self.precision)
            self.shapes[out] = op.out_shape
            steps.append(Step(op, list(node.inputs), out))
            relus.append(relu)
        self.steps = steps
        return relus

    def memory_estimate(self):
        """Bytes (int) this plan's buffers take, at most: a value and a gradient per tensor, and the
        largest convolution's im2col scratch. Weights are not counted (they are the model's size)."""
        item = np.dtype(self.dtype).itemsize
        tensors = sum(int(np.prod(shape)) for shape in self.shapes.values())
        scratch = 0
        for s in self.steps:
            if s.op.node.op == "Conv":
                kh, kw = s.op.node.attrs["kernel"]
                scratch = max(scratch, int(np.prod(self.shapes[s.ins[0]][:2])) // s.op.group * kh * kw
                              * int(np.prod(s.op.out_shape[2:])))
        return item * (2 * tensors + scratch)

    def _check_memory(self, max_memory):
        need = self.memory_estimate()
        limit, what = (max_memory, "max_memory") if max_memory is not None else \
            (self.be.available_memory(), f"the memory available to the {self.be.name} backend")
        if need > limit:
            raise ArgumentError(f"its buffers would need about {_gb(need)}, more than {what} ({_gb(limit)})")

    def _place_values(self, consumers):
        be = self.be
        placed = {}  # tensor -> (concat output tensor, channel offset)
        view_ops = {s.out for s in self.steps if s.op.view}
        for s in self.steps:
            if s.op.node.op == "Concat":
                s.op.placed = []
                for t, off in zip(s.ins, s.op.offsets):
                    ok = (consumers[t] == 1 and t != self.head and t != self.input and t not in view_ops
                          and t not in placed)
                    if ok:
                        placed[t] = (s.out, off)
                    s.op.placed.append(ok)
        self.placed = placed
        self.values = {}
        for s in reversed(self.steps):
            if s.op.view:
                continue
            if s.out in self.folded:  # the convolution writes the Add's output: its own is never written
                self.values[s.out] = self.values[self.folded[s.out]]
            elif s.out in placed:
                dst, off = placed[s.out]
                self.values[s.out] = self.values[dst][:, off:off + self.shapes[s.out][1]]
            else:
                self.values[s.out] = be.empty(self.shapes[s.out], self.dtype)
        for s in self.steps:
            if s.op.view:
                src = self.values.get(s.ins[0])
                view = s.op.view_of(src) if src is not None else None
                s.op.out_is_view = view is not None
                self.values[s.out] = view if view is not None else be.empty(s.op.out_shape, self.dtype)

    def _place_grads(self, consumers):
        be = self.be
        self.grads = {self.head: be.empty(self.shapes[self.head], self.dtype)}
        for s in self.steps:  # a slice's gradient is its part of the sliced tensor's gradient
            if s.op.node.op == "ChannelSlice":
                src = s.ins[0]
                if src not in self.grads:
                    self.grads[src] = be.empty(self.shapes[src], self.dtype)
                self.grads[s.out] = s.op.view_of(self.grads[src])
        written = set()
        self.tap_read = {}  # tap -> whether its gradient holds its consumers' part when its seed comes
        own = set()  # tensors with a gradient buffer of their own that no view is taken of
        for s in reversed(self.steps):
            if s.out in self.taps:
                self.tap_read[s.out] = s.out in written
            for k, t in enumerate(s.ins):
                s.acc[k] = t in written
                written.add(t)
                if t in self.grads:
                    continue
                if t in self.placed:
                    dst, off = self.placed[t]
                    self.grads[t] = self.grads[dst][:, off:off + self.shapes[t][1]]
                    own.discard(dst)
                elif s.op.node.op == "Flatten" and consumers[t] == 1:
                    self.grads[t] = self.grads[s.out].reshape(self.shapes[t])
                    own.discard(s.out)
                else:
                    self.grads[t] = be.empty(self.shapes[t], self.dtype)
                    own.add(t)
            if s.op.view:
                s.op.grad_is_view = consumers[s.ins[0]] == 1
        for t in self.taps:  # a tap no step reads (a branch off the way to the head) gets a buffer of its own
            if t not in self.grads:
                self.grads[t] = be.empty(self.shapes[t], self.dtype)
        # in the order decided (each Add's output before its inputs), so a chain ends on one buffer
        for t, out in _share_add_grads(self.steps, own - {self.input, *self.taps}).items():
            self.grads[t] = self.grads[out]

    def _fold_adds(self, consumers):
        """Folds each residual Add into the convolution that computes one of its summands, where
        that convolution has no activation of its own, the Add is its output's only reader, and
        the other summand is ready before it runs (computed by an earlier step): the convolution
        adds it and applies the Add's activation as it stores (one pass over the output fewer
        forward, a GEMM's epilogue on the CPU), and the Add's forward does nothing. Its backward
        is unchanged. Returns {convolution output: Add output}, whose value buffers are one."""
        index = {s.out: i for i, s in enumerate(self.steps)}
        keep = {self.head, self.input, *self.taps}
        folded = {}
        for s in self.steps:
            if s.op.node.op != "Add" or s.ins[0] == s.ins[1]:
                continue
            # the summand computed last: the other is then ready when its convolution runs
            t, other = sorted(s.ins, key=lambda u: index.get(u, -1), reverse=True)
            conv = self.steps[index[t]] if t in index else None
            if (conv is None or conv.op.node.op != "Conv" or conv.op.relu or consumers[t] != 1 or t in keep
                    or index.get(other, -1) >= index[t]):
                continue
            conv.op.sum_relu, s.op.folded = s.op.relu, True
            conv.reads = [conv.ins[0], other]
            folded[t] = s.out
        return folded

    def _hand_masks_on(self, consumers):
        # A fused activation's mask (a convolution's or an Add's) is applied by the layers that
        # write its output's gradient last, where they can do it as they write (a convolution
        # whose backend applies an input's mask as it writes or adds to that gradient: on the CPU
        # a pointwise layer's packed GEMM, a Winograd transform; MobileNet's depthwise layers; a
        # max-pool, which masks through its output, each window by its winner, a gradient it
        # writes alone); the producer then takes its gradient as it comes instead of masking it in
        # a pass of its own. The last writer of a gradient is the tensor's first reader in the
        # forward's order (the backward runs it last), and only readers write a gradient.
        # Past the tensor itself, a gradient arrives masked whole through:
        # - a channel Concat (the inception modules' outputs): the Concat's output holds its inputs'
        #   values, so where every input went through the same activation, the last writer of the
        #   Concat's gradient masks it with the Concat's values, which is each input's own mask;
        #   an input placed in the Concat's output has its gradient there, one copied out by the
        #   Concat (its only reader) has it masked too;
        # - the ChannelSlices of merged sibling convolutions: their gradients are the merged
        #   output's, so it is masked whole when each slice's is.
        # A head's or a tap's gradient takes a seed after its readers: never masked so.
        first_reader, readers = {}, {}
        for s in self.steps:
            for t in s.ins:
                first_reader.setdefault(t, s)
                readers.setdefault(t, []).append(s)
        act = {}  # tensor -> the activation its values went through, where one fused one did
        for s in self.steps:
            kind = s.op.node.op
            if kind in ("Conv", "Add") and s.op.relu:
                act[s.out] = s.op.relu
            elif kind == "ChannelSlice" and s.ins[0] in act:
                act[s.out] = act[s.ins[0]]
            elif kind == "Concat" and s.ins[0] in act and all(act.get(t) == act[s.ins[0]] for t in s.ins):
                act[s.out] = act[s.ins[0]]
        unseeded = {self.head, *self.taps}
        masked = {}

        def arrives_masked(t):
            # whether t's gradient is masked whole (with act[t]) when t's producer reads it
            if t in masked:
                return masked[t]
            ok = False
            if t in act and t not in unseeded:
                rs = readers.get(t, [])
                if t in self.placed:
                    ok = arrives_masked(self.placed[t][0])
                elif rs and all(r.op.node.op == "ChannelSlice" for r in rs):
                    ok = all([arrives_masked(r.out) for r in rs])  # each slice's writer told, not the first few
                elif len(rs) == 1 and rs[0].op.node.op == "Concat":
                    ok = arrives_masked(rs[0].out)
                elif rs:
                    w = first_reader[t]
                    k = w.ins.index(t)
                    if k == 0 and (w.op.node.op == "Conv" and self.be.conv.masks_input(w.op.cw, w.acc[0])
                                   or w.op.node.op == "MaxPool" and not w.acc[0]):
                        w.op.in_relu = act[t]
                        ok = True
            masked[t] = ok
            return ok

        for s in self.steps:
            if s.op.node.op in ("Conv", "Add") and s.op.relu and arrives_masked(s.out):
                s.op.out_masked = True

    # -- running --------------------------------------------------------------------------------
    def forward(self, x):
        """Run the forward pass on x (backend array of this plan's shape and dtype); returns the
        head's value (a buffer of the plan, overwritten by the next call)."""
        values, be, work = self.values, self.be, self.work
        values[self.input] = x
        for s in self.steps:
            s.op.forward(be, [values[t] for t in s.reads], values[s.out], work)
        return values[self.head]

    def backward(self, seed, tap_seed=None):
        """Backward from the head to the input after `forward`. seed(grad_head) fills the head's
        gradient buffer in place; tap_seed(tap, grad, accumulate), for a plan with taps, adds (or
        with accumulate False, writes) each tap's seed into its gradient once everything after it
        has added its part. Returns the input's gradient (a buffer of the plan)."""
        values, grads, be, work = self.values, self.grads, self.be, self.work
        seed(grads[self.head])
        for s in reversed(self.steps):
            if s.out in self.tap_read:
                tap_seed(s.out, grads[s.out], self.tap_read[s.out])
            s.op.backward(be, grads[s.out], [values[t] for t in s.ins], values[s.out],
                          [grads[t] for t in s.ins], s.acc, work)
        return grads[self.input]


def _share_add_grads(steps, candidates):
    """{tensor: Add output} for each input of an Add whose gradient can live in the Add output's
    gradient buffer, in the order decided (backward order). steps: the plan's Steps, their `acc`
    set; candidates: tensors whose gradient buffers are their own (no view of them, none a view),
    not the input, the head or a tap.

    An input qualifies when this Add writes its gradient first (overwrites, not accumulates) and,
    with it sharing, every read of a gradient still finds it whole: `_buffers_hold` replays the
    backward on buffer names. ResNet's identity block shares both inputs (its shortcut's other
    reader, the block's first convolution, adds to the buffer only after the last convolution has
    read it); an input whose other reader would add to the buffer before the Add's other input has
    been read stays apart."""
    shared = {}
    for s in reversed(steps):
        if s.op.node.op != "Add" or s.ins[0] == s.ins[1] or s.out not in candidates:
            continue
        for k, t in enumerate(s.ins):
            if t not in candidates or s.acc[k]:
                continue
            shared[t] = s.out
            if not _buffers_hold(steps, shared):
                del shared[t]
    return shared


def _buffers_hold(steps, shared):
    """Whether the backward, with each tensor t in `shared` writing its gradient where shared[t]'s
    goes, still reads every gradient whole. Replays the schedule on buffer names: a buffer holds
    the set of tensors whose full gradient is in it; a write that overwrites makes it hold the
    tensors written (an Add writes both inputs), one that adds keeps only the tensor added to; a
    step reads its output's gradient first, masks it in place if it does (`Op.masks_gout`: then the
    buffer holds no tensor's gradient whole), and then writes. Only an Add may write where it reads,
    and only to overwrite (its kernels go element by element: each element is read, then written
    once); adding there would read what it had just added (x + x), and a GEMM or a pool may not
    write there at all."""
    def root(t):
        while t in shared:
            t = shared[t]
        return t
    held = {}
    for s in reversed(steps):
        out = root(s.out)
        if out in held and s.out not in held[out]:
            return False
        if s.op.masks_gout:
            held[out] = set()
        writes = {}
        for k, t in enumerate(s.ins):
            b = root(t)
            if b == out and (s.op.node.op != "Add" or s.acc[k]):
                return False
            if s.acc[k]:
                if t not in held.get(b, ()):
                    return False
                writes[b] = {t}
            else:
                writes.setdefault(b, set()).add(t)
        held.update(writes)
    return True


def _clipped_relu(node):
    a = node.attrs
    return a["kind"] == "clip" and a.get("alpha") == 0 and 0 < a.get("beta", 0) < np.inf


def _merge_siblings(nodes, keep):
    """nodes with each set of >= 2 pointwise convolutions that read the same tensor, each feeding
    exactly one ReLU and nothing else, replaced by one convolution (weights stacked), one ReLU and
    a ChannelSlice per sibling that yields the tensor its ReLU did. Tensors in `keep` (the head,
    the input) stay as they are."""
    readers = {}
    for n in nodes:
        for t in n.inputs:
            readers.setdefault(t, []).append(n)
    groups = {}
    for n in nodes:
        after = readers.get(n.outputs[0], [])
        if (n.op == "Conv" and _pointwise(n) and len(after) == 1 and after[0].op == "Relu"
                and not keep & {n.outputs[0], after[0].outputs[0]}):
            groups.setdefault(n.inputs[0], []).append((n, after[0]))
    merged, gone = {}, set()
    for src, members in groups.items():
        if len(members) < 2:
            continue
        convs = [c for c, _ in members]
        name = "+".join(c.name for c in convs)
        conv = Node("Conv", name, [src], [name + ":conv"], dict(convs[0].attrs),
                    {k: np.concatenate([c.params[k] for c in convs]) for k in ("W", "B")})
        out = [conv, Node("Relu", name + ":relu", conv.outputs, [name + ":relu"])]
        offset = 0
        for c, relu in members:
            channels = c.params["W"].shape[0]
            out.append(Node("ChannelSlice", relu.name, [name + ":relu"], list(relu.outputs),
                            {"offset": offset, "channels": channels}))
            offset += channels
            gone.update((id(c), id(relu)))
        merged[id(convs[0])] = out
    result = []
    for n in nodes:
        result.extend(merged.get(id(n), []))
        if id(n) not in gone:
            result.append(n)
    return result


def _pointwise(node):
    a = node.attrs
    return (node.params["W"].shape[2:] == (1, 1) and a["group"] == 1 and tuple(a["strides"]) == (1, 1)
            and not any(a["pads"]) and tuple(a["dilations"]) == (1, 1))


def _gb(n):
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
