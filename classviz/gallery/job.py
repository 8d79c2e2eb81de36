"""A gallery's recipe (`Job`: everything that decides its pictures) and the `Worker` that renders
its batches, in this process or in a Ray actor.

A picture is the recipe's for a target when its PNG metadata holds the same values under
RECIPE_KEYS and says it is complete: such a file is kept on a second run, any other is drawn again.
The backend is not part of the recipe (a CPU picture resumed on a GPU is kept)."""
import os
import time
import warnings
from typing import NamedTuple

from .. import __version__
from .. import png
from .. import schedule as sched
from ..errors import Notice

RECIPE_KEYS = ("classviz:model_sha256", "classviz:schedule", "classviz:seed", "classviz:version",
               "classviz:precision", "classviz:preprocess", "classviz:head", "classviz:class")


class Job(NamedTuple):
    """What every image of one gallery shares (plain values: it travels to Ray actors).

    weights: model path (str); model_sha256: its SHA-256 (hex str); schedule: the schedule as given
    when a built-in name, else its octaves as JSON (str); octaves: tuple of schedule.Octave, every
    head replaced by `head` for a channel gallery; seed: int >= 0; precision: 'fp32', 'tf32' or
    'bf16'; preprocess: the input space's metadata JSON (str); preprocess_given: the preset name
    the caller chose, or None (from the model); head: the tensor whose channels are drawn, or None
    for classes of the schedule's heads."""
    weights: str
    model_sha256: str
    schedule: str
    octaves: tuple
    seed: int
    precision: str
    preprocess: str
    preprocess_given: object
    head: object

    def metadata(self, target, score, seconds, steps):
        """PNG text ({key: str}) of a finished image of `target` (a targets.Target): the recipe, its
        final score (float: the objective at the last step), seconds (float) and steps (int)."""
        return {"classviz:class": str(target.index), "classviz:class_name": target.name,
                "classviz:head": self.head or "", "classviz:schedule": self.schedule,
                "classviz:seed": str(self.seed), "classviz:model": os.path.basename(self.weights),
                "classviz:model_sha256": self.model_sha256, "classviz:version": __version__,
                "classviz:preprocess": self.preprocess, "classviz:precision": self.precision,
                "classviz:steps": f"{steps}/{steps}", "classviz:complete": "true",
                "classviz:score": repr(float(score)), "classviz:seconds": f"{seconds:.3f}",
                "Software": f"classviz {__version__}"}

    def recipe(self, target):
        """{key: str} of RECIPE_KEYS that a kept picture of `target` must carry."""
        meta = self.metadata(target, 0.0, 0.0, 0)
        return {k: meta[k] for k in RECIPE_KEYS}

    def differs(self, text, target):
        """Why a picture whose PNG text is `text` ({key: str}, from png.read_text, or None when it
        could not be read) is not this job's finished picture of `target`: None when it is, else
        a short reason (str): 'unreadable', 'incomplete' or the differing field."""
        if text is None:
            return "unreadable"
        for k, v in self.recipe(target).items():
            if text.get(k) != v:
                return k.split(":", 1)[1]
        return None if text.get("classviz:complete") == "true" else "incomplete"


def schedule_text(schedule, octaves):
    """The metadata string of a schedule: its name when built in, else its octaves as JSON."""
    if isinstance(schedule, str) and schedule in sched.SCHEDULES:
        return schedule
    return sched.to_json(octaves)


class Worker:
    """Loads the model once and renders whole batches of a `Job`'s targets.

    job: the Job; backend: 'cpu', 'cuda' or 'auto'; weights: a local path to load instead of
    job.weights (a Ray worker's copy), or None."""

    def __init__(self, job, backend="auto", weights=None):
        from .. import net as netmod
        from .. import preprocess as prep
        self.job = job
        self.net = netmod.load(weights or job.weights, backend=backend, precision=job.precision)
        self.pre, _ = prep.for_model(self.net.model, job.preprocess_given)

    @property
    def backend(self):
        """The backend's name (str)."""
        return self.net.backend.name

    def render(self, targets, out_dir=None):
        """Draw `targets` (list of targets.Target) in one batch. Returns one dict per target:
        index, score (float), seconds (float: the batch's wall time / its size), image (uint8
        (H, W, 3), or None when written), path (the PNG written into `out_dir`, or None).
        With `out_dir` (a folder every worker shares) the images are written there, whole or not at
        all, and not returned. Raises RenderFailed, RenderInterrupted as classviz.render does."""
        from .. import ascent
        last = {}

        def on_step(s):
            if s.step == s.steps - 1:
                last["scores"] = s.scores

        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Notice)  # the driver said each once already
            images = ascent.render(self.net, [t.index for t in targets], self.job.octaves, seed=self.job.seed,
                                   on_step=on_step, preprocess=self.pre)
        seconds = (time.perf_counter() - started) / len(targets)
        steps = sched.total_steps(self.job.octaves)
        out = []
        for k, (t, image) in enumerate(zip(targets, images)):
            score = float(last["scores"][k])
            r = {"index": t.index, "score": score, "seconds": seconds, "image": image, "path": None}
            if out_dir is not None:
                r["path"] = os.path.join(out_dir, t.stem + ".png")
                png.save_png(r["path"], image, self.job.metadata(t, score, seconds, steps))
                r["image"] = None
            out.append(r)
        return out
