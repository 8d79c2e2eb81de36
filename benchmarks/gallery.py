"""Gallery throughput: images per minute in one process at each batch size, and on a local Ray
cluster with 1 and 2 workers; the driver's share of a batch; bytes moved per image; the time a
second (resumed) run takes to skip everything; the projected time for 1000 classes.

    python benchmarks/gallery.py [--weights FILE] [--schedule quick] [--images 8] [--batch 1 2 4 8]
                                 [--rounds 3] [--ray] [--backend cpu] [--json OUT]

Without --weights: a synthetic full-size BVLC GoogLeNet with aux heads (the real model's shapes and
time). One warm-up gallery compiles the kernels first. The single-process batch sizes alternate
within each round (a slow spell of this shared machine then slows all alike) and medians are
printed. "Drawing" time runs from the first batch handed out to the last one written: it leaves
out loading the model and starting workers, which a 1000-class gallery pays once; the whole wall
time is reported beside it. The projection for 1000 classes is the per-image drawing time times
1000, plus the start-up once.
"""
import argparse
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from classviz import gallery
from classviz import schedule as sched
from classviz.testing import write_googlenet
from step import weights_or_synthetic


def one(weights, schedule, images, batch, backend, **kw):
    """One gallery of `images` classes into a fresh folder. Returns {wall_s, drawing_s, per_image_s,
    driver_s, bytes_per_image}."""
    out = tempfile.mkdtemp(prefix="classviz-gallery-bench-")
    marks, pools, sizes = [], [], []

    def progress(n, total):
        marks.append(time.perf_counter())

    def on_batch(pool, targets, results):
        pools[:] = [pool]
        if results:
            sizes.append(len(pickle.dumps(results)) / len(results))

    try:
        t = time.perf_counter()
        gallery.run(weights, out, classes=f"0-{images - 1}", schedule=schedule, seed=0, batch=batch,
                    backend=backend, progress=progress, on_batch=on_batch, **kw)
        wall = time.perf_counter() - t
    finally:
        shutil.rmtree(out, ignore_errors=True)
    drawing = marks[-1] - marks[0]
    driver = getattr(pools[0], "driver_seconds", None) if pools else None
    write = getattr(pools[0], "write_seconds", None) if pools else None
    return {"wall_s": wall, "drawing_s": drawing, "per_image_s": drawing / images, "batches": len(sizes),
            "driver_s": driver, "write_s": write, "bytes_per_image": statistics.median(sizes) if sizes else None}


def resume_seconds(tmp):
    """Wall seconds of `classviz gallery` run a second time over a finished 16-class gallery (a new
    Python process, as a user runs it): everything is kept."""
    model = write_googlenet(os.path.join(tmp, "g16.onnx"), "bvlc_aux", width=8, seed=3, classes=16)
    out = os.path.join(tmp, "g16")
    argv = [sys.executable, "-m", "classviz", "gallery", "--weights", str(model), "--out-dir", out, "--classes",
            "all", "--schedule", "quick", "--seed", "0", "-q"]
    subprocess.run(argv, check=True, capture_output=True)
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--schedule", default="quick")
    ap.add_argument("--images", type=int, default=8, help="classes per gallery (default 8)")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--ray", action="store_true", help="also 1 worker of all CPUs and one worker per CPU on Ray")
    ap.add_argument("--ray-only", action="store_true", help="the Ray rows only (the first batch size is the base)")
    ap.add_argument("--json")
    args = ap.parse_args()
    weights = weights_or_synthetic(args.weights)
    steps = sched.total_steps(sched.get(args.schedule))
    print(f"machine: {os.cpu_count()} cores, backend {args.backend}, schedule {args.schedule} ({steps} steps), "
          f"{args.images} images a gallery")
    for b in args.batch:  # compile, warm the caches (on a GPU: each batch's algorithms and graphs)
        one(weights, "quick", b, b, args.backend, precision=args.precision)
    rows = {f"batch {b}": [] for b in args.batch}
    for r in range(0 if args.ray_only else args.rounds):
        for b in args.batch:
            rows[f"batch {b}"].append(one(weights, args.schedule, args.images, b, args.backend,
                                          precision=args.precision))
            print(f"  round {r + 1} batch {b}: {rows[f'batch {b}'][-1]['per_image_s']:.2f} s/image", flush=True)
    if args.ray or args.ray_only:
        import ray
        cpus = os.cpu_count()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        configs = {f"ray 1 worker x {cpus} threads": dict(workers=1, threads=cpus),
                   f"ray {cpus} workers x 1 thread": dict(workers=cpus, threads=1)}
        for name in configs:
            rows[name] = []
        for r in range(args.rounds):
            for name, kw in configs.items():
                rows[name].append(one(weights, args.schedule, args.images, 1, args.backend, ray="local",
                                      precision=args.precision, **kw))
                print(f"  round {r + 1} {name}: {rows[name][-1]['per_image_s']:.2f} s/image", flush=True)
        ray.shutdown()
    rows = {k: v for k, v in rows.items() if v}
    base = statistics.median(x["per_image_s"] for x in next(iter(rows.values())))
    summary = []
    print(f"\n{'configuration':28s} {'s/image':>8s} {'images/min':>10s} {'vs batch 1':>10s} {'start-up s':>10s} "
          f"{'driver %':>9s} {'1000 classes':>13s}")
    for name, runs in rows.items():
        per = statistics.median(x["per_image_s"] for x in runs)
        startup = statistics.median(x["wall_s"] - x["drawing_s"] for x in runs)
        # the driver's share of a batch: handing out the next one (on the critical path), and
        # writing what landed (PNG, manifest) while the worker draws on
        drv = [x["driver_s"] / x["drawing_s"] * 100 for x in runs if x["driver_s"] is not None]
        wrt = [x["write_s"] / x["drawing_s"] * 100 for x in runs if x.get("write_s") is not None]
        row = {"configuration": name, "per_image_s": round(per, 3), "images_per_min": round(60 / per, 2),
               "vs_batch_1": round(per / base, 3), "startup_s": round(startup, 2),
               "driver_percent": round(statistics.median(drv), 3) if drv else None,
               "write_percent": round(statistics.median(wrt), 2) if wrt else None,
               "projected_1000_h": round((1000 * per + startup) / 3600, 2),
               "bytes_per_image": runs[0]["bytes_per_image"], "runs": runs}
        summary.append(row)
        drv_text = "" if row["driver_percent"] is None else f"{row['driver_percent']:.2f}+{row['write_percent']:.1f}"
        print(f"{name:28s} {per:8.2f} {60 / per:10.1f} {per / base:10.2f} {startup:10.1f} {drv_text:>9s} "
              f"{row['projected_1000_h']:11.2f} h")
    with tempfile.TemporaryDirectory() as tmp:
        resume = resume_seconds(tmp)
    print(f"\nresume: a second run over a finished 16-class gallery, as a new process: {resume:.2f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": {"cores": os.cpu_count(), "python": platform.python_version()},
                       "weights": os.path.basename(weights), "schedule": args.schedule, "steps": steps,
                       "images": args.images, "backend": args.backend, "precision": args.precision,
                       "rows": summary, "resume_s": round(resume, 2)}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
