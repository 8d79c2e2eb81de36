#!/usr/bin/env bash
# The GPU check in one command, for a machine with an NVIDIA GPU and a fresh copy of this repo
# (no network needed: it uses the installed CuPy, nvidia-cudnn-cu13, numba, onnx, pillow, tqdm,
# pytest and, when present, PyTorch):
#
#     bash benchmarks/gpu_check.sh OUT_DIR
#
# It runs the GPU tests, then the step and render benchmarks on the GPU, and writes into OUT_DIR:
# env.txt (machine and versions), tests.txt, step.txt/.json (float32), step_tf32 and step_bf16
# .txt/.json, render.txt/.json and summary.txt.
# Exit code: the tests' (the benchmarks run and are recorded either way).
set -u
out=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}

{
  echo "classviz GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  "$py" - <<'PY'
import platform
import numpy
print("python", platform.python_version(), "numpy", numpy.__version__)
for name in ("cupy", "numba", "onnx", "torch"):
    try:
        print(name, __import__(name).__version__)
    except Exception as e:
        print(name, "missing:", e)
from classviz.kernels import cuda_unavailable
print("classviz cuda backend:", cuda_unavailable() or "available")
try:
    from classviz.kernels.cuda import cudnn
    print("cudnn version", cudnn.lib().cudnnGetVersion())
except Exception as e:
    print("cudnn:", e)
PY
} > "$out/env.txt" 2>&1
cat "$out/env.txt"

"$py" -m pytest -q -p no:cacheprovider -rs -s tests/test_cuda.py tests/test_cuda_compile.py tests/test_cudnn_binding.py 2>&1 | tee "$out/tests.txt"
tests_rc=${PIPESTATUS[0]}

"$py" benchmarks/step.py --backend cuda --batch 1 8 32 --repeat 50 --json "$out/step.json" 2>&1 | tee "$out/step.txt"
"$py" benchmarks/render.py --backend cuda --classes 1 8 --repeat 3 --json "$out/render.json" 2>&1 | tee "$out/render.txt"
for p in tf32 bf16; do  # the faster precisions, against PyTorch eager at the same precision
  "$py" benchmarks/step.py --backend cuda --precision $p --batch 1 32 --repeat 50 --no-compile --json "$out/step_$p.json" 2>&1 \
    | tee "$out/step_$p.txt"
done

{
  head -n 3 "$out/env.txt"
  echo "tests: exit $tests_rc: $(tail -n 1 "$out/tests.txt")"
  grep -h "PSNR" "$out/tests.txt" | sort -u
  echo "precision against float32 (whole network, tests):"
  grep -h "scores error" "$out/tests.txt"
  echo "step (ms; graph step = the whole ascent step as one CUDA graph replay):"
  grep -h "N=" "$out/step.txt"
  for p in tf32 bf16; do echo "step at $p:"; grep -h "N=" "$out/step_$p.txt"; done
  echo "render:"
  grep -h "class(es)" "$out/render.txt"
} > "$out/summary.txt"
cat "$out/summary.txt"
exit "$tests_rc"
