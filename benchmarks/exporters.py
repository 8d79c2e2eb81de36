"""torchvision's GoogLeNet, ResNet-50 and MobileNetV2 through both of PyTorch's exporters, into classviz.

    python benchmarks/exporters.py [--out DIR] [--models googlenet resnet50 mobilenet_v2] [--json FILE]

For each model (torchvision's architecture with seeded random weights: the trained ones are a
download, and what is checked here is what the exporters write), exports it with the default
exporter (`torch.onnx.export(model, (x,), path)`, dynamo) and with `dynamo=False`, then: loads it
in classviz, compares the forward with onnxruntime and PyTorch, the gradient of one class's score
with PyTorch's autograd, and times a quick render. PyTorch is used here only, never by classviz
or its tests. Prints a table and writes JSON.
"""
import argparse
import collections
import json
import os
import sys
import time
import warnings

import numpy as np
import onnx
import torch
import torchvision

import classviz


def build(name):
    """torchvision's `name` in eval mode with seeded weights that keep the signal alive through
    the depth (He-normal convolutions, random biases and BatchNorm statistics: torchvision's own
    GoogLeNet init gives near-zero scores, which would make any comparison vacuous)."""
    torch.manual_seed(0)
    if name == "googlenet":  # aux classifiers exist only in training mode; eval exports the main one
        model = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    else:
        model = getattr(torchvision.models, name)(weights=None)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    m.bias.normal_(0, 0.05)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/classviz-exporters")
    ap.add_argument("--models", nargs="+", default=["googlenet", "resnet50", "mobilenet_v2"])
    ap.add_argument("--json", default="benchmarks/results/exporters.json")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    import onnxruntime as ort
    rows = []
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    for name in args.models:
        model = build(name)
        with torch.no_grad():
            ref = model(x).numpy()
        # the gradient compared in float64 on both sides: an exact check, as float32 rounding
        # flips the odd ReLU mask between two implementations of a deep network
        xg = x.double().clone().requires_grad_(True)
        model.double()(xg)[0, 7].backward()
        model.float()
        for style, kw in (("dynamo", {}), ("legacy", {"dynamo": False, "opset_version": 17})):
            path = os.path.join(args.out, f"{name}_{style}.onnx")
            torch.onnx.export(model, (x,), path, **kw)
            ops = collections.Counter(n.op_type for n in onnx.load(path, load_external_data=False).graph.node)
            opset = next(o.version for o in onnx.load(path, load_external_data=False).opset_import if o.domain in ("", "ai.onnx"))
            t = time.perf_counter()
            net = classviz.load(path, backend="cpu")
            load_s = time.perf_counter() - t
            sess = ort.InferenceSession(path)
            o = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
            ours = net.forward(x.numpy())
            _, g = net.gradient(x.numpy().astype(np.float64), [7])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                classviz.render(net, [7], "quick", seed=0)
                render_s = time.perf_counter() - t
            gt = xg.grad.numpy()
            row = {"model": name, "export": style, "opset": opset, "external_data": os.path.exists(path + ".data"),
                   "ops": dict(ops), "load_s": load_s,
                   "forward_vs_ort": float(np.abs(ours - o).max() / np.abs(o).max()),
                   "forward_vs_torch": float(np.abs(ours - ref).max() / np.abs(ref).max()),
                   "gradient_vs_torch": float(np.abs(g - gt).max() / np.abs(gt).max()),
                   "quick_render_s": render_s}
            rows.append(row)
            print(f"{name:13s} {style:7s} opset {opset:2d} ext {row['external_data']!s:5s} load {load_s:.2f}s "
                  f"fwd/ort {row['forward_vs_ort']:.1e} fwd/torch {row['forward_vs_torch']:.1e} "
                  f"grad/torch {row['gradient_vs_torch']:.1e} quick render {render_s:.1f}s  "
                  f"ops {', '.join(f'{k} {v}' for k, v in sorted(ops.items()))}", flush=True)
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
