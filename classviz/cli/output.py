"""Files the CLI writes: PNGs with text metadata and animated GIFs, always through a temporary file
in the target's folder that is renamed into place, so a failed or interrupted run leaves nothing
half-written."""
import os
import re

from PIL import Image, PngImagePlugin

from .. import classes as classnames
from ..atomic import atomic


def save_png(path, image, text):
    """Write uint8 (H, W, 3) `image` to `path` as PNG with `text` ({key: str}) as tEXt chunks."""
    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        info.add_text(k, str(v))
    with atomic(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", pnginfo=info)


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


def check_writable_dir(folder, what):
    """None when files can be created in `folder`; else an error message (str) naming `what`."""
    folder = folder or "."
    if not os.path.isdir(folder):
        return f"cannot write {what}: folder {folder!r} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write {what}: folder {folder!r} is not writable"
    return None
