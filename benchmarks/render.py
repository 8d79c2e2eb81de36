"""Wall time of a whole render, and what it costs outside the network.

    python benchmarks/render.py [--weights FILE] [--classes 1 8] [--schedule deepdraw] [--repeat 1]
                                [--busy K] [--json OUT]

Without --weights it writes a synthetic full-size BVLC GoogLeNet with auxiliary heads (seeded):
the same layer shapes as the real one, so the time is the real model's time. For each batch size
it renders `--repeat` times (after one warm-up render of the `quick` schedule to compile the
kernels), and reports the median wall time, steps per second, the time spent inside
`net.gradient` and everything else (crop, pixel map, update, clip, blur, paste, resize) as a
share of the render, and for each render the cost of a hand-off between the cores before and
after it (step.handoff_us: a shared VM's slow spells show there). It also prints the render's time
against the sum of its steps' median gradient times from a step benchmark run in the same process
(per head, at that batch). `--busy K` starts K processes that spin on the CPU for the duration of
the timed renders (after the warm-up) and stops them after: K = the core count is "one other
CPU-bound process per core", the render's speed on a shared machine.
"""
import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import time

import numba
import numpy as np

# the installed classviz (pip install -e .); `python benchmarks/X.py` puts this folder first on the
# path, which is how render.py finds step.py
import classviz
from classviz import schedule as sched
from classviz.graph import Plan
from step import CallTimer, handoff_us, median_ms, weights_or_synthetic


def _spin():
    while True:
        pass


@contextlib.contextmanager
def spinning(k):
    """K processes spinning on the CPU for the duration of the block."""
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(k)]
    for p in spinners:
        p.start()
    try:
        yield
    finally:
        for p in spinners:
            p.terminate()
            p.join()


def one(net, n, schedule, repeat):
    """Median of `repeat` renders of n classes: dict of seconds and shares."""
    octaves = sched.get(schedule)
    # the host seconds in the network: on the CPU the network's time; on the GPU kernels run
    # asynchronously inside a graph replay, so there only the wall time means anything
    timer = CallTimer([(Plan, "forward"), (Plan, "backward")])
    walls, inside, handoffs = [], [], []
    cpu = net.backend.name == "cpu"
    for r in range(repeat):
        before = handoff_us() if cpu else None
        timer.seconds = 0.0
        t = time.perf_counter()
        classviz.render(net, list(range(n)), octaves, seed=r)
        walls.append(time.perf_counter() - t)
        inside.append(timer.seconds)
        handoffs.append((before, handoff_us()) if cpu else None)
    timer.restore()
    k = int(np.argsort(walls)[len(walls) // 2])
    wall, grad = walls[k], inside[k]
    every = [round(w, 2) for w in walls]
    if not cpu:  # kernels run asynchronously in graph replays: only the wall time means anything
        pool = net.backend.xp.get_default_memory_pool()
        return {"classes": n, "schedule": schedule, "steps": sched.total_steps(octaves), "wall_s": wall,
                "walls_s": every, "steps_per_s": sched.total_steps(octaves) / wall, "images_per_s": n / wall,
                "step_ms": 1e3 * wall / sched.total_steps(octaves), "gpu_pool_mb": round(pool.total_bytes() / 2 ** 20)}
    # the network alone at this batch: sum over octaves of iter_n x median step time of its head
    heads = classviz.ascent.octave_heads(net, octaves)
    x = np.random.default_rng(0).normal(0, 50, (n, 3, 224, 224)).astype(np.float32)
    g = np.empty_like(x)
    step_ms = {h: median_ms(lambda h=h: net.gradient(x, [0] * n, h, out=g), 10) for h in set(heads)}
    steps_only = sum(o.iter_n * step_ms[h] for o, h in zip(octaves, heads)) / 1e3
    return {"classes": n, "schedule": schedule, "steps": sched.total_steps(octaves),
            "wall_s": wall, "walls_s": every, "handoff_us": [[round(v, 2) for v in h] for h in handoffs],
            "gradient_s": grad, "outside_s": wall - grad,
            "outside_share": (wall - grad) / wall, "steps_per_s": sched.total_steps(octaves) / wall,
            "images_per_s": n / wall, "step_ms": step_ms, "sum_of_step_medians_s": steps_only}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--precision", default="fp32", help="fp32 | tf32 | bf16 (the last two CUDA only)")
    ap.add_argument("--classes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--schedule", default="deepdraw")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--busy", type=int, default=0, metavar="K",
                    help="K processes spinning on the CPU beside the timed renders (default 0)")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "render.json"))
    args = ap.parse_args()
    path = weights_or_synthetic(args.weights)
    net = classviz.load(path, backend=args.backend, precision=args.precision)
    classviz.render(net, [0], "quick", seed=0)  # compile every kernel once
    if args.backend == "cpu":
        print(f"Numba threading layer: {numba.threading_layer()}, {numba.config.NUMBA_NUM_THREADS} threads; "
              f"{args.busy} spinning process(es) beside the timed renders", flush=True)
    rows = []
    for n in args.classes:
        with spinning(args.busy):
            r = one(net, n, args.schedule, args.repeat)
        r["busy"] = args.busy
        rows.append(r)
        if "gradient_s" not in r:
            print(f"{n} class(es), {args.schedule}: {r['wall_s']:.3f} s ({r['steps_per_s']:.1f} steps/s, "
                  f"{r['step_ms']:.3f} ms per step, {r['images_per_s'] * 60:.1f} images/min)", flush=True)
            continue
        print(f"{n} class(es), {args.schedule}: {r['wall_s']:.1f} s ({r['steps_per_s']:.1f} steps/s, "
              f"{r['images_per_s'] * 60:.2f} images/min); network {r['gradient_s']:.1f} s, outside "
              f"{r['outside_s']:.2f} s = {100 * r['outside_share']:.1f}%; "
              f"sum of step medians {r['sum_of_step_medians_s']:.1f} s "
              f"(render / that = {r['wall_s'] / r['sum_of_step_medians_s']:.2f}); every render "
              + ", ".join(f"{w:.1f} s (handoff {a:.1f} -> {b:.1f} us)"
                          for w, (a, b) in zip(r["walls_s"], r["handoff_us"])), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                   "backend": args.backend, "precision": args.precision, "busy": args.busy,
                   "threading_layer": numba.threading_layer() if args.backend == "cpu" else None,
                   "results": rows}, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
