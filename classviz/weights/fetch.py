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
import urllib.error
import urllib.request

from ..errors import FetchError, ModelError
from . import cache, caffe

URL = "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel"
SHA1 = "405fc5acd08a3bb12de8ee5e23a96bec22f08204"
CHUNK = 1 << 20


def urls(extra=(), origin=None):
    """URLs to try, in order: `origin` (default $CLASSVIZ_WEIGHTS_URL, else the original URL), then
    `extra` mirrors, then those in $CLASSVIZ_MIRRORS (whitespace-separated). Returns a list of str
    without repeats. Any of them must serve the file with the expected SHA-1."""
    origin = origin or os.environ.get("CLASSVIZ_WEIGHTS_URL") or URL
    env = os.environ.get("CLASSVIZ_MIRRORS", "").split()
    return list(dict.fromkeys([origin, *extra, *env]))


def _open(url, timeout):
    from .. import __version__
    req = urllib.request.Request(url, headers={"User-Agent": f"classviz/{__version__}"})
    return urllib.request.urlopen(req, timeout=timeout)


def download(url, out, opener=None, timeout=30.0, progress=None):
    """Stream `url` into the open binary file `out`; returns the SHA-1 hex digest of what was written.

    opener(url, timeout) -> a response with read(n) and headers (default: urllib); timeout: seconds
    per blocking read; progress(done_bytes, total_bytes or None) is called after every chunk.
    Raises FetchError for HTTP errors, network errors, time-outs and short reads."""
    h = hashlib.sha1()
    done = 0
    try:
        with (opener or _open)(url, timeout) as r:
            length = r.headers.get("Content-Length") if getattr(r, "headers", None) else None
            total = int(length) if length and length.isdigit() else None
            while True:
                block = r.read(CHUNK)
                if not block:
                    break
                out.write(block)
                h.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
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


def fetch(dest=None, mirrors=(), sha1=SHA1, opener=None, timeout=30.0, progress=None, note=None, origin=None):
    """Download, verify, convert and cache the BVLC GoogLeNet; returns the ONNX path (str).

    dest: where the ONNX goes (default cache.default_path()); mirrors, origin: the URLs to try, as
    in `urls`; sha1: expected SHA-1 of the caffemodel; opener, timeout, progress: as in `download`;
    note(str): told which URL is tried and why one failed.
    Raises FetchError naming every URL tried and why it failed; nothing is left in the cache then."""
    dest = os.fspath(dest or cache.default_path())
    folder = os.path.dirname(os.path.abspath(dest))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create the cache folder {folder}: {e.strerror}") from None
    failures = []
    for url in urls(mirrors, origin):
        if note:
            note(f"downloading {url}")
        fd, part = tempfile.mkstemp(prefix=".classviz-download-", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                got = download(url, out, opener, timeout, progress)
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
