"""The `classviz` command. It only parses arguments, calls the public API and formats errors:
a classviz error (or an OS error on a file) is one line on stderr and exit code 2, never a
traceback; Ctrl-C is exit code 130."""
import argparse
import collections
import sys
import warnings

from ..errors import ArgumentError, ClassvizError, Notice
from . import render


def _info(args, note=None):
    import classviz
    from .. import preprocess as prep
    net = classviz.load(args.weights, backend="cpu")
    model = net.model
    roles = {t: r for r, t in net.roles.items()}
    pre, source = prep.for_model(model)
    print(f"input: {model.input_name} {tuple(d if d else '?' for d in model.input_shape)}")
    print("heads: " + ", ".join(f"{h} ({roles[h]})" for h in net.heads))
    print(f"preprocessing: {prep.describe(pre)} (from the {source})")
    print(f"parameters: {model.parameter_count():,}")
    ops = collections.Counter(n.op for n in model.nodes)
    print("ops: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    for k in ("classviz.source", "classviz.source_sha1"):
        if k in model.metadata:
            print(f"{k.split('.')[1]}: {model.metadata[k]}")
    return 0


def _weights_path(args, note):
    if args.weights:
        return args.weights
    raise ArgumentError("no --weights given")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), like every other classviz error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv=None):
    """Entry point of the `classviz` console script; returns the process exit code."""
    ap = _Parser(prog="classviz", description="GoogLeNet draws ImageNet classes.")
    sub = ap.add_subparsers(dest="command", required=True)
    render.add_parsers(sub)
    info = sub.add_parser("info", help="show a weights file's heads, input, preprocessing and ops")
    info.add_argument("weights", help="ONNX GoogLeNet")
    info.set_defaults(run=_info)
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
            if args.run is render.run_render:
                return render.run_render(args, note, _weights_path)
            return args.run(args)
    except ClassvizError as e:
        print(f"classviz: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        where = f" {e.filename!r}" if e.filename else ""
        print(f"classviz: error: cannot write or read{where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("classviz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
