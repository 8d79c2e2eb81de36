"""`classviz render` and `classviz classes`."""
import json
import os
import secrets
import sys
import time

import numpy as np
from PIL import Image

from .. import __version__
from .. import classes as classnames
from .. import objective
from .. import preprocess as prep
from .. import schedule as sched
from ..errors import ArgumentError, RenderInterrupted
from ..kernels import BACKENDS, PRECISIONS
from ..weights.cache import file_digest
from . import output, signals, weights


def add_parsers(sub):
    """Add the `render` and `classes` subcommands to argparse subparsers `sub`."""
    r = sub.add_parser("render", help="draw ImageNet classes", description=(
        "Draw what GoogLeNet thinks each class looks like, by gradient ascent on the pixels."))
    r.add_argument("--class", dest="classes", action="append", metavar="CLASS",
                   help="class index or name ('tabby cat', 251), or an objective: 'tabby cat + 0.5 * tiger - 0.3 * "
                   "207', 'TENSOR:CHANNEL', 'TENSOR:CHANNEL@ROW,COL', 'TENSOR:l2' (README); repeat to render "
                   "several in one batch")
    r.add_argument("--weights", metavar="FILE", help="ONNX GoogLeNet or .caffemodel (default: the cached BVLC GoogLeNet)")
    out = r.add_mutually_exclusive_group()
    out.add_argument("-o", "--out", metavar="OUT.png", help="output file (one class only)")
    out.add_argument("--out-dir", metavar="DIR", help="folder for one INDEX-NAME.png per class (default: .); a "
                     "class given twice gets INDEX-NAME-2.png")
    r.add_argument("--recipe", metavar="PNG", help="draw again what this classviz PNG says it is: its objective(s), "
                   "schedule, seed, canvas, placements, path, input space, precision and background (give the "
                   "same --weights, and --init/--mask files if it used them: their SHA-256 must match)")
    r.add_argument("--schedule", default=None, metavar="NAME|FILE",
                   help=f"{', '.join(sched.SCHEDULES)} or a JSON/TOML file (default: deepdraw)")
    r.add_argument("--seed", type=int, help="random seed, a whole number >= 0 (default: a fresh one, recorded "
                   "in the PNG)")
    r.add_argument("--backend", default="auto", choices=BACKENDS)
    r.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="arithmetic of the convolutions: tf32 and bf16 (faster, less exact) need --backend cuda")
    r.add_argument("--preprocess", choices=tuple(prep.PRESETS),
                   help="the model's input space, when neither its metadata nor its graph says")
    r.add_argument("--size", metavar="WxH", help="the final canvas in pixels, like 800x600 (at least the model's "
                   "crop a side; default: the schedule's square, 322x322 for deepdraw)")
    r.add_argument("--place", action="append", metavar="OBJECTIVE@X,Y",
                   help="draw OBJECTIVE (a class or an expression, as --class) around (X, Y) in 0..1 of the canvas; "
                   "repeat to compose several in ONE picture (instead of --class)")
    r.add_argument("--path", metavar="circle|sine|line|'X1,Y1 X2,Y2 ...'",
                   help="draw the one --class along this polyline (X, Y in 0..1 of the canvas): the crop's centre "
                   "walks it in every octave, the gradient weighted by a soft disc around the centre")
    r.add_argument("--facets", type=int, metavar="K", help="draw the one --class K ways in one batch, pushed apart "
                   "by lucid's diversity term (its weight and layer: schedule fields); writes NAME, NAME-2 .. NAME-K")
    r.add_argument("--init", metavar="FILE", help="start from this picture (its centred square, resized) instead of "
                   "noise; with a TENSOR:l2 objective and a schedule without blur, this is DeepDream")
    r.add_argument("--mask", metavar="FILE", help="draw only where this picture is light (white = drawn, black = "
                   "kept at --background); resized to the image")
    r.add_argument("--background", default=None, metavar="COLOUR",
                   help="colour of the masked-out part: white (default), black, grey, #RRGGBB or R,G,B")
    r.add_argument("--frames", metavar="DIR", help="also write a PNG of every image every K steps here")
    r.add_argument("--every", type=int, default=10, metavar="K", help="steps between frames (default 10)")
    r.add_argument("--gif", metavar="FILE", help="also write the whole generation as an animated GIF")
    r.add_argument("-f", "--force", action="store_true",
                   help="overwrite files that exist (without it, an existing output is an error before any work)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no notes")
    r.set_defaults(run=run_render)
    c = sub.add_parser("classes", help="list ImageNet classes whose names contain QUERY")
    c.add_argument("query", nargs="?", default="")
    c.set_defaults(run=run_classes)


def run_classes(args, note):
    """Print 'INDEX<TAB>synonyms' for each matching class; exit 1 when none matches."""
    hits = classnames.matching(args.query)
    for i, syns in hits:
        print(f"{i}\t{', '.join(syns)}")
    if not hits:
        print(f"classviz: no class name contains {args.query!r}", file=sys.stderr)
        return 1
    return 0


def run_render(args, note):
    """The render command; returns the exit code. `note(msg)` prints a remark unless quiet.
    Every argument and every output path is checked before the model loads."""
    import classviz
    recipe = _recipe(args) if args.recipe else None
    args.schedule = "deepdraw" if args.schedule is None else args.schedule
    args.precision = args.precision or "fp32"
    args.background = args.background or "white"
    octaves = sched.get(args.schedule)
    if args.every < 1:
        raise ArgumentError(f"--every must be >= 1, got {args.every}")
    if args.seed is not None and args.seed < 0:
        raise ArgumentError(f"--seed must be >= 0, got {args.seed}")
    if bool(args.classes) == bool(args.place):
        raise ArgumentError("give --class (one picture each) or --place (one picture of them all), one of the two")
    places = None
    if args.place:
        specs = [_place(p) for p in args.place]
        args.classes, places = [c for c, _ in specs], [xy for _, xy in specs]
        from ..canvas import check_places
        check_places(places, len(places))  # now, before the model is read
    # a plain class is checked now; an expression (it may name the model's tensors) once the model is read
    targets = [c if objective.is_expression(c) else classnames.lookup(c) for c in args.classes]
    pictures = targets  # what each written picture shows: a facets render draws its one target K times
    if args.facets is not None:
        from ..ascent import MAX_FACETS
        if not 2 <= args.facets <= MAX_FACETS:
            raise ArgumentError(f"--facets must be from 2 to {MAX_FACETS}, got {args.facets}")
        if len(targets) != 1 or args.path:
            raise ArgumentError("--facets draws one --class several ways (not --place, --path or several classes)")
        pictures = targets * args.facets
    stems = output.stems(pictures) if places is None else ["composition"]
    chosen = range(len(stems))  # the pictures to write: all, or the one facet a recipe asks for
    if getattr(args, "facet", None):
        chosen = [args.facet - 1]
        stems = [stems[args.facet - 1]]
    paths = _output_paths(args, stems)
    total = sched.total_steps(octaves)
    frame_paths = []
    if args.frames:
        _make_folder(args.frames)
        frame_paths = [os.path.join(args.frames, f"{st}-{k:04d}.png") for st in stems
                       for k in sorted({*range(args.every, total + 1, args.every), total})]
    from ..canvas import crop_size
    from ..canvas import check_init, check_mask, check_size, color, parse_path, sizes
    check_size(args.size, 1)  # its form and its upper bound now; the model's crop, once it is read
    polyline = parse_path(args.path) if args.path else None
    if polyline is not None and (places is not None or len(targets) != 1):
        raise ArgumentError("--path draws one --class (not --place, not several classes)")
    background = color(args.background)
    init = check_init(_read_picture(args.init, "--init", "RGB")) if args.init else None
    mask = check_mask(_read_picture(args.mask, "--mask", "L") / 255.0) if args.mask else None
    if args.gif and not args.gif.lower().endswith(".gif"):
        raise ArgumentError(f"--gif {args.gif!r} must end in .gif")
    output.check_outputs([(p, "-o" if args.out else "--out-dir") for p in paths]
                         + ([(args.gif, "--gif")] if args.gif else [])
                         + [(p, "--frames") for p in frame_paths], force=args.force)

    wpath = args.weights or weights.default_weights(note, args.quiet)
    if recipe is not None:
        _check_recipe_files(recipe, args, wpath, note)
    net = weights.load_net(wpath, args.backend, args.precision, default=not args.weights)
    from ..ascent import parse_objectives
    objs = parse_objectives(net, targets, octaves)
    if args.facets is not None:
        from ..ascent import check_facets, octave_heads
        objs = check_facets(net, args.facets, objs, octaves, octave_heads(net, octaves))
    hw = check_size(args.size, crop_size(net), len(objs) if places is None and polyline is None else 1)
    pre, source = prep.for_model(net.model, args.preprocess)
    note(f"preprocessing: {prep.describe(pre)}, from the {source}" if source != "given"
         else f"preprocessing: {prep.describe(pre)}, as given")
    seed = args.seed if args.seed is not None else secrets.randbits(31)
    meta = {"classviz:schedule": args.schedule if isinstance(args.schedule, str) and args.schedule in sched.SCHEDULES
            else sched.to_json(octaves),
            "classviz:seed": seed, "classviz:model": os.path.basename(wpath),
            "classviz:model_sha256": file_digest(wpath, "sha256"), "classviz:version": __version__,
            "classviz:preprocess": pre.to_json(), "classviz:backend": net.backend.name,
            "classviz:precision": net.precision,
            "Software": f"classviz {__version__}"}
    for option, picture in (("init", args.init), ("mask", args.mask)):
        if picture:
            meta[f"classviz:{option}"] = os.path.basename(picture)
            meta[f"classviz:{option}_sha256"] = file_digest(picture, "sha256")
    if args.mask:
        meta["classviz:background"] = ",".join(f"{c:g}" for c in background)
    if hw is not None:
        meta["classviz:size"] = f"{hw[1]}x{hw[0]}"
    if places is not None:
        meta["classviz:place"] = json.dumps([[o.text(), x, y] for o, (x, y) in zip(objs, places)])
    if args.facets is not None:
        meta["classviz:facets"] = args.facets
    if polyline is not None:
        name = args.path.strip().lower()
        meta["classviz:path"] = name if name in ("circle", "sine", "line") else json.dumps(polyline)
    final = sizes(octaves, crop_size(net), hw)[-1]
    recorder = _Recorder(args, [pictures[k] for k in chosen] if places is None else ["composition"], stems, final)
    bar = _progress(args, total, len(octaves))
    started = time.perf_counter()

    def on_step(s):
        signals.current.check()  # a Ctrl-C that Numba's compiler swallowed stops the render here
        recorder.step(s, chosen)
        if bar is not None:
            bar.set_postfix_str(f"octave {s.octave + 1}/{len(octaves)} {s.head}", refresh=False)
            bar.update(1)

    complete = True
    try:
        images = classviz.render(net, targets, octaves, seed=seed, on_step=on_step, preprocess=pre, init=init,
                                 mask=mask, background=background, size=None if hw is None else hw[::-1],
                                 places=places, path=polyline, facets=args.facets)
    except RenderInterrupted as e:
        images, complete = e.images, False
        done = e.steps_done
    else:
        done = total
    finally:
        if bar is not None:
            bar.close()
    images = [images[k] for k in chosen]
    meta["classviz:steps"] = f"{done}/{total}"
    meta["classviz:complete"] = "true" if complete else "false"
    with signals.current.deferred():  # a signal now waits until every file is whole
        for k, t, o, img, path in zip(chosen, [pictures[k] for k in chosen], [objs[k] for k in chosen], images, paths):
            if args.facets is not None:
                meta["classviz:facet"] = k + 1
            if places is not None:
                which = {}
            elif isinstance(t, int):
                which = {"classviz:class": t, "classviz:class_name": classnames.name(t), "classviz:objective": o.text()}
            else:
                which = {"classviz:objective": o.text()}
            output.save_png(path, img, {**which, **meta})
            print(path if complete else f"{path} (incomplete: {done} of {total} steps)", flush=True)
        recorder.finish(images, done)
    if not complete:
        return signals.current.exit_code
    note(f"{total} steps in {time.perf_counter() - started:.1f} s, seed {seed}")
    return 0


def _recipe(args):
    """Fill `args` from the PNG that --recipe names (its text chunks); returns them ({key: str}).
    Raises ArgumentError for a file that is no classviz picture, or for options the recipe sets."""
    from .. import png
    text = png.read_text(args.recipe)
    if text is None or "classviz:seed" not in text or "classviz:schedule" not in text:
        raise ArgumentError(f"--recipe {args.recipe!r} is not a PNG that classviz wrote (no recipe in its metadata)")
    given = [o for o, v in (("--class", args.classes), ("--place", args.place), ("--path", args.path),
                            ("--facets", args.facets),
                            ("--size", args.size), ("--seed", args.seed), ("--schedule", args.schedule),
                            ("--preprocess", args.preprocess), ("--precision", args.precision),
                            ("--background", args.background)) if v is not None]
    if given:
        raise ArgumentError(f"--recipe sets {', '.join(given)}: give the recipe alone (with --weights, --init, --mask)")
    if "classviz:place" in text:
        args.place = [f"{o}@{x!r},{y!r}" for o, x, y in json.loads(text["classviz:place"])]
    else:
        args.classes = [text["classviz:class"] if "classviz:class" in text else text["classviz:objective"]]
    if "classviz:path" in text:
        p = text["classviz:path"]
        args.path = p if p in ("circle", "sine", "line") else " ".join(f"{x!r},{y!r}" for x, y in json.loads(p))
    args.size = text.get("classviz:size")
    if "classviz:facets" in text:  # all the facets are drawn again (they push each other), this one written
        args.facets, args.facet = int(text["classviz:facets"]), int(text["classviz:facet"])
    s = text["classviz:schedule"]
    args.schedule = s if s in sched.SCHEDULES else json.loads(s)
    args.seed = int(text["classviz:seed"])
    args.preprocess = prep.parse(text["classviz:preprocess"], f"--recipe {args.recipe}") \
        if "classviz:preprocess" in text else None
    args.precision = text.get("classviz:precision", "fp32")
    args.background = text.get("classviz:background")
    return text


def _check_recipe_files(text, args, wpath, note):
    """Raise ArgumentError unless the model and the --init/--mask pictures are the recipe's (by
    SHA-256); note a different classviz version."""
    want = text.get("classviz:model_sha256")
    if want and file_digest(wpath, "sha256") != want:
        raise ArgumentError(f"--recipe was drawn with {text.get('classviz:model', 'another model')} (SHA-256 "
                            f"{want[:12]}...), not {os.path.basename(wpath)}: give its --weights")
    for option, path in (("init", args.init), ("mask", args.mask)):
        sha = text.get(f"classviz:{option}_sha256")
        if sha and not path:
            raise ArgumentError(f"--recipe started from --{option} {text.get(f'classviz:{option}')!r}: give that file")
        if path and sha != file_digest(path, "sha256"):
            raise ArgumentError(f"--{option} {path!r} is not the picture the recipe used"
                                + (f" ({text.get(f'classviz:{option}')!r})" if sha else " (it used none)"))
    if text.get("classviz:version") != __version__:
        note(f"the recipe was drawn by classviz {text.get('classviz:version')}; this is {__version__}: the picture "
             "can differ")


def _place(text):
    """(objective text or class, (x, y)) of a --place value 'OBJECTIVE@X,Y' (the last '@': a neuron
    target has one of its own). Raises ArgumentError."""
    what, at, xy = text.rpartition("@")
    try:
        x, y = (float(v) for v in xy.split(","))
    except ValueError:
        raise ArgumentError(f"--place {text!r} is not OBJECTIVE@X,Y with X, Y numbers in 0..1") from None
    if not at or not what.strip():
        raise ArgumentError(f"--place {text!r} is not OBJECTIVE@X,Y")
    return what.strip(), (x, y)


def _read_picture(path, option, mode):
    """The picture at `path` as a uint8 array in PIL `mode` ('RGB': (H, W, 3), 'L': (H, W)).
    Raises ArgumentError naming the option and the file when it cannot be read as a picture."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except (OSError, SyntaxError, ValueError) as e:
        why = getattr(e, "strerror", None) or str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ArgumentError(f"cannot read {option} {path!r} as a picture: {why}") from None


def _output_paths(args, stems):
    if args.out:
        if len(stems) > 1:
            raise ArgumentError(f"-o names one file but {len(stems)} classes were given; use --out-dir")
        if not args.out.lower().endswith(".png"):
            raise ArgumentError(f"output {args.out!r} must end in .png")
        return [args.out]
    folder = args.out_dir or "."
    _make_folder(folder)
    return [os.path.join(folder, st + ".png") for st in stems]


def _make_folder(folder):
    # one level only: a typo in a parent folder should be an error, not a new tree
    if not os.path.exists(folder) and os.path.isdir(os.path.dirname(os.path.abspath(folder))):
        try:
            os.mkdir(folder)
        except OSError as e:
            raise ArgumentError(f"cannot create folder {folder!r}: {e.strerror}") from None


def _progress(args, total, octaves):
    if args.quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True, leave=False)


class _Recorder:
    """Frames every `--every` steps: PNGs into --frames, and the GIF's frames in memory (the
    images side by side, scaled to the final size so every frame has one size)."""

    def __init__(self, args, targets, stems, final):
        self.args, self.targets, self.stems, self.final = args, targets, stems, final
        self.gif = []

    def wanted(self):
        return self.args.frames or self.args.gif

    def step(self, s, chosen):
        if self.wanted() and (s.step + 1) % self.args.every == 0:
            images = s.images()
            self.record([images[k] for k in chosen] if len(images) > 1 else images, s.step + 1)

    def record(self, images, step):
        if self.args.frames:
            for t, st, img in zip(self.targets, self.stems, images):
                path = os.path.join(self.args.frames, f"{st}-{step:04d}.png")
                key = "classviz:class" if isinstance(t, int) else "classviz:objective"
                output.save_png(path, img, {key: t, "classviz:step": step})
        if self.args.gif:
            h, w = self.final
            tiles = [np.asarray(Image.fromarray(im).resize((w, h), Image.BICUBIC))
                     if im.shape[:2] != (h, w) else im for im in images]
            self.gif.append(np.concatenate(tiles, axis=1))

    def finish(self, images, step):
        if self.wanted() and (step == 0 or step % self.args.every):
            self.record(images, step)
        if self.args.gif and self.gif:
            output.save_gif(self.args.gif, self.gif)
