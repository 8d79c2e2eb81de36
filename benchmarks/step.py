"""Iterations per second of `net.gradient` for each head at several batch sizes (224x224).

    python benchmarks/step.py [--weights FILE] [--backend cpu|cuda] [--precision fp32|tf32|bf16]
                              [--batch 1 8] [--repeat 20] [--json OUT]

On the GPU (--backend cuda, e.g. --batch 1 8 32) it also times the render's own step: the whole
ascent step (crop, pixel map, forward, backward, update, blur, paste) captured as one CUDA graph
and replayed, and the PyTorch peer runs on the same card eagerly and through torch.compile
(mode reduce-overhead, which uses CUDA graphs); it reports peak GPU memory per batch size.

Without --weights it writes a synthetic full-size BVLC GoogLeNet with auxiliary heads (seeded).
Warms up, then times `--repeat` steps and reports the median. When PyTorch is importable the same
network with the same weights (taken from the same file) runs in the same process, on the CPU
alternating step by step with classviz, and the ratio is printed. Also reports the machine's measured SGEMM rate, the peak RSS of the run and, on the CPU,
beside each row the cost of one hand-off between the cores (`handoff_us`), which tells a shared
VM's fast spells from its slow ones.
"""
import argparse
import json
import os
import platform
import resource
import tempfile
import time

import numba
import numpy as np

# the installed classviz (pip install -e .); `python benchmarks/X.py` puts this folder first on the
# path, which is how render.py finds step.py
import classviz
from classviz.testing import write_googlenet


def weights_or_synthetic(path):
    """`path` (an ONNX file), or when it is None a synthetic full-size BVLC GoogLeNet with auxiliary
    heads and seeded weights written to a temporary folder: the real model's shapes and time."""
    if path is not None:
        return path
    return write_googlenet(os.path.join(tempfile.mkdtemp(), "googlenet_bvlc_aux.onnx"), "bvlc_aux", seed=0)


def median_ms(fn, repeat, warmup=3, sync=None):
    """Median wall time of fn() in milliseconds over `repeat` runs after `warmup` runs; `sync()`
    (a device synchronisation) ends each timed run when given."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def interleaved_ms(a, b, repeat, warmup=3, block=1):
    """Median wall times (ms) of a() and b() over `repeat` runs each, alternating in turns of
    `block` runs, after `warmup` runs of each: on a shared machine a slow spell then slows both
    alike. block=1 alternates run by run; then each run starts while the other library's worker
    threads still spin after its last run (both lose 2-3 ms a step on MobileNetV2, see
    benchmarks/README.md), which a longer turn confines to its first run."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(-(-repeat // block)):
        for fn, acc in ((a, ta), (b, tb)):
            for _ in range(block):
                t = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - t)
    return float(np.median(ta) * 1e3), float(np.median(tb) * 1e3)


def graph_step(net, head, n):
    """The render's step for `n` images on `head`, captured (a CUDA graph on the GPU): a callable."""
    from classviz import preprocess, renderer, schedule
    octave = schedule.Octave(head, 1, 1.0, 1.0, 3.0, 3.0)
    pre, _ = preprocess.for_model(net.model)
    r = renderer.Renderer(net, list(range(n)), [octave], [net.head_name(head)], pre, 0)
    with net.backend.stream():
        step = r.octave_step(octave, net.head_name(head))
        r.set_step(octave.sigma(0), octave.step_size(0))  # replays read these: a real step size and blur
        replay = net.backend.capture(step, keep=(r.pixels,))

    def step():
        with net.backend.stream():
            replay()
    return step


@numba.njit(parallel=True, cache=True)
def _empty_region(a):
    for i in numba.prange(a.size):
        a[i] += 1.0


def handoff_us(repeat=2000):
    """Median wall time (microseconds) of one empty Numba parallel region over all threads: the
    cost of handing work from one core to the others and back.

    Why it is printed beside every CPU timing: on a shared VM that cost changes while each core's
    own speed does not, and the step changes with it. This project's 2-core VM switches, for
    minutes at a time, between ~1.5 us (main step ~38 ms) and ~2.5-3 us (~54 ms), with one core's
    GEMM rate, 105 GFLOP/s, the same in both (benchmarks/README.md)."""
    a = np.zeros(numba.get_num_threads())
    return 1e3 * median_ms(lambda: _empty_region(a), repeat, warmup=10)


class CallTimer:
    """Adds up the host seconds (`seconds`, float) spent in the callables it wraps in place: the
    attribute `name` of each (owner, name) in `targets`, an owner being a class or a module (its
    callers must look the name up there at each call). `restore()` puts the originals back."""

    def __init__(self, targets):
        self.seconds = 0.0
        self.inner = {(owner, name): getattr(owner, name) for owner, name in targets}
        for (owner, name), fn in self.inner.items():
            setattr(owner, name, self._wrap(fn))

    def _wrap(self, fn):
        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t
        return timed

    def restore(self):
        for (owner, name), fn in self.inner.items():
            setattr(owner, name, fn)


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


def torch_gpu_peers(net, head, compile=True):
    """{'eager': step, 'compile': step} of the same network in PyTorch on the GPU, where it can run;
    each step takes CUDA tensors (x, classes). PyTorch computes at classviz's precision: fp32 with
    TF32 switched off (PyTorch's default lets cuDNN use TF32, which classviz's fp32 does not), tf32
    with it on, bf16 under autocast."""
    try:
        import torch
        from torch_peer import TorchNet, device_step
        if not torch.cuda.is_available():
            return {}
    except ImportError:
        return {}
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = net.precision != "fp32"
    bf16 = net.precision == "bf16"
    tnet = TorchNet(net.model, net.head_name(head), device="cuda")
    peers = {"eager": lambda x, c: device_step(tnet, x, c, bf16)}
    if compile and net.head_name(head) == net.heads[0]:  # minutes per shape to compile: the main head only
        compiled = torch.compile(tnet, mode="reduce-overhead")
        peers["compile"] = lambda x, c: device_step(compiled, x, c, bf16)
    return peers


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="ONNX GoogLeNet (default: a synthetic full-size one)")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--precision", default="fp32", help="fp32 | tf32 | bf16 (the last two CUDA only)")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--block", type=int, default=1,
                    help="CPU beside PyTorch: runs per turn (1: alternate step by step, as before)")
    ap.add_argument("--heads", nargs="+", help="roles or tensor names to time (default: every head)")
    ap.add_argument("--compile-batch", type=int, nargs="*", default=[1], metavar="N",
                    help="batch sizes at which torch.compile is timed on the GPU (default 1; minutes per shape)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    ap.add_argument("--no-compile", action="store_true", help="GPU: PyTorch eager only, no torch.compile")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "step.json"))
    args = ap.parse_args(argv)

    path = weights_or_synthetic(args.weights)
    net = classviz.load(path, backend=args.backend, precision=args.precision)
    gflops = sgemm_gflops()
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "sgemm_gflops": round(gflops, 1), "python": platform.python_version(), "numpy": np.__version__}
    print(f"machine: {machine['cores']} cores, SGEMM {gflops:.0f} GFLOP/s, backend {net.backend.name}, "
          f"precision {net.precision}")
    rows = []
    rng = np.random.default_rng(0)
    be = net.backend
    gpu = be.name == "cuda"
    sync = (lambda: be.xp.cuda.Device().synchronize()) if gpu else None
    for head in [net.head_name(h) for h in args.heads] if args.heads else net.heads:
        gmacs = conv_gmacs(net, head)
        peer, torch_version = (None, None) if args.no_torch or gpu else torch_peer(net, head)
        peers = {} if args.no_torch or not gpu else torch_gpu_peers(net, head, not args.no_compile)
        for n in args.batch:
            x = be.asarray((rng.standard_normal((n, 3, 224, 224)) * 60).astype(np.float32))
            cls = list(range(n))
            out = be.empty(x.shape, x.dtype)
            ours = lambda: net.gradient(x, cls, head=head, out=out)
            if peer is not None:  # on the CPU, alternating one step each: a slow spell hits both
                ms, tms = interleaved_ms(ours, lambda: peer(x, cls), args.repeat, block=args.block)
            else:
                ms = median_ms(ours, args.repeat, sync=sync)
            # forward + backward-to-input are each one pass of GEMM work
            floor_ms = 4 * gmacs * n / gflops * 1e3
            row = {"head": head, "batch": n, "ms": round(ms, 2), "steps_per_s": round(1e3 / ms, 2),
                   "images_per_s": round(n * 1e3 / ms, 2), "gemm_floor_ms": round(floor_ms, 2)}
            if not gpu:
                row["handoff_us"] = round(handoff_us(), 2)
            else:
                be.xp.get_default_memory_pool().free_all_blocks()
                step = graph_step(net, head, n)
                row["graph_step_ms"] = round(median_ms(step, args.repeat, sync=sync), 3)
                row["gpu_pool_mb"] = round(be.xp.get_default_memory_pool().total_bytes() / 2 ** 20)
                import torch
                tx, tc = torch.as_tensor(be.to_numpy(x), device="cuda"), torch.arange(n, device="cuda")
                for mode, fn in peers.items():
                    if mode == "compile" and n not in args.compile_batch:
                        continue
                    tms = median_ms(lambda: fn(tx, tc), args.repeat, warmup=5)
                    row[f"torch_{mode}_ms"] = round(tms, 3)
                    row[f"speedup_vs_torch_{mode}"] = round(tms / row["graph_step_ms"], 2)
                row["torch"] = torch.__version__ if peers else None
            if peer is not None:
                row.update(torch_ms=round(tms, 2), speedup_vs_torch=round(tms / ms, 2), torch=torch_version,
                           turn=args.block)
            rows.append(row)
            extra = f"  torch {row['torch_ms']:8.1f} ms  x{row['speedup_vs_torch']:.2f}" if peer else ""
            extra += f"  handoff {row['handoff_us']:.1f} us" if not gpu else ""
            if gpu:
                extra = f"  graph step {row['graph_step_ms']:.3f} ms, pool {row['gpu_pool_mb']} MB" + "".join(
                    f"  torch {m} {row[f'torch_{m}_ms']:.3f} ms x{row[f'speedup_vs_torch_{m}']:.2f}" for m in peers
                    if f"torch_{m}_ms" in row)
            print(f"{head:>24} N={n:<3} {ms:8.2f} ms  {1e3 / ms:7.2f} it/s  (CPU GEMM floor {floor_ms:5.1f} ms){extra}",
                  flush=True)
    main_ms = {r["batch"]: r["ms"] for r in rows if r["head"] == net.heads[0]}
    for r in rows:
        if r["batch"] in main_ms:
            r["vs_main"] = round(r["ms"] / main_ms[r["batch"]], 2)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this run: {rss:.0f} MB")
    result = {"machine": machine, "weights": os.path.basename(path), "precision": net.precision, "rows": rows,
              "peak_rss_mb": round(rss)}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
