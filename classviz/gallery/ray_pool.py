"""A gallery's batches on a Ray cluster: one actor per GPU (or per `threads` CPUs), each loading the
model once and rendering whole batches; the driver hands them out one at a time per actor and
writes what comes back (or, with a shared folder, the actors write and send the scores).

Faults: an actor that dies (its process killed, its node lost) has its batch put back at the head
of the queue for whichever actor is free next, and a fresh actor takes its place (up to as many
replacements as there were actors). Since an image depends only on the seed and its target, the
batch draws the same pictures wherever it runs, and only the driver writes (or, with
`out_dir`, a re-run draws only the pictures the dead actor had not written): nothing is lost or
written twice."""
import os
import socket
import tempfile
import time
from collections import deque

from ..atomic import remove_stale
from ..errors import ArgumentError, RenderFailed
from . import job as jobs

PROBE_SECONDS = 10.0  # a cluster address that takes longer to accept a connection is not there


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ArgumentError("--ray needs Ray: pip install 'classviz[ray]'") from None
    return ray


def probe(address):
    """Raise ArgumentError within PROBE_SECONDS unless something accepts TCP connections at the
    cluster `address` ('host:port' or 'ray://host:port'; 'auto' and 'local' are not probed)."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ArgumentError(f"--ray address {address!r} is not HOST:PORT, ray://HOST:PORT, auto or local")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as e:
        why = "timed out" if isinstance(e, socket.timeout) else (e.strerror or str(e))
        raise ArgumentError(f"the Ray cluster at {address!r} does not answer: {why}") from None


def check(address, workers=None, threads=None):
    """Raise ArgumentError unless `workers` and `threads` are None or whole numbers >= 1, Ray
    imports and `address` answers (see `probe`; not probed when this process is already connected
    to a cluster)."""
    if not isinstance(address, str) or not address:
        raise ArgumentError(f"--ray takes a cluster address or nothing, got {address!r}")
    for name, v in (("--workers", workers), ("--threads", threads)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ArgumentError(f"{name} must be a whole number >= 1, got {v!r}")
    ray = _import_ray()
    if not ray.is_initialized():
        probe(address)


class _Renderer:
    """The actor's body: a jobs.Worker with its thread count fixed before Numba starts."""

    def __init__(self, job, backend, model_bytes):
        weights = None
        if model_bytes is not None:  # a node that does not see the driver's files gets a copy
            fd, weights = tempfile.mkstemp(suffix=".onnx", prefix="classviz-model-")
            with os.fdopen(fd, "wb") as f:
                f.write(model_bytes)
        self.worker = jobs.Worker(job, backend, weights)

    def ready(self):
        """(pid, backend name): the actor is up and its model loaded."""
        return os.getpid(), self.worker.backend

    def render(self, targets, out_dir):
        """jobs.Worker.render; a RenderFailed comes back as ('failed', message)."""
        try:
            return self.worker.render(targets, out_dir)
        except RenderFailed as e:
            return ("failed", str(e))


class RayPool:
    """Ray actors rendering a Job's batches; the interface of gallery.LocalPool.

    address: 'local' or a cluster address (see gallery.run); workers: actors (None: one per GPU for
    the CUDA backend, else the cluster's CPUs / threads); threads: CPU threads per actor (None: 1);
    out_dir: a folder all actors share, where they write the pictures (None: pixels come back)."""

    def __init__(self, job, backend, address, workers, threads, out_dir, note):
        ray = self.ray = _import_ray()
        self.job, self.out_dir, self.note = job, out_dir, note
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            try:
                ray.init(address=None if address == "local" else address, include_dashboard=False,
                         log_to_driver=False, logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ArgumentError(f"cannot join the Ray cluster at {address!r}: {str(e).splitlines()[0]}") from None
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        self.backend = "cuda" if backend == "cuda" or backend == "auto" and gpus else "cpu"
        self.threads = 1 if self.backend == "cuda" else threads or 1
        if self.backend == "cuda" and not gpus:
            raise ArgumentError("--backend cuda on Ray, but the cluster has no GPU")
        cpus = int(resources.get("CPU", 1))
        self.workers = workers or (gpus if self.backend == "cuda" else max(1, cpus // self.threads))
        local = address == "local" or address == "auto" and not self.started_ray
        model_bytes = None
        if not local and out_dir is None:
            with open(job.weights, "rb") as f:
                model_bytes = ray.put(f.read())
        self.model_bytes = model_bytes
        self.spares = self.workers  # replacements for actors that die
        self.actors = [self._start() for _ in range(self.workers)]
        self.pids = {}
        for actor in list(self.actors):
            pid, _ = ray.get(actor.ready.remote())
            self.pids[actor] = pid
        self.inflight = {}  # object ref -> (actor, batch)

    def _start(self):
        ray = self.ray
        env = {k: str(self.threads) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                              "MKL_NUM_THREADS")}
        cls = ray.remote(_Renderer).options(
            num_cpus=self.threads, num_gpus=1 if self.backend == "cuda" else 0, max_restarts=0,
            runtime_env={"env_vars": env})
        return cls.remote(self.job, self.backend, self.model_bytes)

    def describe(self):
        unit = "GPU" if self.backend == "cuda" else f"{self.threads} CPU thread{'s' if self.threads > 1 else ''}"
        return f"{self.workers} Ray worker{'s' if self.workers > 1 else ''} ({unit} each)"

    def run(self, batches, finished):
        """Hand out `batches`, one in flight per actor; `finished(targets, results, error=None)` for
        each as it lands, in the order they land."""
        ray = self.ray
        queue = deque(batches)
        self.driver_seconds = 0.0  # from a result landing to its actor's next batch handed out
        self.write_seconds = 0.0  # writing what landed (pictures, manifest), while the actor works on

        def hand_out():
            busy = {a for a, _ in self.inflight.values()}
            for actor in [a for a in self.actors if a not in busy]:
                batch = None
                while queue and not batch:
                    batch = queue.popleft()
                    if self.out_dir is not None:  # a re-run after a death: what was written stays
                        batch = self._written(batch, finished)
                if batch:
                    self.inflight[actor.render.remote(batch, self.out_dir)] = (actor, batch)

        hand_out()
        while self.inflight:
            ready, _ = ray.wait(list(self.inflight), num_returns=1)
            landed = time.perf_counter()
            actor, batch = self.inflight.pop(ready[0])
            try:
                results = ray.get(ready[0])
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as e:
                queue.appendleft(batch)
                self._replace(actor, e)
                if self.out_dir is not None:  # what it was writing when it died
                    remove_stale(self.out_dir)
                hand_out()
                continue
            hand_out()  # the actor works on while the driver writes what it sent
            handed = time.perf_counter()
            self.driver_seconds += handed - landed
            if isinstance(results, tuple) and results[0] == "failed":
                finished(batch, None, error=results[1])
            else:
                finished(batch, results)
            self.write_seconds += time.perf_counter() - handed

    def _written(self, batch, finished):
        """The targets of `batch` not yet in out_dir; those that are (a dead actor wrote them before
        it died) are reported to `finished` with the score and time their files carry."""
        from .. import png
        done, todo = [], []
        for t in batch:
            text = png.read_text(os.path.join(self.out_dir, t.stem + ".png"))
            if self.job.differs(text, t):
                todo.append(t)
            else:
                done.append((t, text))
        if done:
            finished([t for t, _ in done], [
                {"index": t.index, "score": float(text["classviz:score"]), "seconds": float(text["classviz:seconds"]),
                 "image": None, "path": os.path.join(self.out_dir, t.stem + ".png")} for t, text in done])
        return todo

    def _replace(self, actor, error):
        ray = self.ray
        self.actors.remove(actor)
        self.pids.pop(actor, None)
        why = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
        if self.spares <= 0:
            if not self.actors:
                raise RuntimeError(f"every Ray worker died (last: {why})")
            self.note(f"a Ray worker died ({why}); its batch goes to another")
            return
        self.spares -= 1
        fresh = self._start()
        self.pids[fresh], _ = ray.get(fresh.ready.remote())
        self.actors.append(fresh)
        self.note(f"a Ray worker died ({why}); its batch goes to another, and a fresh worker starts")

    def close(self):
        """Stop the actors; leave the cluster when this pool joined it."""
        ray = self.ray
        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:  # already gone
                pass
        self.actors = []
        if self.started_ray:
            ray.shutdown()
