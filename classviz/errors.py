"""The exceptions classviz raises. Every message is one line that names the problem."""


class ClassvizError(Exception):
    """Base class of every error classviz raises on purpose."""


class ModelError(ClassvizError):
    """A weights file that cannot be read, or a graph that classviz cannot run."""


class ArgumentError(ClassvizError, ValueError):
    """A bad argument to a public function (shape, dtype, range, unknown name)."""


class Notice(UserWarning):
    """A one-line remark about a choice classviz made for the caller (issued with `warnings.warn`),
    e.g. an octave that runs on the main head because the model has no auxiliary one."""


class RenderInterrupted(KeyboardInterrupt):
    """Ctrl-C during `render`. A KeyboardInterrupt, so callers that catch that still do, that also
    carries the images as they were after the last finished step.

    images: list of uint8 (H, W, 3) RGB arrays; steps_done: finished steps (int); steps: planned (int)."""

    def __init__(self, images, steps_done, steps):
        super().__init__(f"render interrupted after {steps_done} of {steps} steps")
        self.images, self.steps_done, self.steps = images, steps_done, steps


class RenderFailed(ClassvizError):
    """A render that cannot go on: the gradient of some image became NaN or Inf, or is identically
    zero (broken weights, a dead objective). Nothing it drew is worth keeping as complete.

    steps_done: finished steps (int) before the failing one; steps: planned (int)."""

    def __init__(self, message, steps_done, steps):
        super().__init__(message)
        self.steps_done, self.steps = steps_done, steps


class FetchError(ClassvizError):
    """Weights that could not be downloaded or verified (network, server, SHA-1 mismatch)."""
