"""How much of a CPU gradient step is GEMM, and what batching could at best give back.

    python benchmarks/gemm_share.py [--weights FILE] [--batch 1 8] [--repeat 20] [--rounds 3] [--json OUT]

One main-head step (`net.gradient`, forward and backward to the input) at each batch size, the
sizes alternating within each round; inside it, the time spent in the GEMM calls of the
convolutions (packed.py's and blas.py's entry points, timed by wrapping them) and the rest
(Winograd and im2col transforms, pools, LRN, copies). Beside it: the GEMM FLOPs of the algorithms
the plan chose (Winograd's stacked products, im2col's and the pointwise layers' GEMMs, both
ways), and this machine's best GEMM rate measured in the same run, so the GEMMs' floor: their
FLOPs at that rate. The best of: NumPy's OpenBLAS on float32 2048x2048; packed.py's kernel on
1024x1024; and packed.py's kernel on a Winograd stack of GoogLeNet's (36 x 192x64 @ 64x224) with
its operands hot in cache (run back to back), the fastest the kernel goes here.

The bound printed for batch B: per image, the GEMM floor plus the rest as measured at B, against
the step at batch 1. Batching shares nothing of the rest (it is work per pixel of each image), so
no batched GEMM can take a batch's per-image time below that bound.

Without --weights: a synthetic full-size BVLC GoogLeNet with aux heads (the real model's shapes
and time). Medians over rounds x repeat steps.
"""
import argparse
import json
import os
import platform
import time

import numpy as np

import classviz
from classviz.canvas import crop_size
from classviz.kernels.cpu import blas, packed, winograd
from step import CallTimer, median_ms, sgemm_gflops, weights_or_synthetic

GEMM_CALLS = ((packed, "matmul"), (packed, "matmul_stacked"), (blas, "matmul"), (blas, "matmul_stacked"))


def packed_gflops(matmul, matmul_stacked, repeat=20):
    """packed.py's float32 rates here (GFLOP/s): (1024x1024 @ 1024x1024, a Winograd stack of 36 x
    192x64 @ 64x224 back to back, its operands hot), medians of `repeat`. matmul, matmul_stacked:
    packed.py's entry points (unwrapped)."""
    rng = np.random.default_rng(1)
    rates = []
    for s, m, k, n in ((None, 1024, 1024, 1024), (36, 192, 64, 224)):
        shape = (m, k) if s is None else (s, m, k)
        a = packed.pack(rng.standard_normal(shape).astype(np.float32))
        b = rng.standard_normal(shape[:-2] + (k, n)).astype(np.float32)
        out = np.empty(shape[:-2] + (m, n), np.float32)
        fn = (lambda: matmul(a, b, out)) if s is None else (lambda: matmul_stacked(a, b, out))
        rates.append(2.0 * (s or 1) * m * k * n / median_ms(fn, repeat) / 1e6)
    return tuple(rates)


def conv_gemm_flops(plan):
    """GEMM FLOPs (float) of one forward and backward-to-input of the plan's convolutions, for the
    algorithm each layer runs: Winograd's n^2 products over its tiles (junk tiles included), else
    the im2col or pointwise GEMM (per group). Depthwise layers have no GEMM."""
    total = 0.0
    for s in plan.steps:
        if s.op.node.op != "Conv":
            continue
        cw, n = s.op.cw, plan.shapes[s.ins[0]][0]
        win, cout = cw.win, cw.w.shape[0]
        if cw.dw is not None:
            continue
        if cw.u is not None:
            m, a2 = winograd.tile(win), cw.u.shape[0]
            for ho, wo in ((win.Ho, win.Wo), (win.H, win.W)):  # forward, then backward
                th, tw, _ = winograd._sizes(m, win.kh, ho, wo)
                total += 2.0 * a2 * cout * cw.cin * th * tw * n
        else:
            total += 2 * (2.0 * cw.w.shape[1] * cout * win.Ho * win.Wo * n)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                   "gemm_share.json"))
    args = ap.parse_args()
    net = classviz.load(weights_or_synthetic(args.weights), backend="cpu")
    head = net.head_name(None)
    size = crop_size(net)
    clock = CallTimer(GEMM_CALLS)  # conv.py calls these through their modules
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, 3, size, size)).astype(np.float32) for b in args.batch}
    flops = {b: conv_gemm_flops(net.plan(head, inputs[b].shape)) for b in args.batch}
    for b in args.batch:  # compile and warm every batch size's plan first
        for _ in range(3):
            net.gradient(inputs[b], [0] * b, head=head)
    samples = {b: [] for b in args.batch}
    rates, square, stack = [], [], []
    for _ in range(args.rounds):
        rates.append(sgemm_gflops(2048))
        sq, st = packed_gflops(clock.inner[packed, "matmul"], clock.inner[packed, "matmul_stacked"])
        square.append(sq)
        stack.append(st)
        for b in args.batch:
            for _ in range(args.repeat):
                clock.seconds = 0.0
                t = time.perf_counter()
                net.gradient(inputs[b], [0] * b, head=head)
                samples[b].append((time.perf_counter() - t, clock.seconds))
    blas_rate, square_rate, stack_rate = (float(np.median(r)) for r in (rates, square, stack))
    rate = max(blas_rate, square_rate, stack_rate)
    rows = {}
    for b in args.batch:
        step = float(np.median([s for s, _ in samples[b]])) / b * 1e3
        gemm = float(np.median([g for _, g in samples[b]])) / b * 1e3
        rows[b] = {"step_ms_per_image": step, "gemm_ms_per_image": gemm, "rest_ms_per_image": step - gemm,
                   "gemm_gflop_per_image": flops[b] / b / 1e9, "gemm_gflops": flops[b] / b / gemm / 1e6,
                   "gemm_floor_ms_per_image": flops[b] / b / rate / 1e6}
    base = rows[min(args.batch)]["step_ms_per_image"]
    print(f"this machine's float32 GEMM rates, both cores: NumPy's BLAS 2048^3 {blas_rate:.0f} GFLOP/s, "
          f"packed 1024^3 {square_rate:.0f}, packed Winograd stack hot {stack_rate:.0f}; floor at {rate:.0f}")
    for b, r in rows.items():
        r["bound_vs_smallest_batch"] = (r["gemm_floor_ms_per_image"] + r["rest_ms_per_image"]) / base
        print(f"batch {b}: step {r['step_ms_per_image']:.2f} ms/image = GEMM {r['gemm_ms_per_image']:.2f} "
              f"({r['gemm_gflop_per_image']:.2f} GFLOP at {r['gemm_gflops']:.0f} GFLOP/s; floor "
              f"{r['gemm_floor_ms_per_image']:.2f}) + rest {r['rest_ms_per_image']:.2f}; "
              f"with GEMMs at the floor: {r['bound_vs_smallest_batch']:.2f}x batch {min(args.batch)}'s step")
    result = {"machine": platform.processor() or platform.machine(), "blas_gflops": blas_rate,
              "packed_square_gflops": square_rate, "packed_stack_hot_gflops": stack_rate, "floor_gflops": rate,
              "rounds": args.rounds,
              "repeat": args.repeat, "weights": args.weights or "synthetic BVLC GoogLeNet", "head": head,
              "batches": {str(b): r for b, r in rows.items()}}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
