"""The exceptions classviz raises. Every message is one line that names the problem."""


class ClassvizError(Exception):
    """Base class of every error classviz raises on purpose."""


class ModelError(ClassvizError):
    """A weights file that cannot be read, or a graph that classviz cannot run."""


class ArgumentError(ClassvizError, ValueError):
    """A bad argument to a public function (shape, dtype, range, unknown name)."""
