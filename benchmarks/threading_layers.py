"""The CPU backend's speed on each of Numba's threading layers, on a quiet machine and beside
other CPU-bound work.

    python benchmarks/threading_layers.py [--layers tbb omp omp-passive workqueue one]
                                          [--busy 0 2] [--rounds 3] [--json OUT]

A threading layer is chosen once per process, so each measurement is a fresh process; the layers
run in turn, round after round (A/B/C, A/B/C, ...), so a shared VM's spells fall on all of them.
Each process loads a synthetic full-size GoogLeNet, compiles (Numba's cache), then times the main
head's step at batch 1 (median of 20) and one `quick` render (60 steps). With `--busy K`, K
processes that spin on the CPU run for the whole of each measurement (K = cores: one other
CPU-bound process per core). Prints each layer's medians and the busy/quiet ratio.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from render import spinning
from step import weights_or_synthetic

LAYERS = {
    "tbb": {"NUMBA_THREADING_LAYER": "tbb"},
    "omp": {"NUMBA_THREADING_LAYER": "omp"},
    "omp-passive": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "passive"},
    "omp-spin10k": {"NUMBA_THREADING_LAYER": "omp", "GOMP_SPINCOUNT": "10000"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
    "one": {"NUMBA_NUM_THREADS": "1"},
    "default": {},
}

CHILD = r"""
import json, sys, time
import numpy as np, numba, classviz
net = classviz.load(sys.argv[1], backend="cpu")
classviz.render(net, [0], "quick", seed=0)  # compile (or load from Numba's cache) every kernel
x = np.random.default_rng(0).normal(0, 50, (1, 3, 224, 224)).astype(np.float32)
g = np.empty_like(x)
for _ in range(3):
    net.gradient(x, [0], out=g)
ts = []
for _ in range(20):
    t = time.perf_counter(); net.gradient(x, [0], out=g); ts.append(time.perf_counter() - t)
t = time.perf_counter(); classviz.render(net, [1], "quick", seed=1); render = time.perf_counter() - t
print(json.dumps({"layer": numba.threading_layer(), "step_ms": 1e3 * float(np.median(ts)), "render_s": render}))
"""


def measure(model, layer, busy):
    """One child process on `layer` with `busy` spinning processes beside it: dict."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY",
                                                            "GOMP_SPINCOUNT", "NUMBA_NUM_THREADS")}
    env.update(LAYERS[layer])
    with spinning(busy):
        out = subprocess.run([sys.executable, "-c", CHILD, model], env=env, capture_output=True, text=True,
                             timeout=1800)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", help="ONNX GoogLeNet (default: a synthetic full-size one)")
    ap.add_argument("--layers", nargs="+", default=["tbb", "omp", "omp-passive", "workqueue", "one"],
                    choices=tuple(LAYERS))
    ap.add_argument("--busy", type=int, nargs="+", default=[0, os.cpu_count()])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "threading_layers.json"))
    args = ap.parse_args()
    model = weights_or_synthetic(args.weights)
    runs = {(layer, busy): [] for busy in args.busy for layer in args.layers}
    for r in range(args.rounds):
        for busy in args.busy:
            for layer in args.layers:
                t = time.perf_counter()
                res = measure(model, layer, busy)
                runs[layer, busy].append(res)
                print(f"round {r + 1} busy {busy} {layer:12s} {json.dumps(res)} ({time.perf_counter() - t:.0f} s)",
                      flush=True)
    table = []
    for (layer, busy), rs in runs.items():
        ok = [x for x in rs if "error" not in x]
        if not ok:
            table.append({"layer": layer, "busy": busy, "error": rs[0]["error"]})
            continue
        table.append({"layer": layer, "ran": ok[0]["layer"], "busy": busy,
                      "step_ms": statistics.median(x["step_ms"] for x in ok),
                      "render_s": statistics.median(x["render_s"] for x in ok),
                      "steps_ms": [round(x["step_ms"], 1) for x in ok],
                      "renders_s": [round(x["render_s"], 2) for x in ok]})
    quiet = {row["layer"]: row for row in table if row["busy"] == 0 and "error" not in row}
    print("\n| layer (ran) | busy | main step, batch 1 | quick render | render / quiet |")
    print("|---|---|---|---|---|")
    for row in table:
        if "error" in row:
            print(f"| {row['layer']} | {row['busy']} | {row['error']} | | |")
            continue
        q = quiet.get(row["layer"])
        ratio = f"{row['render_s'] / q['render_s']:.2f}x" if q else "-"
        print(f"| {row['layer']} ({row['ran']}) | {row['busy']} | {row['step_ms']:.1f} ms | "
              f"{row['render_s']:.2f} s | {ratio} |")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                   "rounds": args.rounds, "results": table}, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
