"""Where classviz keeps weights: the default model, and caffemodels converted on the fly.

The cache folder is $CLASSVIZ_HOME when set, else the platform's user cache folder
(~/.cache/classviz on Linux or $XDG_CACHE_HOME/classviz, ~/Library/Caches/classviz on macOS,
%LOCALAPPDATA%\\classviz\\Cache on Windows). Every file in it is written whole or not at all."""
import hashlib
import os
import sys

import onnx

from ..atomic import atomic
from ..errors import ModelError

DEFAULT_NAME = "bvlc_googlenet.onnx"


def cache_dir():
    """The cache folder (str); not created here."""
    home = os.environ.get("CLASSVIZ_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
        return os.path.join(base, "classviz", "Cache")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/classviz")
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "classviz")


def default_path():
    """Path (str) of the default model, the BVLC GoogLeNet converted to ONNX (may not exist yet)."""
    return os.path.join(cache_dir(), DEFAULT_NAME)


def file_digest(path, algorithm="sha1"):
    """Hex digest (str) of the file at `path` with hashlib's `algorithm` ('sha1', 'sha256')."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def save_model(model, path):
    """Write the onnx.ModelProto `model` to `path` atomically, creating the folder; returns path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic(path) as tmp:
        onnx.save(model, tmp)
    return path


def onnx_for(path):
    """The ONNX file to load for weights file `path`: `path` itself unless it is a .caffemodel, which
    is converted once and cached by its SHA-1 under cache_dir()/converted. Returns a path (str)."""
    path = os.fspath(path)
    if not path.lower().endswith(".caffemodel"):
        return path
    from . import caffe
    if not os.path.isfile(path):
        raise ModelError(f"weights file not found: {path}")
    target = os.path.join(cache_dir(), "converted", file_digest(path) + ".onnx")
    if not os.path.isfile(target):
        try:
            save_model(caffe.convert(path), target)
        except OSError as e:
            raise ModelError(f"cannot cache the converted {path} at {target}: {e.strerror}") from None
    return target
