"""The console script: output on success, exit 2 and one line without traceback on bad input."""
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "classviz", *args], capture_output=True, text=True, timeout=300)


def test_info_lists_heads_by_role(model_path):
    r = run("info", model_path("bvlc_aux", 8))
    assert r.returncode == 0, r.stderr
    assert "loss3/classifier (main), loss2/classifier (aux2), loss1/classifier (aux1)" in r.stdout


def test_bad_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("nope")
    r = run("info", str(bad))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and "bad.onnx" in r.stderr
