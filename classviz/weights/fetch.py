"""Fetch the BVLC GoogLeNet: download the caffemodel, verify its SHA-1 before anything reads it,
convert it to ONNX and store that in the cache.

Restart-safe rather than resumable: the download streams into a temporary file in the cache folder
that is deleted on every failure (network error, short read, wrong SHA-1, Ctrl-C), so the cache
never holds a partial file and the next try starts clean. URLs are tried in order; a mirror is as
good as the original because the SHA-1 is checked."""
import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from ..atomic import STALE_SECONDS, remove_stale
from ..errors import FetchError, ModelError
from . import cache, caffe

URL = "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel"
SHA1 = "405fc5acd08a3bb12de8ee5e23a96bec22f08204"
CHUNK = 1 << 20
DEADLINE = 1800.0  # seconds for one URL's whole download (51 MB: at least 28 kB/s)
MIN_RATE = 8192  # bytes per second, averaged over each RATE_WINDOW: a trickle fails instead of hanging
RATE_WINDOW = 60.0
PART_PREFIX, PART_SUFFIX = ".classviz-download-", ".part"


def urls(extra=(), origin=None):
    """URLs to try, in order: `origin` (default $CLASSVIZ_WEIGHTS_URL, else the original URL), then
    `extra` mirrors, then those in $CLASSVIZ_MIRRORS (whitespace-separated). Returns a list of str
    without repeats. Any of them must serve the file with the expected SHA-1.
    Raises FetchError naming a URL that is not http(s)://HOST/... and where it came from."""
    given = [(origin, "origin")] if origin else [(os.environ.get("CLASSVIZ_WEIGHTS_URL"), "$CLASSVIZ_WEIGHTS_URL")]
    given = [(u, w) for u, w in given if u] or [(URL, "the default")]
    given += [(u, "--mirror") for u in extra]
    given += [(u, "$CLASSVIZ_MIRRORS") for u in os.environ.get("CLASSVIZ_MIRRORS", "").split()]
    for url, where in given:
        check_url(url, where)
    return list(dict.fromkeys(u for u, _ in given))


def check_url(url, where="URL"):
    """Raise FetchError unless `url` (str) is an http or https URL with a host; `where` names its source."""
    try:
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        ok = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, a bad IPv6 literal
        ok = False
    if not ok or any(c.isspace() for c in url):
        raise FetchError(f"{where} {url!r} is not an http:// or https:// URL with a host")


def _open(url, timeout):
    from .. import __version__
    req = urllib.request.Request(url, headers={"User-Agent": f"classviz/{__version__}"})
    return urllib.request.urlopen(req, timeout=timeout)


def download(url, out, opener=None, timeout=30.0, progress=None, deadline=DEADLINE, min_rate=MIN_RATE,
             clock=time.monotonic):
    """Stream `url` into the open binary file `out`; returns the SHA-1 hex digest of what was written.

    opener(url, timeout) -> a response with read1(n) or read(n), and headers (default: urllib);
    timeout: seconds per blocking read; deadline: seconds for the whole download; min_rate: bytes
    per second that each RATE_WINDOW seconds must average (a server that trickles fails instead of
    hanging); clock: seconds (for tests); progress(done_bytes, total_bytes or None) is called after
    every chunk. Raises FetchError for HTTP errors, network errors, time-outs, slow transfers and
    short reads."""
    h = hashlib.sha1()
    done = 0
    start = clock()
    window_start, window_done = start, 0
    try:
        with (opener or _open)(url, timeout) as r:
            length = r.headers.get("Content-Length") if getattr(r, "headers", None) else None
            total = int(length) if length and length.isdigit() else None
            read = getattr(r, "read1", r.read)  # read1: one receive at a time, so the clock is checked often
            while True:
                block = read(CHUNK)
                if not block:
                    break
                out.write(block)
                h.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
                now = clock()
                if now - start > deadline:
                    raise FetchError(f"the download took longer than {deadline:g} s ({done} bytes so far)")
                if now - window_start >= RATE_WINDOW:
                    rate = (done - window_done) / (now - window_start)
                    if rate < min_rate:
                        raise FetchError(f"the server sends {rate:.0f} bytes/s, below the {min_rate} bytes/s "
                                         f"needed ({done} bytes so far)")
                    window_start, window_done = now, done
    except urllib.error.HTTPError as e:
        raise FetchError(f"server answered {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise FetchError(f"cannot connect ({e.reason})") from None
    except TimeoutError:
        raise FetchError(f"no data for {timeout:g} s (time-out)") from None
    except (OSError, http.client.HTTPException) as e:  # connection reset, IncompleteRead
        raise FetchError(f"the download broke off after {done} bytes ({type(e).__name__})") from None
    if total is not None and done != total:
        raise FetchError(f"the download broke off after {done} of {total} bytes")
    return h.hexdigest()


def fetch(dest=None, mirrors=(), sha1=SHA1, opener=None, timeout=30.0, progress=None, note=None, origin=None,
          deadline=DEADLINE, min_rate=MIN_RATE, clock=time.monotonic):
    """Download, verify, convert and cache the BVLC GoogLeNet; returns the ONNX path (str).

    dest: where the ONNX goes (default cache.default_path()); mirrors, origin: the URLs to try, as
    in `urls`; sha1: expected SHA-1 of the caffemodel; opener, timeout, progress, deadline,
    min_rate, clock: as in `download`; note(str): told which URL is tried and why one failed.
    Raises FetchError naming every URL tried and why it failed; nothing is left in the cache then,
    and the folders this call created are removed again."""
    dest = os.fspath(dest or cache.default_path())
    tried = urls(mirrors, origin)
    folder = os.path.dirname(os.path.abspath(dest))
    created = _missing_folders(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create the cache folder {folder}: {e.strerror}") from None
    # a download that a killed process left behind; a live one writes far more often than this
    remove_stale(folder, PART_PREFIX + "*" + PART_SUFFIX, age=max(STALE_SECONDS, 2 * timeout))
    try:
        return _fetch_into(dest, folder, tried, sha1, note, dict(opener=opener, timeout=timeout, progress=progress,
                                                                 deadline=deadline, min_rate=min_rate, clock=clock))
    except BaseException:
        for f in created:  # deepest first; a folder that something else put files in stays
            try:
                os.rmdir(f)
            except OSError:
                break
        raise


def _missing_folders(folder):
    """The folders from `folder` up that do not exist yet, deepest first (list of str)."""
    out = []
    while folder and not os.path.exists(folder):
        out.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return out


def _fetch_into(dest, folder, tried, sha1, note, download_kw):
    failures = []
    for url in tried:
        if note:
            note(f"downloading {url}")
        fd, part = tempfile.mkstemp(prefix=PART_PREFIX, suffix=PART_SUFFIX, dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                got = download(url, out, **download_kw)
            if got != sha1:
                raise FetchError(f"SHA-1 {got} is not the expected {sha1}")
            with open(part, "rb") as f:
                buf = f.read()
            try:
                model = caffe.convert_bytes(buf, os.path.basename(url.split("?")[0]) or "download.caffemodel", got)
            except ModelError as e:
                raise FetchError(f"verified but not convertible: {e}") from None
            del buf
            cache.save_model(model, dest)
            return dest
        except FetchError as e:
            failures.append(f"{url}: {e}")
            if note:
                note(f"{url} failed: {e}")
        finally:
            try:
                os.unlink(part)
            except OSError:
                pass
    raise FetchError("could not fetch the BVLC GoogLeNet: " + "; ".join(failures))
