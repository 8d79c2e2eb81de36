"""Files the CLI writes: PNGs with text metadata and animated GIFs, always through a temporary file
in the target's folder that is renamed into place, so a failed or interrupted run leaves nothing
half-written."""
import os
import re

from PIL import Image

from .. import classes as classnames
from ..atomic import atomic, probe_folder, target
from ..errors import ArgumentError
from ..png import save_png  # noqa: F401 (the CLI's writers in one place)


def save_gif(path, frames, ms=80):
    """Write the uint8 (H, W, 3) `frames` (all the same size) to `path` as a looping GIF, `ms` per
    frame, holding the last one three times longer."""
    pics = [Image.fromarray(f) for f in frames]
    durations = [ms] * (len(pics) - 1) + [ms * 3]
    with atomic(path) as tmp:
        pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=durations, loop=0)


def stem(index):
    """File stem for a class: '281-tabby'."""
    return f"{index}-" + re.sub(r"[^a-z0-9]+", "-", classnames.name(index).lower()).strip("-")


def stems(indices):
    """File stems for a batch (list of str): `stem` of each class index, and for an objective
    expression (a str) its text as a file name (at most 80 characters); '-2', '-3', ... on the
    second and later images of one target, so no image overwrites another."""
    seen, out = {}, []
    for i in indices:
        seen[i] = seen.get(i, 0) + 1
        base = stem(i) if isinstance(i, int) else (re.sub(r"[^a-z0-9.]+", "-", i.lower()).strip("-")[:80] or "objective")
        out.append(base + (f"-{seen[i]}" if seen[i] > 1 else ""))
    return out


def check_outputs(outputs, force=False):
    """Raise ArgumentError naming the path and the option unless every output can be written:
    outputs: [(path, option)]. Refused: two options naming one file, a path that is a folder or
    whose folder is missing or cannot take a new file, and an existing file unless `force`."""
    resolved = [(path, option, target(path)) for path, option in outputs]
    owner, folders = {}, {}
    for path, option, real in resolved:
        if real in owner:
            raise ArgumentError(f"{owner[real]} and {option} both name {path!r}: give each output its own file")
        owner[real] = option
    for path, option, real in resolved:
        if os.path.isdir(real):
            raise ArgumentError(f"{option} {path!r} is a folder")
        folder = os.path.dirname(real)
        if not os.path.isdir(folder):
            raise ArgumentError(f"cannot write {option} {path!r}: folder {os.path.dirname(path) or '.'!r} does not "
                                "exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ArgumentError(f"cannot write {option} {path!r}: folder {os.path.dirname(path) or '.'!r} is not "
                                "writable")
        if os.path.exists(real) and not force:  # a dangling symlink names a file yet to be made
            raise ArgumentError(f"{option} {path!r} exists; pass --force to overwrite it")
        folders.setdefault(folder, (path, option))
    for folder, (path, option) in folders.items():
        try:  # the permission bits do not tell of read-only mounts, /proc or /sys
            probe_folder(folder)
        except OSError as e:
            raise ArgumentError(f"cannot write {option} {path!r}: {e.strerror}") from None
