"""The `classviz` command. It only parses arguments, calls the public API and formats errors:
a classviz error is one line on stderr and exit code 2, never a traceback."""
import argparse
import collections
import sys

from ..errors import ClassvizError


def _info(args):
    import classviz
    net = classviz.load(args.weights, backend="cpu")
    model = net.model
    roles = {t: r for r, t in net.roles.items()}
    print(f"input: {model.input_name} {tuple(d if d else '?' for d in model.input_shape)}")
    print("heads: " + ", ".join(f"{h} ({roles[h]})" for h in net.heads))
    print(f"parameters: {model.parameter_count():,}")
    ops = collections.Counter(n.op for n in model.nodes)
    print("ops: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    return 0


def main(argv=None):
    """Entry point of the `classviz` console script; returns the process exit code."""
    ap = argparse.ArgumentParser(prog="classviz", description="GoogLeNet draws ImageNet classes.")
    sub = ap.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show a weights file's heads, input and ops")
    info.add_argument("weights", help="ONNX GoogLeNet")
    info.set_defaults(run=_info)
    args = ap.parse_args(argv)
    try:
        return args.run(args)
    except ClassvizError as e:
        print(f"classviz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
