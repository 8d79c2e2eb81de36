"""Iterations per second of `net.gradient` for each head at several batch sizes (224x224).

    python benchmarks/step.py [--weights FILE] [--backend cpu] [--batch 1 8] [--repeat 20] [--json OUT]

Without --weights it writes a synthetic full-size BVLC GoogLeNet with auxiliary heads (seeded).
Warms up, then times `--repeat` steps and reports the median. When PyTorch is importable the same
network with the same weights (taken from the same file) runs in the same process and the ratio is
printed. Also reports the machine's measured SGEMM rate and the peak RSS of the run.
"""
import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import classviz  # noqa: E402
from classviz.weights.synthetic import write_googlenet  # noqa: E402


def median_ms(fn, repeat, warmup=3):
    """Median wall time of fn() in milliseconds over `repeat` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def sgemm_gflops(n=1024):
    """Measured float32 GEMM rate of NumPy's BLAS (GFLOP/s) on n x n matrices."""
    a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
    c = np.empty_like(a)
    ms = median_ms(lambda: np.matmul(a, b, out=c), 10)
    return 2 * n ** 3 / (ms * 1e-3) / 1e9


def conv_gmacs(net, head):
    """Multiply-accumulates (billions) of the convolutions and Gemms of a head at batch 1."""
    plan = net.plan(head, (1, 3, 224, 224))
    macs = 0
    for s in plan.steps:
        p = s.op.node.params
        if s.op.node.op == "Conv":
            macs += p["W"].size * s.op.win.Ho * s.op.win.Wo
        elif s.op.node.op == "Gemm":
            macs += p["W"].size
    return macs / 1e9


def torch_peer(net, head):
    """A function running one PyTorch gradient step of the same network, or None."""
    try:
        import torch
        from torch_peer import TorchNet, gradient
    except ImportError:
        return None, None
    tnet = TorchNet(net.model, net.head_name(head))
    return (lambda x, cls: gradient(tnet, x, cls)), torch.__version__


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="ONNX GoogLeNet (default: a synthetic full-size one)")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "step.json"))
    args = ap.parse_args(argv)

    path = args.weights
    if path is None:
        path = os.path.join(tempfile.mkdtemp(), "googlenet_bvlc_aux.onnx")
        write_googlenet(path, "bvlc_aux", seed=0)
    net = classviz.load(path, backend=args.backend)
    gflops = sgemm_gflops()
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "sgemm_gflops": round(gflops, 1), "python": platform.python_version(), "numpy": np.__version__}
    print(f"machine: {machine['cores']} cores, SGEMM {gflops:.0f} GFLOP/s, backend {net.backend.name}")
    rows = []
    rng = np.random.default_rng(0)
    for head in net.heads:
        gmacs = conv_gmacs(net, head)
        peer, torch_version = (None, None) if args.no_torch else torch_peer(net, head)
        for n in args.batch:
            x = (rng.standard_normal((n, 3, 224, 224)) * 60).astype(np.float32)
            cls = list(range(n))
            out = np.empty_like(x)
            ms = median_ms(lambda: net.gradient(x, cls, head=head, out=out), args.repeat)
            # forward + backward-to-input are each one pass of GEMM work
            floor_ms = 4 * gmacs * n / gflops * 1e3
            row = {"head": head, "batch": n, "ms": round(ms, 2), "steps_per_s": round(1e3 / ms, 2),
                   "images_per_s": round(n * 1e3 / ms, 2), "gemm_floor_ms": round(floor_ms, 2)}
            if peer is not None:
                tms = median_ms(lambda: peer(x, cls), args.repeat)
                row.update(torch_ms=round(tms, 2), speedup_vs_torch=round(tms / ms, 2), torch=torch_version)
            rows.append(row)
            extra = f"  torch {row['torch_ms']:8.1f} ms  x{row['speedup_vs_torch']:.2f}" if peer else ""
            print(f"{head:>24} N={n:<3} {ms:8.1f} ms  {1e3 / ms:6.2f} it/s  (GEMM floor {floor_ms:5.1f} ms){extra}")
    main_ms = {r["batch"]: r["ms"] for r in rows if r["head"] == net.heads[0]}
    for r in rows:
        r["vs_main"] = round(r["ms"] / main_ms[r["batch"]], 2)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this run: {rss:.0f} MB")
    result = {"machine": machine, "weights": os.path.basename(path), "rows": rows, "peak_rss_mb": round(rss)}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
