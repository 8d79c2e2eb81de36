"""GPU diagnostic (not a benchmark): where bf16 convolutions fail at large batches. Each cuDNN
convolution call that raises is reported with its layer, shapes, strides, the workspace and the
algorithm chosen, then retried with every algorithm of its direction to list those that run.

    python benchmarks/gpu_bf16_probe.py [--batch 64 128]
"""
import argparse
import ctypes

import numpy as np

import classviz
from classviz.kernels.cuda import conv, cudnn
from classviz.testing import write_googlenet

seen = set()


def wrap(name, direction):
    inner = getattr(conv, name)

    def probed(cw, a, b, *rest):
        try:
            return inner(cw, a, b, *rest)
        except cudnn.CudnnError as e:
            space = rest[-1]
            key = (direction, tuple(cw.w.shape), a.shape)
            if key not in seen:
                seen.add(key)
                found = [v for k, v in cw.found.items() if k[0] == ("fwd" if direction == "forward" else "bwd")
                         and k[1] == (a.shape if direction == "forward" else b.shape)]
                algo = found[0][2] if found else None
                print(f"FAIL {direction} w{tuple(cw.w.shape)} g{cw.group} {a.dtype}{a.shape} strides {a.strides} -> "
                      f"{b.dtype}{b.shape} strides {b.strides}; ws {space.nbytes}; algo {algo}: {e}", flush=True)
                if found:
                    d1, d2, _ = found[0]
                    h = conv._handle()
                    ok = []
                    for alg in range(8):
                        if direction == "forward":
                            st = cudnn.lib().cudnnConvolutionForward(
                                h, cudnn.scalar(cw.dtype, 1.0), d1.ptr, conv._ptr(a), cw.filt.ptr, conv._ptr(cw.w),
                                cw.conv.ptr, alg, conv._ptr(space), ctypes.c_size_t(space.nbytes),
                                cudnn.scalar(cw.dtype, 0.0), d2.ptr, conv._ptr(b))
                        else:
                            st = cudnn.lib().cudnnConvolutionBackwardData(
                                h, cudnn.scalar(cw.dtype, 1.0), cw.filt.ptr, conv._ptr(cw.w), d1.ptr, conv._ptr(a),
                                cw.conv.ptr, alg, conv._ptr(space), ctypes.c_size_t(space.nbytes),
                                cudnn.scalar(cw.dtype, 0.0), d2.ptr, conv._ptr(b))
                        ok.append(f"{alg}:{st}")
                    print("   algo:status " + " ".join(ok), flush=True)
            raise
    setattr(conv, name, probed)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, nargs="+", default=[48, 64, 128])
    args = ap.parse_args()
    wrap("_convolve", "forward")
    wrap("_dgrad", "dgrad")
    net = classviz.load(write_googlenet("/tmp/probe.onnx", "bvlc_aux", seed=0), backend="cuda", precision="bf16")
    print("cudnn", cudnn.lib().cudnnGetVersion(), "workspace", conv.device.get().workspace_bytes)
    for n in args.batch:
        x = net.backend.asarray(np.random.default_rng(0).random((n, 3, 224, 224), np.float32) * 50)
        try:
            net.gradient(x, list(range(n)), head="main")
            net.backend.xp.cuda.Device().synchronize()
            print(n, "ok", flush=True)
        except Exception as e:
            print(n, "FAILED", str(e)[:200], flush=True)


if __name__ == "__main__":
    main()
