"""classviz gallery: targets, packing, resume, interruption, pages, bad input, and Ray (a local
cluster of 2 CPUs, one worker killed mid-run) against a single process, pixel for pixel."""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from classviz import gallery
from classviz import schedule as sched
from classviz.cli import main
from classviz.errors import ArgumentError
from classviz.gallery import pages
from classviz.gallery import targets as targetlib
from classviz.testing import write_googlenet

# 12 steps over every kind of octave (whole image, crops of an upscaled one, both aux heads)
SHORT = [sched.Octave("main", 4, 2.5, 0.78, 11, 11), sched.Octave("main", 3, 0.936, 0.78, 6, 6, 1.2),
         sched.Octave("aux2", 3, 0.936, 0.44, 6, 3, 1.2), sched.Octave("aux1", 2, 0.44, 0.304, 3, 3)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A synthetic GoogLeNet (aux heads, width 8) with 16 classes."""
    return str(write_googlenet(tmp_path_factory.mktemp("gallery") / "g16.onnx", "bvlc_aux", width=8, seed=3,
                               classes=16))


def pixels(folder):
    """{file name: uint8 pixels} of the pictures (not sheets) in `folder`."""
    return {os.path.basename(p): pages.image_of(p) for p in sorted(glob.glob(os.path.join(folder, "*.png")))
            if not os.path.basename(p).startswith("sheet")}


def manifest(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        return json.load(f)


def no_temp_files(folder):
    return not glob.glob(os.path.join(folder, "**", ".classviz-*"), recursive=True)


# --- targets and packing -------------------------------------------------------------------------

def test_class_specs(tmp_path):
    assert targetlib.parse_classes("all", 5) == [0, 1, 2, 3, 4]
    assert targetlib.parse_classes("0-3,9, 2", 10) == [0, 1, 2, 3, 9]
    assert targetlib.parse_classes("7", 1000) == [7]
    f = tmp_path / "c.txt"
    f.write_text("# cats\ntabby cat\n\n  281  # again\n7\n")
    assert targetlib.parse_classes(str(f), 1000) == [7, 281]
    for spec, words in [("0-", "not an index or a range"), ("5-3", "runs backwards"), ("0-16", "16 classes"),
                        ("cat", "no file of that name"), ("", "needs 'all'")]:
        with pytest.raises(ArgumentError, match=words):
            targetlib.parse_classes(spec, 16)
    f.write_text("1\nnot a class at all\n")
    with pytest.raises(ArgumentError, match=r"c.txt, line 2: unknown class name"):
        targetlib.parse_classes(str(f), 1000)
    f.write_text("tabby cat\n")
    with pytest.raises(ArgumentError, match=r"line 1: .*ImageNet class 281, out of range 0..15"):
        targetlib.parse_classes(str(f), 16)
    f.write_text("# nothing\n")
    with pytest.raises(ArgumentError, match="names no class"):
        targetlib.parse_classes(str(f), 16)


def test_targets_name_their_files():
    t = targetlib.class_targets([281, 3], 1000)
    assert t[0] == (281, "tabby", "281-tabby") and t[1] == (3, "tiger shark", "3-tiger-shark")
    assert targetlib.class_targets([3], 16)[0] == (3, "class 3", "3-class-3")
    assert targetlib.channel_targets("conv1/7x7_s2", 2)[1] == (1, "conv1/7x7_s2 channel 1", "1-conv1-7x7-s2")


def test_packing_puts_full_batches_first_and_shares_work():
    t = list(range(10))
    assert [len(b) for b in gallery.pack(t, 4)] == [4, 4, 2]
    assert [len(b) for b in gallery.pack(t, 8, workers=2)] == [5, 5]
    assert [len(b) for b in gallery.pack(t, 1, workers=2)] == [1] * 10
    assert sum(gallery.pack(t, 3), []) == t


# --- a gallery in this process -------------------------------------------------------------------

def test_gallery_resumes_and_redraws_only_what_differs(model, tmp_path, monkeypatch):
    out = tmp_path / "g"
    s = gallery.run(model, out, classes="0-5", schedule=SHORT, seed=4, batch=2)
    assert (s["drawn"], s["kept"], s["failed"], s["pending"]) == (6, 0, 0, 0)
    first = pixels(out)
    assert sorted(first) == sorted(f"{i}-class-{i}.png" for i in range(6))
    m = manifest(out)
    assert m["counts"] == {"done": 6, "pending": 0, "failed": 0} and m["seed"] == 4
    assert all(e["rendered"] and e["score"] is not None and e["seconds"] > 0 for e in m["targets"])
    assert os.path.exists(out / "sheet.png") and os.path.exists(out / "index.html") and no_temp_files(out)
    mtimes = {p: os.path.getmtime(p) for p in glob.glob(str(out / "*-class-*.png"))}

    # a second run draws nothing (no worker is even made), keeps every file as it was, and reads
    # the seed from the manifest
    monkeypatch.setattr(gallery.jobs, "Worker", lambda *a, **k: pytest.fail("a worker was made"))
    s = gallery.run(model, out, classes="0-5", schedule=SHORT, batch=2)
    assert (s["drawn"], s["kept"]) == (0, 6)
    assert {p: os.path.getmtime(p) for p in mtimes} == mtimes
    assert all(not e["rendered"] and e["score"] is not None for e in manifest(out)["targets"])
    monkeypatch.undo()

    # one picture from another seed, one cut short, one not a PNG: those three are drawn again,
    # to the same pixels as before; and packing differs now (3 in a batch), which changes nothing
    other = tmp_path / "other"
    gallery.run(model, other, classes="1", schedule=SHORT, seed=5)
    shutil.copy(other / "1-class-1.png", out / "1-class-1.png")
    with open(out / "2-class-2.png", "r+b") as f:
        f.truncate(200)
    (out / "3-class-3.png").write_text("not a picture")
    notes = []
    s = gallery.run(model, out, classes="0-5", schedule=SHORT, batch=3, note=notes.append)
    assert (s["drawn"], s["kept"]) == (3, 3)
    assert any("seed differs" in n for n in notes) and any("2 unreadable" in n for n in notes)
    again = pixels(out)
    assert all(np.array_equal(first[k], again[k]) for k in first)


def test_an_interrupted_gallery_keeps_whole_files_and_continues(model, tmp_path):
    whole = tmp_path / "whole"
    gallery.run(model, whole, classes="0-4", schedule=SHORT, seed=1)
    out = tmp_path / "cut"
    seen = []

    def stop_after_two(pool, targets, results):
        seen.extend(targets)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gallery.run(model, out, classes="0-4", schedule=SHORT, seed=1, on_batch=stop_after_two)
    m = manifest(out)
    assert m["counts"] == {"done": 2, "pending": 3, "failed": 0}
    assert len(pixels(out)) == 2 and no_temp_files(out)
    assert "data-key" in (out / "index.html").read_text()  # the page shows what was finished
    s = gallery.run(model, out, classes="0-4", schedule=SHORT)
    assert (s["drawn"], s["kept"]) == (3, 2)
    a, b = pixels(whole), pixels(out)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_channel_gallery(model, tmp_path):
    out = tmp_path / "ch"
    s = gallery.run(model, out, channels="conv1/7x7_s2_relu", schedule=SHORT[:2], seed=0)
    assert s["drawn"] == 8  # conv1 has 64 / 8 channels at width 8
    m = manifest(out)
    assert m["target_kind"] == "channels" and m["head"] == "conv1/7x7_s2_relu"
    assert (out / "7-conv1-7x7-s2-relu.png").exists()
    assert gallery.run(model, out, channels="conv1/7x7_s2_relu", schedule=SHORT[:2])["kept"] == 8


def test_sheets_page_past_their_size(tmp_path, monkeypatch):
    monkeypatch.setattr(pages, "SHEET_TILES", 4)
    img = tmp_path / "a.png"
    from PIL import Image
    Image.new("RGB", (40, 40), "red").save(img)
    (tmp_path / "sheet-4.png").write_bytes(b"old")
    done = [(t, str(img)) for t in targetlib.class_targets(range(9), 1000)]
    paths = pages.write_sheets(str(tmp_path), done, "t")
    assert [os.path.basename(p) for p in paths] == ["sheet.png", "sheet-2.png", "sheet-3.png"]
    assert not (tmp_path / "sheet-4.png").exists()


# --- the command ---------------------------------------------------------------------------------

def test_cli_gallery_and_its_bad_input(model, tmp_path, capsys):
    out = tmp_path / "cli"
    sfile = tmp_path / "short.json"
    sfile.write_text(json.dumps([o._asdict() for o in SHORT[:2]]))
    assert main(["gallery", "--weights", model, "--out-dir", str(out), "--classes", "0-2", "--schedule",
                 str(sfile), "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "manifest.json")
    assert len(pixels(out)) == 3
    cls = tmp_path / "cls.txt"
    cls.write_text("1\nbanana\n")
    unwritable = tmp_path / "ro"
    unwritable.mkdir()
    os.chmod(unwritable, 0o500)
    cases = [
        (["--classes", "3-x"], "'3-x' is not an index or a range"),
        (["--classes", str(cls)], "cls.txt, line 2: class name 'banana' is ImageNet class 954"),
        (["--classes", "0-20"], "asks for class 20, but the model's head has 16 classes"),
        (["--channels", "no/such"], "no head or tensor named 'no/such'"),
        (["--out-dir", str(tmp_path / "missing" / "x")], "does not exist"),
        (["--batch", "0"], "--batch must be a whole number from 1 to 4096"),
        (["--workers", "2"], "need --ray"),
        (["--seed", "-1"], "seed must be >= 0"),
    ]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((["--out-dir", str(unwritable / "g")], "cannot create --out-dir"))
    for extra, words in cases:
        fresh = tmp_path / "fresh"
        argv = ["gallery", "--weights", model, "--out-dir", str(fresh), "--schedule", "quick", *extra]
        assert main(argv) == 2, extra
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and "Traceback" not in err, (extra, err)
        assert not fresh.exists() or not os.listdir(fresh), extra


def test_ray_address_that_does_not_answer(model, tmp_path, capsys):
    pytest.importorskip("ray")
    import time
    t = time.perf_counter()
    assert main(["gallery", "--weights", model, "--out-dir", str(tmp_path / "g"), "--ray", "127.0.0.1:1"]) == 2
    assert time.perf_counter() - t < 30
    err = capsys.readouterr().err
    assert "the Ray cluster at '127.0.0.1:1' does not answer" in err and err.count("\n") == 1


# --- Ray: a local cluster of 2 CPUs --------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("shared_fs", [False, True])
def test_ray_gallery_with_a_worker_killed_equals_one_process(model, tmp_path, ray_cluster, shared_fs):
    """The issue's check: 16 classes, `quick`, single process against 2 Ray workers with one killed
    mid-run; the dead worker's batch runs elsewhere, every image lands once, pixels equal."""
    ray = ray_cluster
    single = tmp_path / "single"
    gallery.run(model, single, classes="all", schedule="quick", seed=9)
    out = tmp_path / "ray"
    landed, killed, notes = [], [], []

    def kill_one(pool, targets, results):
        landed.extend(t.index for t in targets)
        if not killed:  # the other worker is mid-batch now
            busy = [a for a, _ in pool.inflight.values()]
            assert busy
            killed.append(pool.pids[busy[0]])
            ray.kill(busy[0], no_restart=True)

    s = gallery.run(model, out, classes="all", schedule="quick", seed=9, ray="local", workers=2,
                    shared_fs=shared_fs, on_batch=kill_one, note=notes.append)
    assert killed and any("a Ray worker died" in n for n in notes), notes
    assert sorted(landed) == list(range(16))  # each image once: none lost, none twice
    assert (s["drawn"], s["failed"], s["pending"]) == (16, 0, 0)
    a, b = pixels(single), pixels(out)
    assert len(a) == 16 and a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert no_temp_files(out)


# --- the page in a real browser ------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _dom(url, tmp_path):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", url]
    return subprocess.run(args, capture_output=True, text=True, timeout=60).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium)")
def test_index_page_in_a_browser(model, tmp_path):
    out = tmp_path / "page"
    gallery.run(model, out, classes="0-11", schedule=SHORT[:1], seed=0)
    url = (out / "index.html").as_uri()
    dom = _dom(url, tmp_path)
    assert dom.count("<figure") == 12
    assert 'data-shown="12"' in dom and 'data-loaded="12"' in dom  # every thumbnail loaded
    dom = _dom(url + "?q=class%201", tmp_path)  # 'class 1', 'class 10', 'class 11'
    assert 'data-shown="3"' in dom and dom.count('hidden=""') == 9
    dom = _dom(url + "?q=11", tmp_path)
    assert 'data-shown="1"' in dom


def test_gallery_command_runs_without_ray_installed(model, tmp_path):
    """The README's set-up has no Ray: the module and the command import without it."""
    code = ("import sys; sys.modules['ray'] = None\n"
            "from classviz.cli import main\n"
            f"sys.exit(main(['gallery', '--weights', {model!r}, '--out-dir', {str(tmp_path / 'g')!r}, "
            "'--classes', '0', '--ray']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--ray needs Ray: pip install 'classviz[ray]'" in r.stderr


def test_a_shared_folder_rerun_reports_what_the_dead_worker_wrote(model, tmp_path):
    """With --shared-fs, a worker can die after writing some of its batch: the batch's re-run
    draws only the rest, and those written are reported finished with the score in their file."""
    from classviz.gallery import ray_pool
    s = gallery.run(model, tmp_path, classes="0-1", schedule=SHORT[:1], seed=0)
    assert s["drawn"] == 2
    job, targets = gallery._prepare(model, str(tmp_path), "0-2", None, SHORT[:1], 0, "fp32", None)
    pool = ray_pool.RayPool.__new__(ray_pool.RayPool)
    pool.job, pool.out_dir = job, str(tmp_path)
    seen = []
    todo = pool._written(targets, lambda done, results: seen.append((done, results)))
    assert todo == targets[2:]
    (done, results), = seen
    assert done == targets[:2] and all(r["score"] == e["score"] for r, e in zip(results, manifest(tmp_path)["targets"]))


def test_sigterm_stops_the_command_with_whole_files_and_the_next_run_finishes(model, tmp_path):
    import signal
    import time
    out = tmp_path / "g"
    argv = [sys.executable, "-m", "classviz", "gallery", "--weights", model, "--out-dir", str(out), "--classes",
            "0-7", "--schedule", "quick", "--seed", "2", "-q"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(glob.glob(str(out / "*-class-*.png"))) < 2 and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert "interrupted; what was finished is in" in err and "Traceback" not in err
    m = manifest(out)
    assert m["counts"]["done"] >= 2 and m["counts"]["pending"] > 0 and no_temp_files(out)
    assert len(pixels(out)) == m["counts"]["done"]
    r = subprocess.run(argv[:-3] + ["-q"], capture_output=True, text=True, timeout=300)  # seed from the manifest
    assert r.returncode == 0, r.stderr
    assert manifest(out)["counts"] == {"done": 8, "pending": 0, "failed": 0}


def test_a_ctrl_c_lost_inside_a_c_callback_still_stops_the_gallery(model, tmp_path):
    # as the render's test in test_cli: the signal is taken inside a ctypes callback (where Numba's
    # compiler calls back into Python) while the workers start; the gallery stops before its first batch
    out = tmp_path / "g"
    code = (
        "import ctypes, os, signal, sys\n"
        "from classviz import gallery\n"
        "from classviz.cli import main\n"
        "start = gallery._pool\n"
        "@ctypes.CFUNCTYPE(None)\n"
        "def callback():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    sum(range(1000))  # the handler runs here, inside the callback\n"
        "def start_then_callback(*a, **k):\n"
        "    pool = start(*a, **k)\n"
        "    callback()\n"
        "    return pool\n"
        "gallery._pool = start_then_callback\n"
        "sys.exit(main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "gallery", "--weights", model, "--out-dir", str(out),
                        "--classes", "0-3", "--schedule", "quick", "--seed", "2"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 130, (r.returncode, r.stderr)
    assert "interrupted; what was finished is in" in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    assert manifest(out)["counts"] == {"done": 0, "pending": 4, "failed": 0} and no_temp_files(out)
