"""`python -m classviz` and the `classviz` console script (`run`).

The command's first act is to hold the signals that stop it (Ctrl-C, SIGTERM, SIGHUP): one that
comes while the CLI's own modules import is only noted here, and the CLI (`cli.main`, once its
handlers are in) stops with its one line and exit code, instead of a KeyboardInterrupt traceback
from the middle of an import. What runs before this module (Python's start-up, the package's
small `__init__`) is any Python program's and is not classviz's to catch."""
import _signal  # the C module, loaded with the interpreter: the handlers go in with no import to wait on

noted = []  # the signal numbers caught before the CLI's handlers took over, in order


def _note(signum, frame):
    noted.append(signum)


for _name in ("SIGINT", "SIGTERM", "SIGHUP"):
    if hasattr(_signal, _name):
        _signal.signal(getattr(_signal, _name), _note)


def run():
    """Run the command on sys.argv; returns its exit code (0, 2 for bad input, 128 + a signal's)."""
    from .cli import main
    return main(noted=noted)


if __name__ == "__main__":
    import sys
    sys.exit(run())
