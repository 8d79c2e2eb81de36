"""`classviz gallery`: every class of a model (or every channel of a tensor) into a folder,
resumable, in this process or on a Ray cluster."""
import sys
import time

from .. import preprocess as prep
from .. import schedule as sched
from ..kernels import BACKENDS, PRECISIONS
from . import signals


def add_parsers(sub):
    """Add the `gallery` subcommand to argparse subparsers `sub`."""
    g = sub.add_parser("gallery", help="draw every class of a model into a folder, resumably", description=(
        "Draw every class (or a range, or a list) of a model, one PNG each, with a contact sheet "
        "(sheet.png), a page (index.html) and manifest.json. A second run keeps every picture "
        "already drawn with the same recipe and draws the rest."))
    what = g.add_mutually_exclusive_group()
    what.add_argument("--classes", default="all", metavar="all|RANGE|FILE",
                      help="'all' (default), indices and inclusive ranges like 0-7 or 0-99,281, or a file "
                      "with one class (index or name) a line")
    what.add_argument("--channels", metavar="TENSOR", help="draw every channel of this tensor instead")
    g.add_argument("--weights", metavar="FILE", help="ONNX model or .caffemodel (default: the cached BVLC GoogLeNet)")
    g.add_argument("--out-dir", required=True, metavar="DIR", help="folder of the gallery (made if its parent exists)")
    g.add_argument("--schedule", default="deepdraw", metavar="NAME|FILE",
                   help=f"{', '.join(sched.SCHEDULES)} or a JSON/TOML file (default: deepdraw)")
    g.add_argument("--seed", type=int, help="random seed (default: the one in DIR/manifest.json, else 0)")
    g.add_argument("--batch", type=int, metavar="B", help="images per batch (default: 2 on the CPU, 64 on a GPU)")
    g.add_argument("--backend", default="auto", choices=BACKENDS)
    g.add_argument("--precision", default="fp32", choices=PRECISIONS)
    g.add_argument("--preprocess", choices=tuple(prep.PRESETS),
                   help="the model's input space, when neither its metadata nor its graph says")
    g.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="render on Ray: a local cluster (no ADDRESS) or the cluster at ADDRESS (host:port, "
                   "ray://host:port, auto); needs pip install 'classviz[ray]'")
    g.add_argument("--workers", type=int, metavar="K", help="Ray workers (default: one per GPU, else CPUs / threads)")
    g.add_argument("--threads", type=int, metavar="T", help="CPU threads of each Ray worker (default 1)")
    g.add_argument("--shared-fs", action="store_true",
                   help="Ray workers write the pictures into DIR themselves (a folder every node sees)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no notes")
    g.set_defaults(run=run_gallery)


def run_gallery(args, note):
    """The gallery command; returns the exit code (0; 1 when some batch failed; 128 + the signal
    after Ctrl-C or SIGTERM, with everything finished written)."""
    from .. import gallery
    from . import weights
    wpath = args.weights or weights.default_weights(note, args.quiet)
    bar = _Progress(args.quiet)
    try:
        summary = gallery.run(
            wpath, args.out_dir, classes=args.classes, channels=args.channels, schedule=args.schedule,
            seed=args.seed, batch=args.batch, backend=args.backend, precision=args.precision,
            preprocess=args.preprocess, ray=args.ray, workers=args.workers, threads=args.threads,
            shared_fs=args.shared_fs, progress=bar.update, note=note)
    except KeyboardInterrupt:
        bar.close()
        print(f"classviz: interrupted; what was finished is in {args.out_dir} (run the same command to go on)",
              file=sys.stderr)
        return signals.current.exit_code
    finally:
        bar.close()
    note(f"{summary['drawn']} drawn, {summary['kept']} kept, {summary['failed']} failed in "
         f"{summary['seconds']:.1f} s; {summary['index']}")
    print(summary["manifest"], flush=True)
    return 1 if summary["failed"] else 0


class _Progress:
    """One tqdm bar over the images to draw, with images/min, on a terminal; nothing otherwise."""

    def __init__(self, quiet):
        self.bar, self.quiet, self.started, self.images = None, quiet or not sys.stderr.isatty(), None, 0

    def update(self, n, total):
        signals.current.check()  # between batches: a Ctrl-C that Numba's compiler swallowed stops here
        if self.quiet:
            return
        from tqdm import tqdm
        if self.bar is None:
            self.started = time.perf_counter()  # drawing starts: the rate leaves out loading the model
            self.bar = tqdm(total=total, unit="image", file=sys.stderr, dynamic_ncols=True, leave=False)
        self.images += n
        rate = self.images / max(time.perf_counter() - self.started, 1e-9) * 60
        self.bar.set_postfix_str(f"{rate:.1f} images/min", refresh=False)
        self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
