#!/usr/bin/env bash
# The GPU check in one command, sized for one short lease of a GPU machine (8 minutes in all from a
# cold start, at most 3 files back), with a fresh copy of this repo and no network (it uses the
# installed CuPy, nvidia-cudnn-cu13, numba, onnx, pillow, tqdm, pytest and, when present, PyTorch):
#
#     bash benchmarks/gpu_check.sh OUT_DIR            # on the GPU machine
#     bash benchmarks/gpu_check.sh --dry-run OUT_DIR  # the same stages on this CPU, tiny sizes (CI)
#
# Stages, most needed first, each under its own time-out cut to what is left of the budget; a
# stage that fails or times out is recorded and the next one still runs:
#   1. the GPU tests (the host-emulated cases, test_cuda_capture.py all of them, are CI's), with a
#      failed capture (Notice) an error;
#   2. step.py, main head, batch 1 and 32, at fp32 (torch.compile at batch 1), tf32 and bf16,
#      against PyTorch eager at the same precision;
#   3. capture.py: does each kind of octave capture into a CUDA graph;
#   4. one deepdraw render, then one batch of 8 classes;
#   5. a gallery (gallery.py) at the GPU's default batch, bf16: images/min (the first GPU run found
#      cuDNN refusing a bf16 algorithm from batch 64; this checks the fallback on the device);
#   6. one lucid render (Fourier, Adam, transforms: the direct-DFT and warp kernels on the device).
# OUT_DIR receives exactly three files: summary.txt (one screen: versions, test tally with each
# failure's first line, capture per octave kind, step times and ratios, render seconds, peak GPU
# memory), results.json (every stage's numbers) and logs.tar.gz (every stage's full output).
# Exit code: the tests' (0 when they passed), whatever the benchmarks did.
set -u
dry=0
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
out=${1:?usage: bash benchmarks/gpu_check.sh [--dry-run] OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # a bare GPU machine has classviz only as this checkout
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
budget=${GPU_CHECK_BUDGET:-480}  # seconds for everything, start-up of the machine not counted
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# stage NAME SECONDS CMD...: run CMD with its output in $work/NAME.log, under `timeout` of SECONDS
# or what is left of the budget (less 15 s for the summary), whichever is less; notes its status.
stage() {
  local name=$1 secs=$2
  shift 2
  local left=$((budget - 15 - ($(date +%s) - start)))
  [ "$secs" -gt "$left" ] && secs=$left
  if [ "$secs" -le 5 ]; then
    echo "$name skipped (budget spent)" >> "$work/stages.txt"
    return
  fi
  local t0=$(date +%s)
  timeout --signal=INT --kill-after=10 "$secs" "$@" > "$work/$name.log" 2>&1
  local rc=$?
  local what=ok
  [ $rc -ne 0 ] && what="exit $rc"
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && what="timed out after $secs s"
  echo "$name $what ($(( $(date +%s) - t0 )) s)" >> "$work/stages.txt"
}

if [ $dry -eq 1 ]; then
  backend=cpu
  "$py" -c "from classviz.testing import write_googlenet; write_googlenet('$work/model.onnx', 'bvlc_aux', width=8)"
  weights=(--weights "$work/model.onnx")
  batches=(1 2)
  repeat=2
  tests=(tests/test_cuda.py -k "host and (gemm or pooling)")
  schedule=quick
  classes=2
  gallery=(--images 2 --batch 2 --schedule quick)
else
  backend=cuda
  weights=()
  batches=(1 32)
  repeat=30
  tests=(tests/test_cuda.py tests/test_cuda_compile.py tests/test_cudnn_binding.py
         -k "not host" -W "error::classviz.errors.Notice")
  schedule=deepdraw
  classes=8
  gallery=(--images 64 --batch 64 --schedule deepdraw --precision bf16)
fi

{
  echo "classviz GPU check$([ $dry -eq 1 ] && echo ' (dry run: CPU, tiny sizes)'), $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$py" - <<'PY'
import platform
import numpy
line = [f"python {platform.python_version()}", f"numpy {numpy.__version__}"]
for name in ("cupy", "numba", "onnx", "torch"):
    try:
        line.append(f"{name} {__import__(name).__version__}")
    except Exception as e:
        line.append(f"{name} missing")
print(", ".join(line))
from classviz.kernels import cuda_unavailable
why = cuda_unavailable()
print("classviz cuda backend:", why or "available")
if why is None:
    from classviz.kernels.cuda import cudnn
    print("cudnn", cudnn.lib().cudnnGetVersion())
PY
} > "$work/env.log" 2>&1

stage tests 170 "$py" -m pytest -q -p no:cacheprovider -rfs "${tests[@]}"
tests_rc=$(grep -q "^tests ok" "$work/stages.txt" && echo 0 || echo 1)
stage step_fp32 120 "$py" benchmarks/step.py --backend $backend "${weights[@]}" --heads main --batch "${batches[@]}" \
  --repeat $repeat --compile-batch 1 --json "$work/step_fp32.json"
for p in tf32 bf16; do
  [ $dry -eq 1 ] && continue  # the CPU computes in fp32 only
  stage step_$p 45 "$py" benchmarks/step.py --backend $backend --precision $p --heads main --batch "${batches[@]}" \
    --repeat $repeat --no-compile --json "$work/step_$p.json"
done
stage capture 30 "$py" benchmarks/capture.py --backend $backend "${weights[@]}" --json "$work/capture.json"
stage render_1 45 "$py" benchmarks/render.py --backend $backend "${weights[@]}" --classes 1 --schedule $schedule \
  --json "$work/render_1.json"
stage render_$classes 45 "$py" benchmarks/render.py --backend $backend "${weights[@]}" --classes $classes \
  --schedule $schedule --json "$work/render_$classes.json"
stage gallery 60 "$py" benchmarks/gallery.py --backend $backend "${weights[@]}" "${gallery[@]}" --rounds 1 \
  --json "$work/gallery.json"
if [ $dry -eq 0 ]; then  # 512 steps: too long for the CPU's dry run, whose tests cover the kernels
  stage render_lucid 40 "$py" benchmarks/render.py --backend $backend --classes 1 --schedule lucid \
    --json "$work/render_lucid.json"
fi

"$py" benchmarks/gpu_summary.py "$work" "$out/results.json" > "$out/summary.txt" 2>> "$work/summary.log" \
  || { echo "summary failed:"; tail -n 5 "$work/summary.log"; } >> "$out/summary.txt"
tar -czf "$out/logs.tar.gz" -C "$work" .
cat "$out/summary.txt"
exit "$tests_rc"
