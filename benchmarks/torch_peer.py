"""The same network, with the same weights, in PyTorch: the peer the benchmarks compare against and
an independent gradient for the tests. Built from classviz's canonical nodes (so from the very
arrays read from the ONNX file), executed with torch.nn.functional ops only."""
import numpy as np
import torch
import torch.nn.functional as F


class TorchNet(torch.nn.Module):
    """model: classviz.weights.Model; head: canonical tensor name; device/dtype: torch's."""

    def __init__(self, model, head, device="cpu", dtype=torch.float32):
        super().__init__()
        self.model, self.head = model, head
        need, stack = set(), [head]
        producer = {t: n for n in model.nodes for t in n.outputs}
        while stack:
            n = producer.get(stack.pop())
            if n is not None and id(n) not in need:
                need.add(id(n))
                stack.extend(n.inputs)
        self.nodes = [n for n in model.nodes if id(n) in need]
        self.params = {}
        for i, n in enumerate(self.nodes):
            for k, a in n.params.items():
                self.params[(i, k)] = torch.tensor(np.asarray(a), device=device, dtype=dtype)

    def forward(self, x):
        env = {self.model.input_name: x}
        for i, n in enumerate(self.nodes):
            p = lambda k: self.params[(i, k)]
            a = n.attrs
            xs = [env[t] for t in n.inputs]
            if n.op == "Conv":
                pt, pl, pb, pr = a["pads"]
                h = xs[0]
                if (pt, pl) != (pb, pr):
                    h, pad = F.pad(h, (pl, pr, pt, pb)), 0
                else:
                    pad = (pt, pl)
                y = F.conv2d(h, p("W"), p("B"), a["strides"], pad, a["dilations"], a["group"])
            elif n.op == "Relu":
                y = F.relu(xs[0])
            elif n.op in ("MaxPool", "AveragePool"):
                y = _pool(n.op, xs[0], a)
            elif n.op == "GlobalAveragePool":
                y = xs[0].mean(dim=(2, 3), keepdim=True)
            elif n.op == "LRN":
                y = F.local_response_norm(xs[0], a["size"], a["alpha"], a["beta"], a["bias"])
            elif n.op == "Concat":
                y = torch.cat(xs, 1)
            elif n.op == "Flatten":
                y = xs[0].flatten(1)
            elif n.op == "Gemm":
                y = F.linear(xs[0], p("W"), p("B"))
            elif n.op == "Affine":
                y = xs[0] * p("scale") + p("shift")
            elif n.op == "Add":
                y = xs[0] + xs[1]
            elif n.op == "Mul":
                y = xs[0] * xs[1]
            elif n.op == "Activation":
                y = _activation(xs[0], a["kind"], a.get("alpha", 0.0), a.get("beta", 0.0))
            else:
                raise NotImplementedError(n.op)
            env[n.outputs[0]] = y
        return env[self.head]


def _activation(x, kind, alpha, beta):
    # what a PyTorch model would call for each (F.relu6, F.hardswish: their fused kernels)
    if kind == "sigmoid":
        return torch.sigmoid(x)
    if kind == "clip":
        return F.relu6(x) if (alpha, beta) == (0.0, 6.0) else torch.clamp(x, alpha, beta)
    if kind == "hardswish" and abs(alpha - 1 / 6) < 1e-12 and beta == 0.5:
        return F.hardswish(x)
    h = torch.clamp(alpha * x + beta, 0, 1)
    return h if kind == "hardsigmoid" else x * h


def _pool(op, x, a):
    pt, pl, pb, pr = a["pads"]
    k, s, ceil = a["kernel"], a["strides"], bool(a["ceil_mode"])
    if op == "MaxPool":
        if (pt, pl) != (pb, pr):
            return F.max_pool2d(F.pad(x, (pl, pr, pt, pb), value=-float("inf")), k, s, 0, ceil_mode=ceil)
        return F.max_pool2d(x, k, s, (pt, pl), ceil_mode=ceil)
    if (pt, pl) != (pb, pr):
        raise NotImplementedError("asymmetric average pooling")
    return F.avg_pool2d(x, k, s, (pt, pl), ceil_mode=ceil, count_include_pad=bool(a["count_include_pad"]))


def gradient(tnet, x, classes):
    """obj (N,), grad like x, both numpy, as classviz's Net.gradient computes them."""
    t = torch.tensor(x, requires_grad=True)
    y = tnet(t)
    obj = y[torch.arange(len(classes)), torch.as_tensor(classes)]
    obj.sum().backward()
    return obj.detach().numpy(), t.grad.numpy()


def device_step(fn, x, classes, bf16=False):
    """One gradient step of `fn` (a TorchNet or its torch.compile) on the device tensors x (N, 3, H, W)
    and classes (N,), synchronised; with bf16, the forward under autocast to bfloat16 (PyTorch's
    way to run convolutions in bf16). Returns the gradient tensor."""
    t = x.detach().requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        y = fn(t)
    y[torch.arange(len(classes), device=x.device), classes].sum().backward()
    torch.cuda.synchronize()
    return t.grad
