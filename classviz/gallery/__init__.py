"""Galleries: every class of a model's head (or every channel of a tensor), one PNG each, in this
process or on a Ray cluster, resumable.

    from classviz import gallery
    summary = gallery.run("model.onnx", "out/", classes="0-15", schedule="quick", seed=0)

An image depends only on the recipe (model, schedule, seed, precision, input space, head) and its
target (`renderer.seeds`), not on its batch or its worker, so a run can stop anywhere and the next
one continues: a picture whose metadata holds this recipe is kept, anything else is drawn again.
Pictures are written whole or not at all; the manifest, contact sheets and page are rewritten
after every batch. Ray (`pip install 'classviz[ray]'`) is imported only when asked for."""
import math
import os
import time

from .. import ascent, canvas, png
from .. import schedule as sched
from ..atomic import probe_folder
from ..errors import ArgumentError, RenderFailed
from . import job as jobs
from . import pages
from . import targets as targetlib

# Images a batch holds when the caller does not say, the best measured (benchmarks/gallery.py,
# benchmarks/README.md): on the CPU batches of 2, 4 and 8 cost alike per image (0.87-0.92x one
# image alone: the convolutions already run at the GEMM's rate at batch 1), so the smallest of
# them, which loses least to a Ctrl-C; on an H200 64 images a batch drew faster than 32.
DEFAULT_BATCH = {"cpu": 2, "cuda": 64}


def run(weights, out_dir, classes="all", channels=None, schedule="deepdraw", seed=None, batch=None,
        backend="auto", precision="fp32", preprocess=None, ray=None, workers=None, threads=None,
        shared_fs=False, progress=None, on_batch=None, note=None):
    """Render a gallery into `out_dir`; returns a summary dict (counts 'drawn', 'kept', 'failed',
    'pending'; 'seconds'; 'manifest', 'sheets', 'index' paths).

    weights: ONNX path; out_dir: folder (made if its parent exists); classes: 'all', a range such
    as '0-7' or '0-99,281', a file with one class a line, or a list of class indices/names;
    channels: a tensor name whose every channel is drawn instead of classes; schedule, precision,
    preprocess: as `classviz.render`; seed: int >= 0 (None: the seed of the manifest already in
    out_dir, else 0, so that a resumed run needs no flags); batch: images per batch (None:
    DEFAULT_BATCH for the backend); backend: of this process, or of each Ray worker.
    ray: None (this process), 'local' (a Ray cluster on this machine, or the one this process is
    already connected to) or a cluster address ('host:port', 'ray://host:port', 'auto');
    workers: Ray actors (None: one per GPU, else one per `threads` CPUs); threads: CPU threads of
    each Ray worker (None: 1); shared_fs: Ray workers write the pictures into out_dir themselves
    (a folder they all see) instead of sending the pixels back.
    progress(n, total): called with n = 0 as drawing starts, then as each batch of n of the total
    images to draw lands; on_batch(pool, targets, results):
    after each batch is written (tests kill workers there); note(str): remarks.
    Raises ArgumentError / ModelError before any work for bad input; KeyboardInterrupt after
    writing the manifest and pages of what was finished."""
    note = note or (lambda msg: None)
    started = time.perf_counter()
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 4096):
        raise ArgumentError(f"--batch must be a whole number from 1 to 4096, got {batch!r}")
    if ray is None and (workers is not None or threads is not None or shared_fs):
        raise ArgumentError("--workers, --threads and --shared-fs need --ray")
    out_dir = _check_out_dir(out_dir)
    if ray is not None:  # before the model is read: a missing Ray or a silent address is said at once
        from . import ray_pool
        ray_pool.check(ray, workers, threads)
    job, todo_targets = _prepare(weights, out_dir, classes, channels, schedule, seed, precision, preprocess)
    entries, todo = _status(out_dir, job, todo_targets, note)
    header = {"model": os.path.basename(job.weights), "model_sha256": job.model_sha256, "schedule": job.schedule,
              "seed": job.seed, "precision": job.precision, "head": job.head,
              "target_kind": "channels" if channels else "classes"}
    by_index = {e["index"]: e for e in entries}
    title = f"classviz gallery: {header['model']}" + (f", channels of {channels}" if channels else "")
    subtitle = f"schedule {_short(job.schedule)}, seed {job.seed}, {job.precision}"
    summary = {"drawn": 0, "kept": len(entries) - len(todo), "failed": 0, "pending": len(todo)}
    # the workers start (the model loads, Ray joins) before anything is written: a failure there
    # leaves the folder as it was
    pool = _pool(job, backend, ray, workers, threads, shared_fs, out_dir, note) if todo else None
    _make_out_dir(out_dir)
    try:
        if todo:
            size = batch or DEFAULT_BATCH.get(pool.backend, 1)
            batches = pack(todo, size, pool.workers)
            note(f"{len(todo)} to draw in {len(batches)} batch{'es' if len(batches) > 1 else ''} of up to "
                 f"{len(batches[0])} on {pool.describe()}")

            def finished(targets, results, error=None):
                for t, r in zip(targets, results or [None] * len(targets)):
                    e = by_index[t.index]
                    if error is not None:
                        e.update(status="failed", error=error, rendered=True)
                        summary["failed"] += 1
                    else:
                        e.update(status="done", rendered=True, seconds=round(r["seconds"], 3), score=r["score"],
                                 error=None)
                        if r["image"] is not None:
                            png.save_png(os.path.join(out_dir, e["file"]), r["image"],
                                         job.metadata(t, r["score"], r["seconds"], sched.total_steps(job.octaves)))
                        summary["drawn"] += 1
                    summary["pending"] -= 1
                pages.write_manifest(out_dir, header, entries)
                if progress is not None:
                    progress(len(targets), len(todo))
                if on_batch is not None:
                    on_batch(pool, targets, results)

            if progress is not None:
                progress(0, len(todo))
            pool.run(batches, finished)
    finally:
        if pool is not None:
            pool.close()
        pages.write_manifest(out_dir, header, entries)
        done = [(targetlib.Target(e["index"], e["name"], e["file"][:-4]), os.path.join(out_dir, e["file"]))
                for e in entries if e["status"] == "done"]
        summary["sheets"] = pages.write_sheets(out_dir, done, title)
        thumbs = pages.write_thumbs(out_dir, done)
        summary["index"] = pages.write_index(out_dir, entries, thumbs, title, subtitle)
        summary["manifest"] = pages.manifest_path(out_dir)
        summary["seconds"] = time.perf_counter() - started
    return summary


def _short(text, n=60):
    return text if len(text) <= n else text[:n - 3] + "..."


def _check_out_dir(out_dir):
    """`out_dir` as a str, once it is an existing writable folder or one that can be made in an
    existing parent (it is made later, by `_make_out_dir`). Raises ArgumentError."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ArgumentError(f"out_dir must be a folder name, got {type(out_dir).__name__}")
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ArgumentError(f"--out-dir {out_dir!r} is a file, not a folder")
    folder = out_dir if os.path.isdir(out_dir) else os.path.dirname(os.path.abspath(out_dir))
    if not os.path.isdir(folder):  # one level only: a typo in a parent should not grow a tree
        raise ArgumentError(f"cannot create --out-dir {out_dir!r}: folder {folder!r} does not exist")
    try:
        probe_folder(folder)
    except OSError as e:
        verb = "write into" if folder == out_dir else "create"
        raise ArgumentError(f"cannot {verb} --out-dir {out_dir!r}: {e.strerror}") from None
    return out_dir


def _make_out_dir(out_dir):
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ArgumentError(f"cannot create --out-dir {out_dir!r}: {e.strerror}") from None


def _prepare(weights, out_dir, classes, channels, schedule, seed, precision, preprocess):
    """Read the model (graph and shapes only, on the CPU backend, which allocates nothing here),
    check every argument, and return (Job, [Target])."""
    from .. import net as netmod
    from .. import preprocess as prep
    from ..kernels import PRECISIONS
    from ..weights.cache import file_digest
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ArgumentError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if seed is None:
        old = pages.read_manifest(out_dir)
        seed = old.get("seed", 0) if old else 0
    ascent.check_seed(seed)
    octaves = sched.get(schedule)
    if not isinstance(weights, (str, os.PathLike)):
        raise ArgumentError(f"weights must be a file name, got {type(weights).__name__}")
    weights = os.fspath(weights)
    net = netmod.load(weights, backend="cpu")  # reads the graph; plans and weights stay unbuilt
    pre, _ = prep.for_model(net.model, preprocess)
    crop = canvas.crop_size(net)
    if not isinstance(preprocess, (str, type(None))):
        raise ArgumentError("preprocess must be a preset name for a gallery (it travels to workers as one)")
    if channels is not None:
        if not isinstance(channels, str):
            raise ArgumentError(f"channels must be a tensor name, got {type(channels).__name__}")
        channels = net.head_name(channels)
        shape = net.network.infer_shapes(channels, (1, net.channels, crop, crop))[channels]
        if len(shape) not in (2, 4):
            raise ArgumentError(f"--channels {channels!r} has shape {tuple(shape)}: not (N, C) or (N, C, H, W)")
        octaves = tuple(o._replace(head=channels) for o in octaves)
        targets = targetlib.channel_targets(channels, shape[1])
        if classes not in (None, "all"):
            raise ArgumentError("give --classes or --channels, not both")
    else:
        heads = ascent.octave_heads(net, octaves)
        n = ascent._class_count(net, heads, {h for o, h in zip(octaves, heads) if o.head in ascent.ROLES})
        if isinstance(classes, (list, tuple)):
            from .. import classes as classnames
            indices = sorted({classnames.lookup(c, n) for c in classes})
            if not indices:
                raise ArgumentError("no classes to draw")
        else:
            indices = targetlib.parse_classes(classes, n)
        targets = targetlib.class_targets(indices, n)
    job = jobs.Job(weights=os.path.abspath(weights), model_sha256=file_digest(weights, "sha256"),
                   schedule=jobs.schedule_text(schedule, sched.get(schedule)), octaves=tuple(octaves),
                   seed=int(seed), precision=precision, preprocess=pre.to_json(),
                   preprocess_given=preprocess if isinstance(preprocess, str) else None, head=channels)
    return job, targets


def _status(out_dir, job, targets, note):
    """Manifest entries for `targets` (a picture with this job's recipe is kept, with its score and
    time read from it) and the targets still to draw (list of Target)."""
    entries, todo, why = [], [], {}
    for t in targets:
        path = os.path.join(out_dir, t.stem + ".png")
        exists = os.path.exists(path)
        text = png.read_text(path) if exists else None
        reason = job.differs(text, t) if exists else "missing"
        e = {"index": t.index, "name": t.name, "file": t.stem + ".png", "status": "pending", "rendered": False,
             "seconds": None, "score": None, "error": None}
        if reason is None:
            e.update(status="done", seconds=_number(text.get("classviz:seconds")),
                     score=_number(text.get("classviz:score")))
        else:
            todo.append(t)
            if reason != "missing":
                why[reason] = why.get(reason, 0) + 1
        entries.append(e)
    kept = len(targets) - len(todo)
    if kept:
        note(f"{kept} of {len(targets)} pictures are already drawn with this recipe: kept")
    if why:
        note("drawing again " + ", ".join(f"{n} whose {k} differs" if k not in ("unreadable", "incomplete")
                                          else f"{n} {k}" for k, n in sorted(why.items())))
    return entries, todo


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def pack(targets, batch, workers=1):
    """Split `targets` (list) into batches of at most `batch`, full batches first, and no larger
    than an even share of the work among `workers` (so that no worker idles while one has two
    batches' worth). Returns a list of lists."""
    size = max(1, min(batch, math.ceil(len(targets) / max(1, workers))))
    return [targets[i:i + size] for i in range(0, len(targets), size)]


class LocalPool:
    """Batches rendered one after another by one `jobs.Worker` in this process."""
    workers = 1

    def __init__(self, job, backend):
        self.worker = jobs.Worker(job, backend)
        self.backend = self.worker.backend

    def describe(self):
        return f"this process ({self.backend})"

    def run(self, batches, finished):
        """Render each batch; `finished(targets, results, error=None)` after each one. A batch whose
        render fails (RenderFailed) is reported with error= its message, and the rest go on."""
        for b in batches:
            try:
                results = self.worker.render(b)
            except RenderFailed as e:
                finished(b, None, error=str(e))
                continue
            finished(b, results)

    def close(self):
        pass


def _pool(job, backend, ray, workers, threads, shared_fs, out_dir, note):
    if ray is None:
        return LocalPool(job, backend)
    from . import ray_pool
    return ray_pool.RayPool(job, backend, ray, workers, threads, out_dir if shared_fs else None, note)
