"""benchmarks/gpu_check.sh end to end, as a dry run on the CPU (tiny sizes): the same stages, the
same three files, the same summary, so the one short run on a GPU machine does not fail on the
script itself."""
import json
import os
import subprocess
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_dry_run_writes_three_files_and_a_one_screen_summary(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-4000:], r.stderr[-4000:])
    assert sorted(os.listdir(out)) == ["logs.tar.gz", "results.json", "summary.txt"]
    summary = (out / "summary.txt").read_text()
    assert len(summary.splitlines()) <= 30, summary
    for words in ("dry run", "stages: tests ok", "tests: ", " passed", "capture: whole image, main eager",
                  "step fp32 loss3/classifier N=1:", "render 1 class(es), quick:", "render 2 class(es), quick:",
                  "gallery fp32 quick batch 2:"):
        assert words in summary, (words, summary)
    results = json.loads((out / "results.json").read_text())
    assert all(s.split()[1] == "ok" for s in results["stages"]), results["stages"]
    assert [row["batch"] for row in results["step"]["fp32"]["rows"]] == [1, 2]
    with tarfile.open(out / "logs.tar.gz") as t:
        names = {os.path.basename(n) for n in t.getnames()}
    assert {"env.log", "tests.log", "step_fp32.log", "capture.log", "render_1.log", "render_2.log"} <= names


def test_a_spent_budget_skips_the_later_stages_and_still_writes_the_files(tmp_path):
    """Each stage runs under `timeout` cut to what is left of the budget: with 21 s in all, the
    tests stage is cut short or the later ones are skipped, and the three files still come back."""
    out = tmp_path / "out"
    r = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "GPU_CHECK_BUDGET": "21"})
    assert sorted(os.listdir(out)) == ["logs.tar.gz", "results.json", "summary.txt"], r.stderr
    stages = json.loads((out / "results.json").read_text())["stages"]
    assert any("skipped (budget spent)" in s or "timed out" in s for s in stages), stages
    assert stages[-1].startswith("gallery skipped"), stages
