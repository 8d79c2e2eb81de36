"""The summary of a gpu_check.sh run: reads its work folder, writes results.json, prints one screen.

    python benchmarks/gpu_summary.py WORK_DIR RESULTS_JSON > summary.txt
"""
import glob
import json
import os
import re
import sys


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main(work, results_path):
    env = _read(os.path.join(work, "env.log")).strip().splitlines()
    stages = _read(os.path.join(work, "stages.txt")).strip().splitlines()
    tests = _read(os.path.join(work, "tests.log"))
    tally = next((line.strip("= ") for line in reversed(tests.splitlines()) if re.search(r"\d+ (passed|failed)", line)),
                 "no tally (see logs.tar.gz: tests.log)")
    failures = [line[:160] for line in tests.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    steps = {os.path.basename(p)[5:-5]: _json(p) for p in sorted(glob.glob(os.path.join(work, "step_*.json")))}
    renders = {os.path.basename(p)[7:-5]: _json(p) for p in sorted(glob.glob(os.path.join(work, "render_*.json")))}
    capture = _json(os.path.join(work, "capture.json"))
    gallery = _json(os.path.join(work, "gallery.json"))
    results = {"env": env, "stages": stages, "tests": {"tally": tally, "failures": failures}, "step": steps,
               "capture": capture, "render": renders, "gallery": gallery}
    with open(results_path, "w") as f:
        json.dump(results, f, indent=1)

    print("\n".join(env[:4]))
    print("stages: " + "; ".join(stages))
    print(f"tests: {tally}")
    for line in failures[:12]:
        print(f"  {line}")
    if len(failures) > 12:
        print(f"  ... {len(failures) - 12} more (results.json)")
    if capture:
        eager = "eager" if capture["backend"] == "cpu" else "EAGER"  # expected on the CPU, a fault on a GPU
        kinds = capture["kinds"].items()
        print("capture: " + ", ".join(f"{k} {'graph' if v['captured'] else eager}" for k, v in kinds))
    for precision, s in steps.items():
        if not s:
            print(f"step {precision}: no result")
            continue
        for r in s["rows"]:
            line = f"step {precision} {r['head']} N={r['batch']}: {r['ms']:.3f} ms"
            if "graph_step_ms" in r:
                line += f", graph step {r['graph_step_ms']:.3f} ms, pool {r['gpu_pool_mb']} MB"
            for mode in ("eager", "compile"):
                if f"torch_{mode}_ms" in r:
                    line += f"; torch {mode} {r[f'torch_{mode}_ms']:.3f} ms (x{r[f'speedup_vs_torch_{mode}']:.2f})"
            if "torch_ms" in r:
                line += f"; torch {r['torch_ms']:.1f} ms (x{r['speedup_vs_torch']:.2f})"
            print(line)
    for name, r in renders.items():
        if not r:
            print(f"render {name}: no result")
            continue
        for row in r["results"]:
            mem = f", pool {row['gpu_pool_mb']} MB" if "gpu_pool_mb" in row else ""
            print(f"render {row['classes']} class(es), {row['schedule']}: {row['wall_s']:.2f} s "
                  f"({row['images_per_s'] * 60:.1f} images/min{mem})")
    for row in (gallery or {}).get("rows", []):
        print(f"gallery {gallery['precision']} {gallery['schedule']} {row['configuration']}: "
              f"{row['images_per_min']:.1f} images/min, 1000 classes in {row['projected_1000_h'] * 60:.1f} min")


if __name__ == "__main__":
    main(*sys.argv[1:3])
