"""What a gallery draws: classes of the model's head (`all`, a range like `0-99,281`, or a file with
one class a line) or every channel of one tensor, each with its display name and file stem."""
import os
import re
from typing import NamedTuple

from .. import classes as classnames
from ..errors import ArgumentError

_RANGE = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?")


class Target(NamedTuple):
    """One image of a gallery. index: the class (or channel) index (int); name: display name (str);
    stem: its file name without '.png' (str, '<index>-<slug>')."""
    index: int
    name: str
    stem: str


def slug(text):
    """`text` as a lowercase file-name fragment: runs of anything but a-z, 0-9 become one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def class_name(index, classes):
    """Display name of class `index` of a head with `classes` classes: the ImageNet name when the
    head has the 1000 ImageNet classes, else 'class <index>'."""
    return classnames.name(index) if classes == 1000 else f"class {index}"


def parse_classes(spec, classes):
    """The class indices (sorted list of distinct ints) that `spec` names, for a head of `classes`.

    spec: 'all'; a RANGE, comma-separated items each an index or an inclusive FIRST-LAST
    ('0-7', '0-99,281'); or the path of a text file with one class a line, an index or a name
    ('tabby cat'), blank lines and '#' comments skipped. A spec that is both an existing file and
    a valid range is read as the file.
    Raises ArgumentError naming the item (or the file and line) that is not a class of the head."""
    if not isinstance(spec, str) or not spec.strip():
        raise ArgumentError("--classes needs 'all', a range like 0-7 or 0-99,281, or a file with one class a line")
    if spec.strip() == "all":
        return list(range(classes))
    if os.path.isfile(spec):
        return _from_file(spec, classes)
    out = set()
    for item in spec.split(","):
        m = _RANGE.fullmatch(item)
        if not m:
            hint = "" if re.fullmatch(r"[0-9, -]*", spec) else " (and no file of that name exists)"
            raise ArgumentError(f"--classes item {item.strip()!r} is not an index or a range FIRST-LAST{hint}")
        first, last = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        if last < first:
            raise ArgumentError(f"--classes range {item.strip()!r} runs backwards")
        if last >= classes:
            raise ArgumentError(f"--classes {item.strip()!r} asks for class {last}, but the model's head has "
                                f"{classes} classes (0..{classes - 1})")
        out.update(range(first, last + 1))
    return sorted(out)


def _from_file(path, classes):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ArgumentError(f"cannot read the class file {path!r}: {getattr(e, 'strerror', None) or e}") from None
    out = set()
    for n, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.add(classnames.lookup(text, classes))
        except ArgumentError as e:
            raise ArgumentError(f"{path}, line {n}: {e}") from None
    if not out:
        raise ArgumentError(f"the class file {path!r} names no class")
    return sorted(out)


def class_targets(indices, classes):
    """Targets (list of Target) for class `indices` of a head with `classes` classes."""
    out = []
    for i in indices:
        name = class_name(i, classes)
        out.append(Target(i, name, f"{i}-{slug(name)}"))
    return out


def channel_targets(tensor, channels):
    """Targets (list of Target) for channels 0..channels-1 of the tensor named `tensor`."""
    s = slug(tensor) or "tensor"
    return [Target(c, f"{tensor} channel {c}", f"{c}-{s}") for c in range(channels)]
