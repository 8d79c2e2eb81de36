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


def _fake_step(slow_on):
    """A step that takes 6 ms on `slow_on` threads and 1 ms otherwise; records the counts it ran on."""
    import time

    import numba
    ran = []

    def step():
        n = numba.get_num_threads()
        ran.append(n)
        time.sleep(0.006 if n == slow_on else 0.001)
    return step, ran


def test_a_render_step_moves_to_one_thread_when_that_is_faster_and_back():
    import numba

    from classviz.kernels.cpu import Threads
    most = numba.config.NUMBA_NUM_THREADS
    if most < 2:
        pytest.skip("one thread: nothing to choose")
    threads = Threads(every=6, keep=3)
    before = numba.get_num_threads()
    busy_step, ran = _fake_step(slow_on=most)  # the machine is busy: every thread waits for its sibling
    step = threads.tuned(busy_step)
    for _ in range(20):
        step()
        assert numba.get_num_threads() == before  # put back after every step
    assert ran[0] == most and threads.current == 1 and ran[-3:].count(1) >= 2
    quiet_step, ran = _fake_step(slow_on=1)  # quiet again: the next probes find every core faster
    step = threads.tuned(quiet_step)
    for _ in range(30):
        step()
    assert threads.current == most
    assert ran[-6:].count(most) >= 5  # one step in `every` probes the other count

