"""Which recipe draws recognisable pictures on which network: real EfficientNet-Lite0/1/2 draw a set of
classes with each recipe (deepdraw, lucid, ...), and the other real networks judge the pictures.

    (the packages of realnet.py's docstring)
    python benchmarks/recipes.py [--nets 0,1,2] [--recipes deepdraw,lucid] [--classes 11,130,...]
                                 [--json FILE] [--pngs DIR]

Each network is exported once (dynamo ONNX, classviz's preprocessing in its metadata) and draws
every class with every recipe, one class at a time, through classviz on the CPU; the recipes take
turns per class (interleaved), so a noisy spell of the shared machine does not fall on one recipe.
Each picture is resized whole to 224 and classified by every real network that did not draw it:
the target's rank and probability, top-1 and top-5 hit rates, next to noise images as the floor.
Prints the table and writes JSON; --pngs writes a small contact strip per (network, recipe).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

import classviz
from realnet import CLASSES, judge, lite, rates

RECIPES = ("deepdraw", "lucid")


def export(model, path):
    """`model` as dynamo-exported ONNX at `path` with classviz's preprocessing in its metadata."""
    import onnx

    from classviz.preprocess import EFFICIENTNET_LITE, METADATA_KEY
    if not os.path.exists(path):
        torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), path, dynamo=True)
        m = onnx.load(path, load_external_data=False)
        m.metadata_props.add(key=METADATA_KEY, value=EFFICIENTNET_LITE.to_json())
        onnx.save(m, path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nets", default="0,1,2", help="EfficientNet-Lite variants that draw")
    ap.add_argument("--recipes", default=",".join(RECIPES), help="schedules (built-in names or files)")
    ap.add_argument("--classes", default=",".join(map(str, CLASSES)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/classviz-recipes", help="folder for the exported ONNX files")
    ap.add_argument("--json", default="benchmarks/results/recipes.json")
    ap.add_argument("--pngs", default=None, help="folder for one small strip per network and recipe")
    args = ap.parse_args()
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    names = [classviz.classes.name(i) for i in range(1000)]
    drawers = [int(k) for k in args.nets.split(",")]
    recipes = args.recipes.split(",")
    targets = [int(c) for c in args.classes.split(",")]
    models = {k: lite(k) for k in sorted(set(drawers) | {0, 1, 2})}
    result = {"torch": torch.__version__, "classes": {t: names[t] for t in targets}, "seed": args.seed,
              "draws": {}}
    rng = np.random.default_rng(1)
    noise = [rng.normal(200, 8, (224, 224, 3)).clip(0, 255).astype(np.uint8) for _ in targets]
    for k in drawers:
        net = classviz.load(export(models[k], os.path.join(args.out, f"lite{k}.onnx")), backend="cpu")
        judges = {f"lite{j}": models[j] for j in models if j != k}
        images = {r: [] for r in recipes}
        seconds = {r: [] for r in recipes}
        for t in targets:
            for r in recipes:  # interleaved per class
                t0 = time.perf_counter()
                (img,) = classviz.render(net, [t], r, seed=args.seed)
                seconds[r].append(time.perf_counter() - t0)
                images[r].append(img)
                print(f"lite{k} {r:9s} {names[t]:20s} {seconds[r][-1]:.1f} s", flush=True)
        for r in recipes + ["noise"]:
            rows = judge(judges, images[r] if r != "noise" else noise, targets)
            result["draws"][f"lite{k}/{r}"] = {
                "seconds_median": statistics.median(seconds[r]) if r != "noise" else 0.0,
                "judges": {j: {"rows": v, **rates(v)} for j, v in rows.items()}}
        if args.pngs:
            from PIL import Image
            os.makedirs(args.pngs, exist_ok=True)
            for r in recipes:
                strip = np.concatenate([np.asarray(Image.fromarray(i).resize((112, 112), Image.LANCZOS))
                                        for i in images[r]], axis=1)
                Image.fromarray(strip).save(os.path.join(args.pngs, f"lite{k}-{os.path.basename(r)}.png"),
                                            optimize=True)
        if args.json:  # after each network: a partial table survives an interrupted run
            os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)

    print(f"\n{'drawn by / recipe':22s} {'judge':6s} {'top-1':>6s} {'top-5':>6s} {'median p':>9s} {'s/render':>9s}  ranks")
    for what, d in result["draws"].items():
        for j, r in d["judges"].items():
            print(f"{what:22s} {j:6s} {r['top1']:6.0%} {r['top5']:6.0%} {r['median_prob']:9.3f} "
                  f"{d['seconds_median']:9.1f}  {[x['rank'] for x in r['rows']]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
