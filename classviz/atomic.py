"""Files written whole or not at all: a temporary file in the target's folder, renamed into place
when the writing succeeded and deleted when it did not (an error, Ctrl-C), so no reader ever sees a
half-written picture, cache entry or model."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic(path):
    """Yield a temporary path (str) next to `path`; rename it to `path` when the block succeeds,
    delete it when it raises (anything, KeyboardInterrupt included)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".classviz-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
