"""Fetching the default weights against a local HTTP server on 127.0.0.1 (never the internet):
a good file, a corrupted one, a broken-off download, a server error, mirror fallback, Ctrl-C.
Whatever fails, the cache holds no partial file."""
import hashlib
import http.server
import io
import os
import subprocess
import sys
import threading

import pytest

import classviz
from classviz.errors import FetchError
from classviz.weights import cache, fetch
from classviz.testing import googlenet_caffemodel

GOOD = googlenet_caffemodel(width=8, seed=9)
SHA1 = hashlib.sha1(GOOD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        self.server.hits.append(self.path)
        if self.path == "/good.caffemodel":
            self._send(GOOD)
        elif self.path == "/corrupt.caffemodel":
            self._send(GOOD[:100] + bytes([GOOD[100] ^ 1]) + GOOD[101:])
        elif self.path == "/broken.caffemodel":  # promises the whole file, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[:len(GOOD) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/error.caffemodel":
            self.send_error(500, "Internal Server Error")
        else:
            self.send_error(404, "Not Found")

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.hits = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSVIZ_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CLASSVIZ_MIRRORS", raising=False)
    monkeypatch.delenv("CLASSVIZ_WEIGHTS_URL", raising=False)
    return tmp_path / "cache"


def test_good_file_is_verified_converted_and_cached(server, home):
    base, _ = server
    seen = []
    path = fetch.fetch(origin=base + "/good.caffemodel", sha1=SHA1, progress=lambda d, t: seen.append((d, t)))
    assert path == cache.default_path() == str(home / "bvlc_googlenet.onnx")
    assert os.listdir(home) == ["bvlc_googlenet.onnx"]
    assert seen[-1] == (len(GOOD), len(GOOD))
    net = classviz.load(path, backend="cpu")
    assert net.heads == ("loss3/classifier", "loss2/classifier", "loss1/classifier")
    assert net.model.metadata["classviz.source_sha1"] == SHA1
    assert net.model.metadata["classviz.source"] == "good.caffemodel"


@pytest.mark.parametrize("name, words", [
    ("corrupt", ["SHA-1", "is not the expected"]),
    ("broken", ["broke off"]),
    ("error", ["500"]),
    ("missing", ["404"]),
])
def test_failures_leave_nothing_in_the_cache(server, home, name, words):
    base, _ = server
    with pytest.raises(FetchError) as e:
        fetch.fetch(origin=f"{base}/{name}.caffemodel", sha1=SHA1)
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value)
    assert not home.exists()  # the cache folder this fetch created is gone again


def test_a_retry_after_an_interrupted_download_succeeds(server, home):
    base, _ = server
    with pytest.raises(FetchError):
        fetch.fetch(origin=base + "/broken.caffemodel", sha1=SHA1)
    assert not home.exists()
    assert fetch.fetch(origin=base + "/good.caffemodel", sha1=SHA1) == cache.default_path()


def test_mirrors_are_tried_in_order(server, home, monkeypatch):
    base, srv = server
    srv.hits.clear()
    monkeypatch.setenv("CLASSVIZ_MIRRORS", f"{base}/good.caffemodel")
    notes = []
    fetch.fetch(origin=base + "/error.caffemodel", mirrors=[base + "/corrupt.caffemodel"], sha1=SHA1,
                note=notes.append)
    assert srv.hits == ["/error.caffemodel", "/corrupt.caffemodel", "/good.caffemodel"]
    assert sum("failed" in n for n in notes) == 2
    assert os.listdir(home) == ["bvlc_googlenet.onnx"]


def test_the_original_url_comes_first(home):
    assert fetch.urls(["http://m/1"])[:2] == [fetch.URL, "http://m/1"]
    assert fetch.SHA1 == "405fc5acd08a3bb12de8ee5e23a96bec22f08204"


class _FakeResponse(io.BytesIO):
    def __init__(self, body, fail_after=None, exc=None):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}
        self.fail_after, self.exc = fail_after, exc

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise self.exc
        return super().read(min(n, 4096))

    read1 = read  # what download() calls on a real HTTP response


def test_timeout_and_ctrl_c_through_an_injected_opener(home):
    with pytest.raises(FetchError, match="time-out"):
        fetch.fetch(origin="http://x/a", sha1=SHA1, opener=lambda u, t: _FakeResponse(GOOD, 8192, TimeoutError()))
    assert not home.exists()
    home.mkdir()  # a cache folder that was there before stays
    with pytest.raises(KeyboardInterrupt):
        fetch.fetch(origin="http://x/a", sha1=SHA1, opener=lambda u, t: _FakeResponse(GOOD, 8192, KeyboardInterrupt()))
    assert os.listdir(home) == []
    got = fetch.fetch(origin="http://x/a", sha1=SHA1, opener=lambda u, t: _FakeResponse(GOOD))
    assert os.path.isfile(got)


class _Trickle(io.BytesIO):
    """A server that sends one byte per read1 while `clock` says 5 s went by each time."""

    def __init__(self, body, clock):
        super().__init__(body)
        self.headers, self.clock = {"Content-Length": str(len(body))}, clock

    def read1(self, n):
        self.clock.now += 5.0
        return self.read(1)


class _Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_a_trickling_server_fails_by_rate_and_by_deadline_not_never(home):
    clock = _Clock()
    with pytest.raises(FetchError, match=r"sends 0 bytes/s, below the 8192 bytes/s needed \(12 bytes so far\)"):
        fetch.fetch(origin="http://x/a", sha1=SHA1, opener=lambda u, t: _Trickle(GOOD, clock), clock=clock)
    assert clock.now == 60.0 and not home.exists()
    clock = _Clock()
    with pytest.raises(FetchError, match=r"took longer than 30 s \(7 bytes so far\)"):
        fetch.fetch(origin="http://x/a", sha1=SHA1, opener=lambda u, t: _Trickle(GOOD, clock), clock=clock,
                    deadline=30)


def test_a_real_trickle_over_http_ends_by_the_deadline(home):
    class Slow(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    threading.Event().wait(0.05)
            except OSError:
                pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with pytest.raises(FetchError, match="took longer than 0.5 s"):
            fetch.fetch(origin=f"http://127.0.0.1:{srv.server_address[1]}/g.caffemodel", sha1=SHA1, deadline=0.5)
    finally:
        srv.shutdown()
        srv.server_close()
    assert not home.exists()


@pytest.mark.parametrize("kw, env, words", [
    ({"mirrors": ["ftp://example.org/g.caffemodel"]}, {}, ["--mirror 'ftp://example.org/g.caffemodel'"]),
    ({"mirrors": ["http://"]}, {}, ["--mirror 'http://'"]),
    ({"mirrors": ["http://host:port/x"]}, {}, ["--mirror 'http://host:port/x'"]),
    ({}, {"CLASSVIZ_WEIGHTS_URL": "not a url"}, ["$CLASSVIZ_WEIGHTS_URL 'not a url'"]),
    ({}, {"CLASSVIZ_MIRRORS": "http://ok.org/a file:///etc/passwd"}, ["$CLASSVIZ_MIRRORS 'file:///etc/passwd'"]),
])
def test_malformed_urls_are_refused_before_any_work(home, monkeypatch, kw, env, words):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(FetchError) as e:
        fetch.fetch(sha1=SHA1, opener=lambda u, t: pytest.fail("nothing may be fetched"), **kw)
    assert all(w in str(e.value) for w in words) and "is not an http:// or https:// URL" in str(e.value)
    assert not home.exists()


def test_a_killed_downloads_part_file_is_removed_by_the_next_fetch(home):
    home.mkdir()
    stale, fresh = home / ".classviz-download-dead.part", home / ".classviz-download-live.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"live")
    os.utime(stale, (0, 0))
    fetch.fetch(origin="http://x/a", sha1=SHA1, opener=lambda u, t: _FakeResponse(GOOD))
    assert sorted(os.listdir(home)) == [".classviz-download-live.part", "bvlc_googlenet.onnx"]


def test_caffemodel_as_weights_is_converted_once_and_cached_by_hash(home, tmp_path):
    src = tmp_path / "mine.caffemodel"
    src.write_bytes(GOOD)
    net = classviz.load(str(src), backend="cpu")
    cached = home / "converted" / f"{SHA1}.onnx"
    assert cached.is_file() and net.model.source == str(cached)
    stamp = cached.stat().st_mtime_ns
    classviz.load(str(src), backend="cpu")
    assert cached.stat().st_mtime_ns == stamp


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "classviz", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


def test_cli_without_network_says_what_to_do(home, tmp_path):
    env = {"CLASSVIZ_HOME": str(home), "CLASSVIZ_WEIGHTS_URL": "http://127.0.0.1:9/bvlc_googlenet.caffemodel",
           "CLASSVIZ_MIRRORS": ""}
    r = _cli("render", "--class", "tabby cat", "-o", tmp_path / "cat.png", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "cannot connect" in last and "classviz weights fetch" in last and "--weights" in last
    assert str(home / "bvlc_googlenet.onnx") in last
    assert not (tmp_path / "cat.png").exists() and (not home.exists() or os.listdir(home) == [])


def test_cli_uses_the_cached_default_and_weights_commands(home, tmp_path, model_path):
    env = {"CLASSVIZ_HOME": str(home)}
    r = _cli("weights", "path", env=env)
    assert r.returncode == 0 and r.stdout.strip() == str(home / "bvlc_googlenet.onnx") and "not fetched" in r.stderr
    src = tmp_path / "g.caffemodel"
    src.write_bytes(GOOD)
    r = _cli("weights", "convert", src, "-o", tmp_path / "g.onnx", env=env)
    assert r.returncode == 0 and (tmp_path / "g.onnx").is_file()
    r = _cli("weights", "info", tmp_path / "g.onnx", env=env)
    assert r.returncode == 0 and "loss3/classifier (main)" in r.stdout and "caffe (BGR" in r.stdout
    assert f"source_sha1: {SHA1}" in r.stdout
    home.mkdir(exist_ok=True)
    os.replace(tmp_path / "g.onnx", home / "bvlc_googlenet.onnx")
    (tmp_path / "s.json").write_text('[{"head": "main", "iter_n": 2, "start_sigma": 1, "end_sigma": 1, '
                                     '"start_step_size": 1, "end_step_size": 1}]')
    r = _cli("render", "--class", 5, "--schedule", tmp_path / "s.json", "-o", tmp_path / "x.png", env=env)
    assert r.returncode == 0, r.stderr
    assert "fetching" not in r.stderr and (tmp_path / "x.png").is_file()
    r = _cli("weights", "convert", tmp_path / "none.caffemodel", "-o", tmp_path / "n.onnx", env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "none.caffemodel" in r.stderr


@pytest.mark.parametrize("args, words", [
    (["--timeout", "-1"], ["--timeout must be a number of seconds above 0, got -1"]),
    (["--timeout", "0"], ["--timeout must be a number of seconds above 0, got 0"]),
    (["--timeout", "nan"], ["--timeout"]),
    (["--deadline", "0"], ["--deadline must be"]),
    (["--mirror", "mirror.example.org/g.caffemodel"], ["--mirror 'mirror.example.org/g.caffemodel' is not"]),
])
def test_fetch_arguments_fail_in_one_line_before_any_work(home, args, words):
    r = _cli("weights", "fetch", *args, env={"CLASSVIZ_HOME": str(home)})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(w in r.stderr for w in words), r.stderr
    assert not home.exists()


def test_bad_weights_url_in_the_environment_is_one_line(home, tmp_path):
    r = _cli("render", "--class", 1, "-o", tmp_path / "c.png", env={"CLASSVIZ_HOME": str(home),
                                                                    "CLASSVIZ_WEIGHTS_URL": "htp:/x"})
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].count("$CLASSVIZ_WEIGHTS_URL 'htp:/x'") == 1
    assert "Traceback" not in r.stderr and not home.exists()


def test_a_damaged_cached_default_says_how_to_replace_it(home, tmp_path):
    home.mkdir()
    (home / "bvlc_googlenet.onnx").write_bytes(b"\x08\x07garbage" * 50)
    r = _cli("render", "--class", 1, "-o", tmp_path / "c.png", env={"CLASSVIZ_HOME": str(home)})
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "is damaged: delete" in r.stderr and "classviz weights fetch" in r.stderr
    assert str(home / "bvlc_googlenet.onnx") in r.stderr
