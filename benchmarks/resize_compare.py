"""How far classviz's cubic upscale is from the other cubics a reader might expect, in pixel levels.

    python benchmarks/resize_compare.py [--weights FILE] [--json OUT]

classviz upscales between octaves with Keys' cubic convolution, a = -0.5, pixel centres aligned
(kernels/shared.py): Pillow's BICUBIC. OpenCV's INTER_CUBIC and PyTorch's bicubic use
a = -0.75; the method's reference code upscales with scipy.ndimage.zoom (a cubic B-spline,
order 3, corners aligned, its default mode). This draws a 224-pixel image (60 main-head steps
from noise, seed 0, synthetic weights unless --weights), upscales it to 268 (deepdraw's first
scale, 1.2) each way, and prints the max and mean absolute difference against classviz's, in
levels of 0..255, after each is clipped to 0..255 as the render clips.
"""
import argparse
import json
import os

import numpy as np
from PIL import Image

import classviz
from classviz.kernels import shared
from classviz.kernels.cpu import resize
from step import weights_or_synthetic


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "resize_compare.json"))
    args = ap.parse_args()
    path = weights_or_synthetic(args.weights)
    net = classviz.load(path, backend="cpu")
    octave = [{"head": "main", "iter_n": 60, "start_sigma": 2.5, "end_sigma": 0.78, "start_step_size": 11,
               "end_step_size": 11}]
    img = classviz.render(net, 281, octave, seed=0)[0].astype(np.float64)  # (224, 224, 3)
    planes = img.transpose(2, 0, 1)[None]
    n = 268
    out = np.empty((1, 3, n, n))
    resize.forward(planes, out)
    ours = out[0]
    m = shared.resize_matrix(224, n, np.float64, a=-0.75)
    others = {"a = -0.75 (OpenCV INTER_CUBIC, PyTorch bicubic)": m @ planes[0] @ m.T,
              "Pillow BICUBIC": np.asarray(Image.fromarray(img.astype(np.uint8)).resize((n, n), Image.BICUBIC),
                                           np.float64).transpose(2, 0, 1)}
    try:
        from scipy import ndimage
        others["scipy.ndimage.zoom, order 3 (the method's reference)"] = ndimage.zoom(planes[0], (1, n / 224, n / 224))
    except ImportError:
        pass
    ours = np.clip(ours, 0, 255)
    rows = {}
    for name, o in others.items():
        d = np.abs(np.clip(o, 0, 255) - ours)
        rows[name] = {"max": round(float(d.max()), 2), "mean": round(float(d.mean()), 3)}
        print(f"{name:>52}: max {d.max():6.2f} levels, mean {d.mean():.3f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
