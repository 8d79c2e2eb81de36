"""`classviz render` and `classviz classes` as a user runs them: real subprocesses, real files."""
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time

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
