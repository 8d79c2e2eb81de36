"""The CPU backend's threads: Numba's parallel regions run on TBB where the `tbb` package is
installed (a dependency on x86-64), because OpenMP's spin-waiting threads make a render 20-30x
slower beside any other busy process (benchmarks/threading_layers.py measures it)."""
import importlib.metadata
import os
import subprocess
import sys

import pytest

PROBE = ("import numpy as np, numba\n"
         "from classviz.kernels import cpu\n"
         "x = np.ones((1, 3, 32, 32), np.float32)\n"
         "cpu.blur.forward(x, cpu.blur.taps(1.0), np.empty(cpu.blur.work_size(x.shape, 4), np.float32))\n"
         "print(numba.threading_layer())\n")


def _layer(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS")}
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300,
                       env={**clean, **env})
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_the_cpu_backend_runs_on_tbb():
    try:
        importlib.metadata.version("tbb")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("no tbb wheel for this machine: Numba falls back to OpenMP")
    assert _layer() == "tbb"


def test_numba_threading_layer_still_chooses():
    assert _layer(NUMBA_THREADING_LAYER="workqueue") == "workqueue"
