"""SIGTERM and SIGHUP handled like Ctrl-C: each raises KeyboardInterrupt in the main thread, so a
render stops after its current step and the CLI writes the images as they are (marked
incomplete), exiting with 128 + the signal's number (130, 143, 129). Inside `deferred()` a signal
only is noted, and raised when the block ends, so the files being written there are finished.

A KeyboardInterrupt raised while C code is calling back into Python (llvmlite's object-cache
callback as Numba compiles, any ctypes callback) cannot leave the callback: Python prints it as
"Exception ignored" and the program goes on. So the handlers keep the signal (`received`), drop
that message, and `check()`, called where stopping is safe (after each step), raises it again.

Nor is a signal raised while a module is being imported: a KeyboardInterrupt thrown into a C
extension's initialisation (protobuf's, as ONNX loads) can leave it half-built, and the process
then crashes on SIGSEGV instead of exiting. The handler only notes it there; the import finishes
and the next `check()` (the CLI calls one after its imports) raises it."""
import contextlib
import signal
import sys

CAUGHT = [s for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s)]


class Signals:
    """The CLI's handlers: `received` is the first signal number caught (None before); `exit_code`
    the code to exit with for it."""

    def __init__(self):
        self.received, self.deferring, self.pending = None, 0, False
        self.previous, self.previous_hook = {}, None

    def handle(self, signum, frame):
        if self.received is None:
            self.received = signum
        if self.deferring:
            self.pending = True
            return
        if _importing(frame):
            return  # `received` is set: the next check() raises it
        raise KeyboardInterrupt

    @property
    def exit_code(self):
        return 128 + (self.received or signal.SIGINT)

    def check(self):
        """Raise KeyboardInterrupt if a signal was caught and we are not inside `deferred()`. Called
        at safe points of work that the signal should have stopped: reaching one means its
        KeyboardInterrupt was swallowed (see the module's docstring)."""
        if self.received is not None and not self.deferring:
            raise KeyboardInterrupt

    def unraisable(self, u):
        """sys.unraisablehook while installed: our own swallowed KeyboardInterrupt is dropped
        (`check` raises it again); anything else goes to the hook that was there before."""
        if isinstance(u.exc_value, KeyboardInterrupt) and self.received is not None:
            return
        self.previous_hook(u)

    def install(self):
        for name in CAUGHT:
            s = getattr(signal, name)
            self.previous[s] = signal.signal(s, self.handle)
        self.previous_hook, sys.unraisablehook = sys.unraisablehook, self.unraisable

    def restore(self):
        for s, h in self.previous.items():
            signal.signal(s, h)
        if sys.unraisablehook == self.unraisable:  # not if the command has since set its own
            sys.unraisablehook = self.previous_hook

    @contextlib.contextmanager
    def deferred(self):
        """Hold signals for the block (a file write); a signal that came meanwhile raises
        KeyboardInterrupt when the block has finished."""
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1
        if not self.deferring and self.pending:
            self.pending = False
            raise KeyboardInterrupt


def _importing(frame):
    """True when `frame` (the one a signal interrupted) runs inside an import: some frame below it
    belongs to importlib's bootstrap, which every import statement and import_module call goes
    through."""
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(("importlib._bootstrap", "_frozen_importlib")):
            return True
        frame = frame.f_back
    return False


current = Signals()  # replaced by `main` for each run; `deferred` works (as a no-op hold) before that
