"""The `classviz` command as a user runs it: real subprocesses, real files (render, classes, weights, info)."""
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time

import numpy as np
import pytest
from PIL import Image

from classviz import schedule as sched

TINY = [{"head": "main", "iter_n": 4, "start_sigma": 1.0, "end_sigma": 0.5, "start_step_size": 3,
         "end_step_size": 3},
        {"head": "aux1", "iter_n": 3, "scale": 1.1, "start_sigma": 0.5, "end_sigma": 0.5, "start_step_size": 2,
         "end_step_size": 2}]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "classviz", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def weights(model_path):
    return model_path("bvlc_aux", 8)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"octaves": TINY}))
    return str(path)


def one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_render_writes_a_png_with_reproducible_metadata(weights, tiny, tmp_path):
    out = tmp_path / "cat.png"
    r = run("render", "--class", "tabby cat", "--weights", weights, "-o", out, "--schedule", tiny, "--seed", 5)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    img = Image.open(out)
    assert img.format == "PNG" and img.size == (246, 246) and img.mode == "RGB"
    meta = img.text
    assert meta["classviz:class"] == "281" and meta["classviz:class_name"] == "tabby"
    assert meta["classviz:seed"] == "5" and meta["classviz:complete"] == "true"
    assert meta["classviz:precision"] == "fp32"
    assert meta["classviz:version"] and len(meta["classviz:model_sha256"]) == 64
    assert [o["iter_n"] for o in json.loads(meta["classviz:schedule"])] == [4, 3]
    # the metadata is enough to draw the same picture again
    again = tmp_path / "again.png"
    r = run("render", "--class", meta["classviz:class"], "--weights", weights, "-o", again,
            "--schedule", tiny, "--seed", meta["classviz:seed"])
    assert r.returncode == 0 and Image.open(again).tobytes() == img.tobytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".classviz")] == []


def test_several_classes_render_into_a_folder(weights, tiny, tmp_path):
    r = run("render", "--class", 281, "--class", "dalmatian", "--weights", weights, "--out-dir", tmp_path / "imgs",
            "--schedule", tiny, "--seed", 1, "--quiet")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "imgs")) == ["251-dalmatian.png", "281-tabby.png"]
    assert r.stderr == ""


def test_frames_and_gif_record_the_generation(weights, tiny, tmp_path):
    r = run("render", "--class", 1, "--weights", weights, "-o", tmp_path / "a.png", "--schedule", tiny,
            "--frames", tmp_path / "frames", "--every", 2, "--gif", tmp_path / "a.gif", "--seed", 0)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "frames")) == [f"1-goldfish-{k:04d}.png" for k in (2, 4, 6, 7)]
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 4 and gif.size == (246, 246)


@pytest.mark.parametrize("args, words", [
    (["--class", "tabby kat"], ["unknown class name", "'tabby cat'"]),
    (["--class", "crane"], ["ambiguous", "134", "517"]),
    (["--class", "1000"], ["out of range"]),
    (["--class", "1", "--schedule", "deepdream"], ["deepdream", "neither a built-in"]),
    (["--class", "1", "--every", "0"], ["--every"]),
    (["--class", "1", "--class", "2", "-o", "x.png"], ["-o names one file"]),
    (["--class", "1", "--backend", "tpu"], ["invalid choice"]),
    (["--class", "1", "--backend", "cpu", "--precision", "bf16"], ["'bf16' needs the CUDA backend"]),
    (["--seed", "1"], ["--class"]),
])
def test_bad_arguments_exit_2_in_one_line_and_write_nothing(weights, tmp_path, args, words):
    r = run("render", "--weights", weights, "-o", "x.png", *args, cwd=tmp_path) if "-o" not in args else \
        run("render", "--weights", weights, *args, cwd=tmp_path)
    one_line_error(r, *words)
    assert os.listdir(tmp_path) == []


def test_missing_and_corrupt_weights(tmp_path):
    one_line_error(run("render", "--class", 1, "--weights", tmp_path / "none.onnx", "-o", tmp_path / "o.png"),
                   "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    one_line_error(run("render", "--class", 1, "--weights", bad, "-o", tmp_path / "o.png"), "bad.onnx")
    assert sorted(os.listdir(tmp_path)) == ["bad.onnx"]


def test_bad_schedule_file(weights, tmp_path):
    s = tmp_path / "s.json"
    s.write_text('{"octaves": [{"head": "main"}]}')
    one_line_error(run("render", "--class", 1, "--weights", weights, "--schedule", s, "-o", tmp_path / "o.png"),
                   "s.json", "missing field 'iter_n'")
    assert sorted(os.listdir(tmp_path)) == ["s.json"]


def test_unwritable_output(weights, tiny, tmp_path):
    one_line_error(run("render", "--class", 1, "--weights", weights, "--schedule", tiny,
                       "-o", tmp_path / "no" / "such" / "dir" / "o.png"), "does not exist")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): permission bits do not bind")
        one_line_error(run("render", "--class", 1, "--weights", weights, "--schedule", tiny, "-o", locked / "o.png"),
                       "not writable")
    finally:
        locked.chmod(0o700)


def test_output_that_cannot_be_written_late_leaves_no_file(weights, tiny, tmp_path):
    # the target exists as a folder under a .png name: caught before the render starts
    (tmp_path / "o.png").mkdir()
    one_line_error(run("render", "--class", 1, "--weights", weights, "--schedule", tiny, "-o", tmp_path / "o.png"),
                   "is a folder")


def _run_on_a_tty(args):
    """Run the CLI with stderr on a pseudo-terminal; returns (exit code, what the terminal showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0x0
    p = subprocess.Popen([sys.executable, "-m", "classviz", *map(str, args)], stdout=subprocess.PIPE,
                         stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    p.wait(timeout=300)
    os.close(master)
    return p.returncode, shown.decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_only(weights, tiny, tmp_path):
    code, shown = _run_on_a_tty(["render", "--class", 1, "--weights", weights, "--schedule", tiny,
                                 "-o", tmp_path / "a.png"])
    assert code == 0 and "step/s" in shown and "octave 1/2 loss3/classifier" in shown and "/7 [" in shown, shown
    code, shown = _run_on_a_tty(["render", "--class", 1, "--weights", weights, "--schedule", tiny,
                                 "-o", tmp_path / "b.png", "--quiet"])
    assert code == 0 and shown == "", shown
    r = run("render", "--class", 1, "--weights", weights, "--schedule", tiny, "-o", tmp_path / "c.png")
    assert r.returncode == 0 and "step/s" not in r.stderr and "\r" not in r.stderr


def test_ctrl_c_writes_the_image_so_far_marked_incomplete(weights, tmp_path):
    frames = tmp_path / "frames"
    p = subprocess.Popen([sys.executable, "-m", "classviz", "render", "--class", "3", "--weights", weights,
                          "-o", str(tmp_path / "i.png"), "--schedule", "deepdraw", "--seed", "2",
                          "--frames", str(frames), "--every", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.time() + 120
    while not (frames.is_dir() and len(os.listdir(frames)) >= 3) and time.time() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "incomplete" in out and "Traceback" not in err
    meta = Image.open(tmp_path / "i.png").text
    done, total = map(int, meta["classviz:steps"].split("/"))
    assert meta["classviz:complete"] == "false" and 3 <= done < total == 500


def test_classes_command_searches_names():
    r = run("classes", "tabby")
    assert r.returncode == 0 and r.stdout == "281\ttabby, tabby cat\n"
    r = run("classes")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1000
    r = run("classes", "qqqzzz")
    assert r.returncode == 1 and "qqqzzz" in r.stderr


def test_schedule_names_listed_in_help():
    r = run("render", "--help")
    assert r.returncode == 0 and all(name in r.stdout for name in sched.SCHEDULES)


@pytest.mark.parametrize("args, words", [
    (["--class", "1", "--seed", "-1"], ["--seed must be >= 0, got -1"]),
    (["--class", "1", "--seed", "1.5"], ["--seed", "invalid int value"]),
    (["--class", "²"], ["unknown class name '²'"]),
    (["--class", "-1"], ["class index -1 is out of range 0..999"]),
    (["--class", "1", "--gif", "anim.png"], ["--gif 'anim.png' must end in .gif"]),
])
def test_more_bad_arguments_exit_2_in_one_line(weights, tmp_path, args, words):
    one_line_error(run("render", "--weights", weights, "-o", "x.png", *args, cwd=tmp_path), *words)
    assert os.listdir(tmp_path) == []


def test_zero_numba_threads_is_one_line(weights, tmp_path):
    r = subprocess.run([sys.executable, "-m", "classviz", "render", "--class", "1", "--weights", weights,
                        "-o", tmp_path / "x.png"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NUMBA_NUM_THREADS": "0"})
    one_line_error(r, "NUMBA_NUM_THREADS must be a whole number >= 1", "'0'")
    assert os.listdir(tmp_path) == []


def test_an_existing_output_is_kept_unless_forced(weights, tiny, tmp_path):
    out = tmp_path / "cat.png"
    out.write_bytes(b"precious")
    one_line_error(run("render", "--class", 1, "--weights", weights, "--schedule", tiny, "-o", out),
                   f"-o '{out}' exists; pass --force to overwrite it")
    assert out.read_bytes() == b"precious"
    r = run("render", "--class", 1, "--weights", weights, "--schedule", tiny, "-o", out, "--force")
    assert r.returncode == 0, r.stderr
    assert Image.open(out).format == "PNG"


def test_outputs_never_name_one_file_twice(weights, tiny, tmp_path):
    (tmp_path / "link.gif").symlink_to(tmp_path / "x.gif")
    one_line_error(run("render", "--class", 1, "--weights", weights, "--schedule", tiny, "-o", tmp_path / "x.png",
                       "--gif", tmp_path / "x.png"), "--gif", "must end in .gif")
    os.rename(tmp_path / "link.gif", tmp_path / "link.png")  # -o through a symlink onto the GIF's file
    one_line_error(run("render", "--class", 1, "--weights", weights, "--schedule", tiny, "-o", tmp_path / "link.png",
                       "--gif", tmp_path / "x.gif"), "-o and --gif both name")
    assert sorted(os.listdir(tmp_path)) == ["link.png", "tiny.json"]


def test_the_same_class_twice_gets_two_files(weights, tiny, tmp_path):
    r = run("render", "--class", 281, "--class", "tabby cat", "--weights", weights, "--out-dir", tmp_path / "o",
            "--schedule", tiny, "--seed", 3, "--frames", tmp_path / "f", "--every", 7, "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "o")) == ["281-tabby-2.png", "281-tabby.png"]
    assert sorted(os.listdir(tmp_path / "f")) == ["281-tabby-0007.png", "281-tabby-2-0007.png"]
    a, b = (Image.open(tmp_path / "o" / n) for n in ("281-tabby.png", "281-tabby-2.png"))
    assert a.tobytes() != b.tobytes()  # two images of one class, each with its own stream


@pytest.mark.parametrize("where, words", [
    (lambda t: t / "gifdir.gif", ["--gif", "is a folder"]),
    (lambda t: "/proc/x.gif", ["cannot write --gif '/proc/x.gif'"]),
    (lambda t: "/sys/x.gif", ["cannot write --gif '/sys/x.gif'"]),
])
def test_unwritable_outputs_fail_before_the_model_loads(tmp_path, where, words):
    (tmp_path / "gifdir.gif").mkdir()
    # the weights file does not exist: an error about the output proves no work started
    one_line_error(run("render", "--class", 1, "--weights", tmp_path / "none.onnx", "-o", tmp_path / "x.png",
                       "--gif", where(tmp_path)), *words)
    assert sorted(os.listdir(tmp_path)) == ["gifdir.gif"]


def test_outputs_under_proc_fail_before_the_model_loads(tmp_path):
    one_line_error(run("render", "--class", 1, "--weights", tmp_path / "none.onnx", "-o", "/proc/x.png"),
                   "cannot write -o '/proc/x.png'")


def test_files_get_the_umask_mode_keep_an_existing_mode_and_follow_symlinks(weights, tiny, tmp_path):
    def render(out, *extra, umask=0o022):
        r = subprocess.run([sys.executable, "-m", "classviz", "render", "--class", "1", "--weights", weights,
                            "--schedule", tiny, "-o", str(out), *map(str, extra)], capture_output=True, text=True,
                           timeout=300, umask=umask)
        assert r.returncode == 0, r.stderr

    mode = lambda p: os.stat(p).st_mode & 0o777  # noqa: E731
    render(tmp_path / "a.png", "--gif", tmp_path / "a.gif", "--frames", tmp_path / "f", "--every", 7)
    assert mode(tmp_path / "a.png") == mode(tmp_path / "a.gif") == mode(tmp_path / "f" / "1-goldfish-0007.png") \
        == 0o644
    render(tmp_path / "b.png", umask=0o027)
    assert mode(tmp_path / "b.png") == 0o640
    os.chmod(tmp_path / "a.png", 0o604)  # an overwritten file keeps its mode, whatever the umask
    render(tmp_path / "a.png", "--force", umask=0o077)
    assert mode(tmp_path / "a.png") == 0o604
    (tmp_path / "real").mkdir()
    (tmp_path / "link.png").symlink_to(tmp_path / "real" / "target.png")
    render(tmp_path / "link.png")
    assert (tmp_path / "link.png").is_symlink() and Image.open(tmp_path / "real" / "target.png").format == "PNG"
    render(tmp_path / "link.png", "--force")
    assert (tmp_path / "link.png").is_symlink()
    assert [p for p in os.listdir(tmp_path) + os.listdir(tmp_path / "real") if p.startswith(".classviz")] == []


def _wait_for_frames(frames, n, deadline=120):
    end = time.time() + deadline
    while not (frames.is_dir() and len(os.listdir(frames)) >= n) and time.time() < end:
        time.sleep(0.05)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_write_the_image_so_far_like_ctrl_c(weights, tmp_path, sig, code):
    frames = tmp_path / "frames"
    p = subprocess.Popen([sys.executable, "-m", "classviz", "render", "--class", "3", "--weights", weights,
                          "-o", str(tmp_path / "i.png"), "--schedule", "deepdraw", "--seed", "2",
                          "--frames", str(frames), "--every", "1", "--gif", str(tmp_path / "i.gif")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_frames(frames, 3)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    assert "incomplete" in out and "Traceback" not in err
    meta = Image.open(tmp_path / "i.png").text
    done, total = map(int, meta["classviz:steps"].split("/"))
    assert meta["classviz:complete"] == "false" and 3 <= done < total == 500
    assert Image.open(tmp_path / "i.gif").n_frames >= 1  # whole: it opens
    left = [p for d in (tmp_path, frames) for p in os.listdir(d) if p.startswith(".classviz")]
    assert left == []


def test_a_signal_during_the_writes_waits_until_every_file_is_whole(tmp_path):
    # the CLI holds signals while it writes its outputs: the files come out whole, then it stops
    code = (
        "import os, signal, numpy as np\n"
        "from classviz.cli import output, signals\n"
        "sig = signals.current = signals.Signals(); sig.install()\n"
        "img = np.zeros((64, 64, 3), np.uint8)\n"
        "try:\n"
        "    with sig.deferred():\n"
        f"        output.save_png({str(tmp_path / 'a.png')!r}, img, {{}})\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        f"        output.save_gif({str(tmp_path / 'b.gif')!r}, [img, img])\n"
        "    print('not stopped')\n"
        "except KeyboardInterrupt:\n"
        "    print('stopped', sig.exit_code)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "stopped 143", r.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.gif"]


def test_the_next_write_removes_stale_temporary_files(weights, tiny, tmp_path):
    stale, fresh = tmp_path / ".classviz-killed.tmp", tmp_path / ".classviz-writing.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (time.time() - 120, time.time() - 120))
    r = run("render", "--class", 1, "--weights", weights, "--schedule", tiny, "-o", tmp_path / "a.png")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path)) == [".classviz-writing.tmp", "a.png", "tiny.json"]


def test_a_dead_writers_temporary_file_goes_at_once(tmp_path):
    """A temporary file whose writer (named in it: host and pid) is a process of this host that
    has ended goes with the next write, however new; a live writer's stays."""
    from classviz import atomic
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"{atomic.PREFIX}{atomic.HOST}-{dead.pid}-abc{atomic.SUFFIX}"
    live = tmp_path / f"{atomic.PREFIX}{atomic.HOST}-{os.getpid()}-abc{atomic.SUFFIX}"
    elsewhere = tmp_path / f"{atomic.PREFIX}otherhost-{dead.pid}-abc{atomic.SUFFIX}"
    for p in (gone, live, elsewhere):
        p.write_bytes(b"x")
    with atomic.atomic(tmp_path / "f.txt") as tmp:
        assert os.path.basename(tmp).startswith(f"{atomic.PREFIX}{atomic.HOST}-{os.getpid()}-")
        open(tmp, "w").close()
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, elsewhere.name, "f.txt"])


def test_ctrl_c_during_start_up_is_never_a_traceback(weights, tmp_path):
    # at every moment of start-up (imports, argument checks, loading, compiling) Ctrl-C is one line and 130
    for k, delay in enumerate((0.05, 0.15, 0.3, 0.5, 0.8, 1.2, 2.0)):
        p = subprocess.Popen([sys.executable, "-m", "classviz", "render", "--class", "3", "--weights", weights,
                              "-o", str(tmp_path / f"i{k}.png"), "--schedule", "quick"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        classviz_frames = re.findall(r'File "[^"]*/(classviz/[^"]+)"', err)
        if "Traceback" in err and set(classviz_frames) <= {"classviz/__init__.py", "classviz/errors.py"}:
            # Python's own start-up (site-packages, runpy importing the package), before the
            # command's first line has run and could take the signal: nothing of classviz's to test
            continue
        # -2: the signal came before Python itself was up, and ended it as it would any program
        assert "Traceback" not in err and p.returncode in (130, -signal.SIGINT, 0), (delay, p.returncode, err)
        if p.returncode == 130:  # stopped by classviz: said so, or wrote the image so far
            assert err.strip().splitlines()[-1] == "classviz: interrupted" or "incomplete" in out, err


def test_a_signal_before_the_cli_has_imported_stops_it_with_one_line(weights, tmp_path):
    # `classviz.__main__` holds the signals from its first line; one that comes before the CLI's
    # own handlers are in (here: before it is even imported) stops the command at its first check
    code = ("import os, signal, sys\n"
            "import classviz.__main__ as entry\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "assert 'classviz.cli' not in sys.modules and entry.noted == [signal.SIGTERM], entry.noted\n"
            "sys.exit(entry.run())\n")
    png = tmp_path / "i.png"
    r = subprocess.run([sys.executable, "-c", code, "render", "--class", "3", "--weights", weights,
                        "-o", str(png), "--schedule", "quick"], capture_output=True, text=True, timeout=300)
    assert (r.returncode, r.stderr) == (143, "classviz: interrupted\n"), r.stderr
    assert os.listdir(tmp_path) == []


def _render_patched(patch, weights, png):
    """`classviz render --class 3 --schedule quick -o png` in a subprocess, once the Python lines
    `patch` have run (with sys and classviz imported: they may replace classviz's functions);
    returns the CompletedProcess (text)."""
    code = "import sys\nimport classviz\nfrom classviz.cli import main\n" + patch + "sys.exit(main(sys.argv[1:]))\n"
    return subprocess.run([sys.executable, "-c", code, "render", "--class", "3", "--weights", weights,
                           "-o", str(png), "--schedule", "quick"], capture_output=True, text=True, timeout=300)


def test_a_ctrl_c_lost_inside_a_c_callback_still_stops_the_render(weights, tmp_path):
    # Numba's compiler calls back into Python from C (llvmlite's object cache); a KeyboardInterrupt
    # raised there cannot leave the callback and Python only prints it. Here a ctypes callback takes
    # the signal just before the render starts: the render still stops after its first step.
    r = _render_patched(
        "import ctypes, os, signal\n"
        "render = classviz.render\n"
        "@ctypes.CFUNCTYPE(None)\n"
        "def callback():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    sum(range(1000))  # the handler runs here, inside the callback\n"
        "def render_after_the_callback(*a, **k):\n"
        "    callback()\n"
        "    return render(*a, **k)\n"
        "classviz.render = render_after_the_callback\n", weights, tmp_path / "i.png")
    assert r.returncode == 130 and "incomplete" in r.stdout, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    assert Image.open(tmp_path / "i.png").text["classviz:steps"] == "1/60"


def test_a_ctrl_c_during_an_import_lets_the_import_finish_then_stops(weights, tmp_path):
    # a KeyboardInterrupt thrown into a module's initialisation leaves it half-built (protobuf's C
    # extension, half-built so, crashed the process on SIGSEGV): the signal is held until the
    # import ends, and the command then stops, before any image is written
    (tmp_path / "takes_the_signal.py").write_text(
        "import os, signal\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "sum(range(1000))  # the handler runs here, inside the import\n"
        "finished = True\n")
    r = _render_patched(
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "load = classviz.load\n"
        "def load_after_the_import(*a, **k):\n"
        "    import takes_the_signal\n"
        "    print('the import finished:', takes_the_signal.finished, flush=True)\n"
        "    return load(*a, **k)\n"
        "classviz.load = load_after_the_import\n", weights, tmp_path / "i.png")
    assert "the import finished: True" in r.stdout, (r.returncode, r.stdout, r.stderr)
    assert r.returncode == 130 and r.stderr.strip().splitlines()[-1] == "classviz: interrupted", r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "i.png").exists()


def test_a_render_with_broken_weights_exits_2_and_writes_nothing(tmp_path, model_path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(model_path("bvlc_aux", 8))
    for i, t in enumerate(m.graph.initializer):
        if t.name.startswith("loss3/classifier."):
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(t)), t.name))
    onnx.save(m, tmp_path / "zero.onnx")
    r = run("render", "--class", 1, "--weights", tmp_path / "zero.onnx", "-o", tmp_path / "o.png", "--schedule",
            "quick", "-q")
    one_line_error(r, "gradient of class 1", "is identically zero at step 1 of 60")
    assert sorted(os.listdir(tmp_path)) == ["zero.onnx"]


def test_demo_weights_draw_offline_and_say_they_are_noise(tmp_path):
    r = run("weights", "demo", tmp_path / "demo.onnx")
    assert r.returncode == 0 and r.stdout.strip() == str(tmp_path / "demo.onnx"), r.stderr
    assert "noise" in r.stderr
    r = run("weights", "info", tmp_path / "demo.onnx")
    assert r.returncode == 0 and "loss2/classifier (aux2)" in r.stdout and "noise, not classes" in r.stdout
    one_line_error(run("weights", "demo", tmp_path / "demo.onnx"), "exists; pass --force")
    one_line_error(run("weights", "demo", tmp_path / "demo.txt"), "must end in .onnx")
    (tmp_path / "dir.onnx").mkdir()
    one_line_error(run("weights", "convert", tmp_path / "none.caffemodel", "-o", tmp_path / "dir.onnx"), "is a folder")


def test_weights_info_names_a_damaged_tensor(tmp_path, model_path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(model_path("bvlc_aux", 8))
    t = m.graph.initializer[0]
    a = numpy_helper.to_array(t).copy()
    a.flat[3] = np.nan
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, tmp_path / "nan.onnx")
    one_line_error(run("weights", "info", tmp_path / "nan.onnx"), f"'{t.name}' holds 1 NaN and 0 Inf values")


def test_info_lists_heads_by_role(model_path):
    r = run("info", model_path("bvlc_aux", 8))
    assert r.returncode == 0, r.stderr
    assert "loss3/classifier (main), loss2/classifier (aux2), loss1/classifier (aux1)" in r.stdout


def test_info_of_a_bad_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("nope")
    one_line_error(run("info", bad), "bad.onnx")
