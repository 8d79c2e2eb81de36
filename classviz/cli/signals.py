"""SIGTERM and SIGHUP handled like Ctrl-C: each raises KeyboardInterrupt in the main thread, so a
render stops after its current step and the CLI writes the images as they are (marked
incomplete), exiting with 128 + the signal's number (130, 143, 129). Inside `deferred()` a signal
only is noted, and raised when the block ends, so the files being written there are finished."""
import contextlib
import signal

CAUGHT = [s for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s)]


class Signals:
    """The CLI's handlers: `received` is the first signal number caught (None before); `exit_code`
    the code to exit with for it."""

    def __init__(self):
        self.received, self.deferring, self.pending = None, 0, False
        self.previous = {}

    def handle(self, signum, frame):
        if self.received is None:
            self.received = signum
        if self.deferring:
            self.pending = True
            return
        raise KeyboardInterrupt

    @property
    def exit_code(self):
        return 128 + (self.received or signal.SIGINT)

    def install(self):
        for name in CAUGHT:
            s = getattr(signal, name)
            self.previous[s] = signal.signal(s, self.handle)

    def restore(self):
        for s, h in self.previous.items():
            signal.signal(s, h)

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


current = Signals()  # replaced by `main` for each run; `deferred` works (as a no-op hold) before that
