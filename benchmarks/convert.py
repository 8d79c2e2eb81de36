"""Time and peak memory of converting a full-size BVLC GoogLeNet caffemodel to ONNX.

    python benchmarks/convert.py [--caffemodel FILE] [--repeat 5] [--json OUT]

Without --caffemodel it writes a synthetic one of the real model's shapes (seeded, ~53 MB). Each
repeat converts in a fresh Python process (so the peak RSS is the conversion's own, imports
included) and writes the ONNX file; prints the median wall time and peak RSS and writes JSON."""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile


CHILD = """
import resource, sys, time
t = time.perf_counter()
from classviz.weights import caffe, cache
cache.save_model(caffe.convert(sys.argv[1]), sys.argv[2])
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--caffemodel")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "convert.json"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    src = args.caffemodel
    if src is None:
        from classviz.testing import write_googlenet_caffemodel
        src = write_googlenet_caffemodel(os.path.join(tmp, "googlenet.caffemodel"), width=1, seed=0)
    runs = []
    for _ in range(args.repeat + 1):  # the first run warms the page cache and .pyc files
        out = subprocess.run([sys.executable, "-c", CHILD, src, os.path.join(tmp, "out.onnx")], check=True,
                             capture_output=True, text=True).stdout.split()
        runs.append((float(out[0]), float(out[1])))
    runs = runs[1:]
    wall = statistics.median(r[0] for r in runs)
    rss = statistics.median(r[1] for r in runs)
    size = os.path.getsize(src) / 1e6
    print(f"convert {size:.1f} MB caffemodel: median {wall:.2f} s (imports included), peak RSS {rss:.0f} MB "
          f"over {len(runs)} runs")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                   "caffemodel_mb": size, "wall_s": wall, "peak_rss_mb": rss, "runs": runs}, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
