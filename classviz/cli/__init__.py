"""The `classviz` command. It only parses arguments, calls the public API and formats errors:
a classviz error (or an OS error on a file) is one line on stderr and exit code 2, never a
traceback; Ctrl-C, SIGTERM and SIGHUP stop a render after its current step, write what it has
(marked incomplete) and exit with 130, 143 and 129 (see `signals`)."""
import argparse
import sys
import warnings

from ..errors import ClassvizError, Notice
from . import signals


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), like every other classviz error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv=None, noted=()):
    """Run the command on `argv` (sys.argv[1:] when None); returns the process exit code. `noted`:
    signal numbers caught before this call (`classviz.__main__` holds them while the CLI imports);
    the first of them stops the command at its first check, as if it had come now."""
    sig = signals.current = signals.Signals()
    sig.install()
    if noted and sig.received is None:  # read after install: a signal from now on reaches `sig` itself
        sig.received = noted[0]
    try:
        return _main(argv)
    except BaseException as e:
        # a signal can land inside a C extension's import (NumPy's turns it into an ImportError) or
        # Numba's compiler: once one came, whatever error follows is the interruption
        if not isinstance(e, KeyboardInterrupt) and sig.received is None:
            raise
        # half-built LLVM objects complain in their destructors at exit ("Exception ignored in
        # ..."): nothing to tell the user beyond this line
        sys.unraisablehook = lambda unraisable: None
        print("classviz: interrupted", file=sys.stderr)
        return sig.exit_code
    finally:
        sig.deferring += 1  # a signal now, as the command ends, is only noted: the work is done
        sig.restore()


def _main(argv):
    # imported once the signal handlers are in place: NumPy, ONNX and Pillow take a while to load
    from . import gallery, render, weights
    signals.current.check()  # a signal that came during the imports (see `signals`) stops here
    ap = _Parser(prog="classviz", description="GoogLeNet draws ImageNet classes.")
    sub = ap.add_subparsers(dest="command", required=True)
    render.add_parsers(sub)
    gallery.add_parsers(sub)
    weights.add_parsers(sub)
    args = ap.parse_args(argv)
    quiet = getattr(args, "quiet", False)

    def note(msg):
        if not quiet:
            print(f"classviz: {msg}", file=sys.stderr)

    def show(message, category, *rest, **kw):
        if issubclass(category, Notice):
            note(str(message))
        else:
            print(f"classviz: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", Notice)
            warnings.showwarning = show
            return args.run(args, note)
    except ClassvizError as e:
        print(f"classviz: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        where = f" {e.filename!r}" if e.filename else ""
        print(f"classviz: error: cannot write or read{where}: {e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
