"""The 1000 ImageNet (ILSVRC-2012) class names, and lookup of a class by index or by name.

The names ship as `classviz/data/imagenet1k_names.tsv` (index, then WordNet synonyms separated by
commas); its header keeps the source's MIT attribution."""
import difflib
import functools
import re
from importlib import resources

from .errors import ArgumentError


@functools.cache
def names():
    """Tuple of 1000 tuples of synonyms (str), indexed by class; the first synonym is the name."""
    text = resources.files("classviz").joinpath("data/imagenet1k_names.tsv").read_text("utf-8")
    rows = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            idx, syn = line.split("\t")
            rows[int(idx)] = tuple(s.strip() for s in syn.split(","))
    return tuple(rows[i] for i in range(len(rows)))


def name(index):
    """The display name of class `index` (int): its first synonym."""
    return names()[index][0]


@functools.cache
def _by_synonym():
    table = {}
    for i, syns in enumerate(names()):
        for s in syns:
            table.setdefault(s.lower(), set()).add(i)
    return table


_INDEX = re.compile(r"[+-]?[0-9]+")


def lookup(cls, classes=1000):
    """The class index (int) that `cls` names.

    cls: an int or a str: a decimal index, or any synonym, case-insensitive ("tabby cat" -> 281);
    classes: how many classes the head has (indices must be below it).
    Raises ArgumentError for an index out of range, an unknown name (with the closest names) or an
    ambiguous one (with every index it could mean)."""
    if isinstance(cls, bool) or not isinstance(cls, (int, str)) and not hasattr(cls, "__index__"):
        raise ArgumentError(f"a class is an index or a name, got {type(cls).__name__}")
    if not isinstance(cls, str) or _INDEX.fullmatch(cls.strip()):
        i = int(cls)  # ASCII digits only: int('²') and other Unicode digits would raise
        if not 0 <= i < classes:
            raise ArgumentError(f"class index {i} is out of range 0..{classes - 1} (the model has {classes} classes)")
        return i
    key = " ".join(cls.lower().replace("_", " ").split())
    hits = _by_synonym().get(key, set())
    if len(hits) == 1:
        i = next(iter(hits))
        if i >= classes:  # an ImageNet name, but the head has fewer classes
            raise ArgumentError(f"class name {cls!r} is ImageNet class {i}, out of range 0..{classes - 1} (the model "
                                f"has {classes} classes)")
        return i
    if hits:
        options = "; ".join(f"{i} ({', '.join(names()[i])})" for i in sorted(hits))
        raise ArgumentError(f"class name {cls!r} is ambiguous: it names {options}; give the index")
    close = difflib.get_close_matches(key, _by_synonym().keys(), n=5, cutoff=0.6)
    close += [s for s in search(key)[:5] if s not in close]
    hint = "; closest: " + ", ".join(f"{s!r}" for s in close[:5]) if close else ""
    raise ArgumentError(f"unknown class name {cls!r}{hint} (see `classviz classes QUERY`)")


def search(query):
    """Synonyms (str) that contain `query` as a case-insensitive substring, in class order."""
    q = query.lower()
    return [s for syns in names() for s in syns if q in s.lower()]


def matching(query=""):
    """[(index, synonyms)] of the classes with a synonym containing `query` (all for '')."""
    q = query.lower().strip()
    return [(i, syns) for i, syns in enumerate(names()) if any(q in s.lower() for s in syns)]
