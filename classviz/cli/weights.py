"""`classviz weights fetch|convert|demo|info|path`, and the default weights that `render` uses."""
import collections
import os
import sys

from ..errors import ArgumentError, FetchError, ModelError
from . import output, signals


def add_parsers(sub):
    """Add `weights ...` and its alias `info` to argparse subparsers `sub`."""
    w = sub.add_parser("weights", help="fetch, convert and inspect GoogLeNet weights")
    ws = w.add_subparsers(dest="weights_command", required=True)
    f = ws.add_parser("fetch", help="download the BVLC GoogLeNet (51 MB), verify its SHA-1, convert and cache it")
    f.add_argument("--mirror", action="append", default=[], metavar="URL",
                   help="another URL of bvlc_googlenet.caffemodel, tried after the original (repeatable)")
    f.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds without data before giving up")
    f.add_argument("--deadline", type=float, default=1800.0, metavar="S",
                   help="seconds the whole download of one URL may take (default 1800)")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    f.set_defaults(run=run_fetch)
    c = ws.add_parser("convert", help="convert a .caffemodel to ONNX")
    c.add_argument("caffemodel")
    c.add_argument("-o", "--out", required=True, metavar="OUT.onnx")
    c.add_argument("-f", "--force", action="store_true", help="overwrite OUT.onnx if it exists")
    c.set_defaults(run=run_convert)
    d = ws.add_parser("demo", help="write a GoogLeNet with seeded random weights, to try classviz offline "
                      "(its pictures are noise, not classes)")
    d.add_argument("out", metavar="OUT.onnx")
    d.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    d.add_argument("-f", "--force", action="store_true", help="overwrite OUT.onnx if it exists")
    d.set_defaults(run=run_demo)
    for parent in (ws, sub):
        i = parent.add_parser("info", help="heads, input, preprocessing, parameters and ops of a weights file")
        i.add_argument("weights", help="ONNX GoogLeNet or .caffemodel")
        i.set_defaults(run=run_info)
    p = ws.add_parser("path", help="print where the default model lives")
    p.set_defaults(run=run_path)


def run_fetch(args, note):
    """Fetch the default weights into the cache; prints the ONNX path."""
    from ..weights import fetch
    for name, value in (("--timeout", args.timeout), ("--deadline", args.deadline)):
        if not 0 < value < float("inf"):
            raise ArgumentError(f"{name} must be a number of seconds above 0, got {value:g}")
    path = fetch.fetch(mirrors=args.mirror, timeout=args.timeout, deadline=args.deadline, progress=_bar(args.quiet),
                       note=note)
    print(path)
    return 0


def run_convert(args, note):
    """Convert a .caffemodel to an ONNX file; prints the output path."""
    from ..weights import cache, caffe
    _check_onnx_output(args.out, "-o", args.force)
    model = caffe.convert(args.caffemodel)
    with signals.current.deferred():
        cache.save_model(model, args.out)
    print(args.out)
    return 0


def run_demo(args, note):
    """Write the demo model (a synthetic full-size GoogLeNet with auxiliary heads); prints its path."""
    from ..weights import cache
    from ..testing import googlenet
    if args.seed < 0:
        raise ArgumentError(f"--seed must be >= 0, got {args.seed}")
    _check_onnx_output(args.out, "OUT.onnx", args.force)
    model = googlenet("bvlc_aux", seed=args.seed)
    model.metadata_props.add(key="classviz.source", value=f"classviz weights demo --seed {args.seed}: random "
                             "weights, so its pictures are noise, not classes")
    with signals.current.deferred():
        cache.save_model(model, args.out)
    print(args.out)
    note("its weights are random: the pictures it draws are noise, not classes. Try "
         f"`classviz render --class 'tabby cat' --weights {args.out} --schedule quick -o cat.png`")
    return 0


def _check_onnx_output(path, option, force):
    if not path.lower().endswith(".onnx"):
        raise ArgumentError(f"output {path!r} must end in .onnx")
    output.check_outputs([(path, option)], force=force)


def run_info(args, note):
    """Print a weights file's input, heads by role, preprocessing, parameter and op counts."""
    import classviz
    from .. import preprocess as prep
    net = classviz.load(args.weights, backend="cpu")
    roles = {t: r for r, t in net.roles.items()}
    m = net.model
    pre, source = prep.for_model(m)
    print(f"input: {m.input_name} {tuple(d if d else '?' for d in m.input_shape)}")
    print("heads: " + ", ".join(f"{h} ({roles[h]})" for h in net.heads))
    print(f"preprocessing: {prep.describe(pre)} (from the {source})")
    print(f"parameters: {m.parameter_count():,}")
    ops = collections.Counter(n.op for n in m.nodes)
    print("ops: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    for k in ("classviz.source", "classviz.source_sha1"):
        if k in m.metadata:
            print(f"{k.split('.')[1]}: {m.metadata[k]}")
    return 0


def run_path(args, note):
    """Print the default model's path, and whether it is there."""
    from ..weights import cache
    path = cache.default_path()
    print(path)
    if not os.path.isfile(path):
        note("not fetched yet: run `classviz weights fetch`")
    return 0


def load_net(path, backend, precision, default):
    """classviz.load(path, backend, precision); when `default` (the cached default model) cannot be
    read, the error says how to replace the damaged cache entry."""
    from .. import load
    try:
        net = load(path, backend=backend, precision=precision)
    except ModelError as e:
        if not default:
            raise
        raise ModelError(f"{e}. The cached default model is damaged: delete {path} (`classviz weights path` "
                         "prints it) or run `classviz weights fetch` to fetch it again") from None
    signals.current.check()  # loading imports the engine: a signal that came meanwhile stops here
    return net


def default_weights(note, quiet=False):
    """The default model's path, fetched first when it is not cached (saying so).
    Raises FetchError with what to do when it cannot be fetched."""
    from ..weights import cache, fetch
    path = cache.default_path()
    if os.path.isfile(path):
        return path
    note(f"the default weights (BVLC GoogLeNet) are not cached yet: fetching them into {path}")
    try:
        return fetch.fetch(progress=_bar(quiet), note=note)
    except FetchError as e:
        raise FetchError(f"{e}. Without a network here: run `classviz weights fetch` on a connected machine and "
                         f"copy {os.path.basename(path)} to {path}, or pass --weights FILE.onnx") from None


def _bar(quiet):
    """A progress callback (done, total) drawing a tqdm bar on a terminal, or None."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    state = {}

    def progress(done, total):
        if "bar" not in state or done < state["bar"].n:  # first chunk, or a mirror starting over
            if "bar" in state:
                state["bar"].close()
            state["bar"] = tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, leave=False)
        bar = state["bar"]
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()
    return progress
