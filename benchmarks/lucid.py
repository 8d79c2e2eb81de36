"""What lucid's recipe costs per step against deepdraw's: the Fourier parameterization, Adam, the
transforms and facets' diversity term, each step of a 224x224 image on the CPU.

    python benchmarks/lucid.py [--weights FILE] [--rounds 15] [--steps 5] [--json OUT]

Without --weights: the synthetic full-size BVLC GoogLeNet. Each configuration is one octave's
Renderer, built and warmed once; the rounds then run `--steps` steps of every configuration in
turn (interleaved, so a slow spell of this shared machine hits all alike) and the medians of the
per-step times are printed, each against deepdraw's pixel step of the same batch.
"""
import argparse
import json
import os
import statistics
import time


import classviz
from classviz import ascent, renderer, schedule, transforms
from step import weights_or_synthetic

BASE = dict(head="main", iter_n=1000, start_sigma=0.0, end_sigma=0.0, start_step_size=0.05, end_step_size=0.05)
TF = transforms.LUCID.as_dict()
CONFIGS = {  # name: (octave fields, batch, facets)
    "deepdraw pixels (sigma 1)": (dict(start_sigma=1.0, end_sigma=1.0, start_step_size=6, end_step_size=6), 1, False),
    "pixels + transforms": (dict(start_sigma=1.0, end_sigma=1.0, start_step_size=6, end_step_size=6,
                                 transforms=TF), 1, False),
    "fourier + adam": (dict(param="fourier", update="adam"), 1, False),
    "lucid (fourier + adam + transforms)": (dict(param="fourier", update="adam", transforms=TF), 1, False),
    "deepdraw pixels, batch 4": (dict(start_sigma=1.0, end_sigma=1.0, start_step_size=6, end_step_size=6), 4, False),
    "lucid, batch 4": (dict(param="fourier", update="adam", transforms=TF), 4, False),
    "lucid, 4 facets": (dict(param="fourier", update="adam", transforms=TF), 4, True),
}
VS = {"pixels + transforms": "deepdraw pixels (sigma 1)", "fourier + adam": "deepdraw pixels (sigma 1)",
      "lucid (fourier + adam + transforms)": "deepdraw pixels (sigma 1)", "lucid, batch 4": "deepdraw pixels, batch 4",
      "lucid, 4 facets": "lucid, batch 4"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    net = classviz.load(weights_or_synthetic(args.weights), backend="cpu")
    pre, _ = classviz.preprocess.for_model(net.model)
    runs = {}
    for name, (fields, n, facets) in CONFIGS.items():
        octs = schedule.validate([dict(BASE, **fields)], name)
        heads = ascent.octave_heads(net, octs)
        r = renderer.Renderer(net, [281] * n if facets else list(range(281, 281 + n)), octs, heads, pre, 0,
                              facets=facets)
        step = r.octave_step(octs[0], heads[0])
        counter = iter(range(1, 10 ** 9))

        def one(r=r, step=step, o=octs[0], counter=counter):
            i = next(counter)
            r.set_step(o.sigma(0), o.step_size(0), 0.0, i)
            step()

        one()
        runs[name] = one
    times = {name: [] for name in CONFIGS}
    for k in range(args.rounds):
        for name, one in runs.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                one()
            times[name].append((time.perf_counter() - t) / args.steps)
        print(f"round {k + 1}: " + ", ".join(f"{t[-1] * 1e3:.0f}" for t in times.values()), flush=True)
    rows = []
    print(f"\n{'configuration':40s} {'ms/step':>8s} {'vs':>6s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = med / statistics.median(times[VS[name]]) if name in VS else 1.0
        rows.append({"configuration": name, "ms_per_step": med * 1e3, "vs": VS.get(name), "ratio": ratio})
        print(f"{name:40s} {med * 1e3:8.1f} {ratio:5.2f}x" + (f"  (vs {VS[name]})" if name in VS else ""))
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"weights": args.weights or "synthetic GoogLeNet", "rounds": args.rounds, "steps": args.steps,
                       "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
