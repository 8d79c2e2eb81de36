"""Files written whole or not at all: a temporary file in the target's folder, renamed into place
when the writing succeeded and deleted when it did not (an error, Ctrl-C, SIGTERM), so no reader
ever sees a half-written picture, cache entry or model.

The file gets the mode an ordinary `open(path, "w")` would give it (the umask's, or the mode of the
file it replaces), and a symlink is written through to its target. Temporary files are named
`.classviz-<host>-<pid>-*.tmp`; one that a killed process (SIGKILL) left behind is removed by the
next write into the same folder: at once when its writer was a process of this host that is gone
(a gallery's dead Ray worker), else once it is older than `STALE_SECONDS` (a writer on another
host of a shared folder cannot be asked)."""
import contextlib
import glob
import os
import socket
import stat
import tempfile
import time

PREFIX, SUFFIX = ".classviz-", ".tmp"
STALE_SECONDS = 60.0  # a live write touches its file far more often than this
HOST = socket.gethostname().replace("-", "_")  # '-' separates the name's fields


def _owner_prefix():
    """The temporary-file prefix of this process: '.classviz-<host>-<pid>-'."""
    return f"{PREFIX}{HOST}-{os.getpid()}-"


def _writer_gone(name):
    """True when temporary file `name` (a base name) was made by a process of this host that no
    longer runs; False when it runs, is elsewhere or the name carries no owner."""
    fields = name[len(PREFIX):].split("-")
    if len(fields) < 3 or fields[0] != HOST or not fields[1].isdigit():
        return False
    try:
        os.kill(int(fields[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def umask():
    """The process's umask (int), read without changing it where the system allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and put back (not thread-safe, but brief)
    os.umask(mask)
    return mask


def target(path):
    """The file a write to `path` lands in (str): `path` itself, or a symlink's final target."""
    return os.path.realpath(os.fspath(path))


def remove_stale(folder, pattern=PREFIX + "*" + SUFFIX, age=STALE_SECONDS):
    """Delete files in `folder` matching `pattern` that a killed classviz process left behind: those
    whose writer was a process of this host that is gone, and any whose last change is more than
    `age` seconds old. Returns how many were removed (int)."""
    removed, now = 0, time.time()
    for p in glob.glob(os.path.join(glob.escape(folder), pattern)):
        with contextlib.suppress(OSError):
            if _writer_gone(os.path.basename(p)) or now - os.lstat(p).st_mtime > age:
                os.unlink(p)
                removed += 1
    return removed


def probe_folder(folder):
    """Raise OSError unless a new file can be made in `folder`: creates and removes one empty
    temporary file, so that read-only mounts and pseudo file systems (/proc, /sys), which the
    permission bits do not reveal, fail before any work rather than at the end."""
    fd, tmp = tempfile.mkstemp(prefix=_owner_prefix(), suffix=SUFFIX, dir=folder)
    os.close(fd)
    os.unlink(tmp)


@contextlib.contextmanager
def atomic(path):
    """Yield a temporary path (str) beside where `path` lands (a symlink's target); rename it into
    place when the block succeeds, delete it when it raises (anything, KeyboardInterrupt included).
    An OSError from the rename names `path`, not the temporary file."""
    real = target(path)
    folder = os.path.dirname(real)
    remove_stale(folder)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except OSError:
        mode = 0o666 & ~umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=_owner_prefix(), suffix=SUFFIX, dir=folder)
    except OSError as e:
        raise OSError(e.errno, e.strerror, os.fspath(path)) from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename == tmp:
            raise OSError(e.errno, e.strerror, os.fspath(path)) from None
        raise
