"""What objectives and compositions cost: whole renders of one class against a mix of classes, a mix
with terms on inner tensors (l2, a neuron), a bigger canvas, two placements on it, and a path.

    python benchmarks/compose.py [--weights FILE] [--schedule quick] [--rounds 3] [--json OUT]

Without --weights: the synthetic full-size BVLC GoogLeNet (the real one's shapes and time). The
configurations alternate within each round (a slow spell of this shared machine hits all alike)
after one warm-up render each; medians are printed, each against the plain class render of the
same canvas.
"""
import argparse
import json
import os
import statistics
import time

import classviz
from step import weights_or_synthetic

CONFIGS = {
    "one class": dict(classes=[281]),
    "mix of 3 classes": dict(classes=["tabby cat + 0.5 * tiger - 0.3 * 207"]),
    "mix with l2 and a neuron": dict(classes=["tabby cat + 0.2 * inception_4c/output:l2"
                                              " + inception_4a/output:3@7,7"]),
    "one class, 448x448 canvas": dict(classes=[281], size=(448, 448)),
    "2 placements, 448x448": dict(classes=[281, 292], size=(448, 448), places=[(0.3, 0.5), (0.7, 0.5)]),
    "a path, 448x448": dict(classes=[281], size=(448, 448), path="sine"),
}
BASE = {"mix of 3 classes": "one class", "mix with l2 and a neuron": "one class",
        "2 placements, 448x448": "one class, 448x448 canvas", "a path, 448x448": "one class, 448x448 canvas"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--schedule", default="quick")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    net = classviz.load(weights_or_synthetic(args.weights), backend="cpu")

    def run(kw):
        kw = dict(kw)
        classes = kw.pop("classes")
        t = time.perf_counter()
        classviz.render(net, classes, args.schedule, seed=0, **kw)
        return time.perf_counter() - t

    for kw in CONFIGS.values():
        run(kw)
    times = {name: [] for name in CONFIGS}
    for r in range(args.rounds):
        for name, kw in CONFIGS.items():
            times[name].append(run(kw))
        print(f"round {r + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
    rows = []
    print(f"\n{'configuration':28s} {'median s':>9s} {'vs base':>8s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        base = statistics.median(times[BASE.get(name, name)])
        rows.append({"configuration": name, "median_s": round(med, 3), "runs_s": [round(t, 3) for t in ts],
                     "vs": BASE.get(name), "ratio": round(med / base, 3)})
        print(f"{name:28s} {med:9.2f} {med / base:8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schedule": args.schedule, "cores": os.cpu_count(), "rows": rows}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
