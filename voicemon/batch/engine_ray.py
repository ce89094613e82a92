"""The Ray engine: a batch's calls spread over a pool of actors, one Whisper model per actor.

Why Ray tasks on actors, not Ray Data ``map_batches``: a call is one indivisible unit of minutes
of work whose result (a report of a few MB) must reach the manifest the moment it is done, so a
killed run resumes call by call. The driver keeps at most two calls queued per actor and takes
results back as they finish (``ray.wait``), which gives per-call progress, per-call errors and
backpressure with nothing else; Ray Data would add pyarrow/pandas to every node, group calls
into blocks whose failure or retry is a block's, and hide per-call completion behind its
streaming executor. Each actor loads the model once and keeps it for every call it analyses.

Actors are restarted once if their process dies (``max_restarts=1``) and a call whose actor
died is retried once on the new one (``max_task_retries=1``); a call that *fails* (bad audio)
is a result, recorded as failed, and retried by the next run (:mod:`voicemon.batch.manifest`).

Workers open the calls by absolute path: every node must see the audio at the same path (a
shared or network filesystem) and have voicemon and its model installed (docs/scale.md).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Callable, Iterable, Iterator

from voicemon.batch.work import CallResult, analyze_call
from voicemon.errors import BatchError

log = logging.getLogger(__name__)

IN_FLIGHT_PER_ACTOR = 2
"""Calls queued on an actor at once: one analysed, one ready so the actor never waits."""


class CallAnalyzer:
    """The body of one Ray actor: one Whisper model, used for every call sent to it.

    Args:
        config: options.
        workers: utterances its model transcribes at once (its CPUs).
    """

    def __init__(self, config, workers: int) -> None:
        os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "voicemon", "numba"))
        from voicemon.asr.transcriber import parallel_transcriber

        self.config = config
        self.transcriber, self.workers = parallel_transcriber(config.asr, workers)

    def model_name(self) -> str:
        """The loaded model's name."""
        return self.transcriber.name

    def analyze(self, key: str, source: str) -> CallResult:
        """Analyse one call (errors are in the result)."""
        return analyze_call(key, source, self.config, self.transcriber, self.workers)


def import_ray():
    """``ray``, or a clear error when the optional extra is not installed."""
    try:
        import ray
    except ImportError:
        raise BatchError("--engine ray needs Ray: pip install 'voicemon[ray]'") from None
    return ray


def openmp_threads() -> str:
    """The OpenMP thread count this process's libraries run with, for the actors to use too.

    Ray sets ``OMP_NUM_THREADS`` to an actor's ``num_cpus`` (1), and CTranslate2's Whisper
    kernels give slightly different numbers (word probabilities in the fourth decimal) with a
    different OpenMP thread count even at ``cpu_threads`` 1, so Ray's reports would not equal a
    plain ``analyze`` of the same calls. OpenMP's own default is every CPU the process may use.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return os.environ["OMP_NUM_THREADS"]
    try:
        return str(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return str(os.cpu_count() or 1)


class RayEngine:
    """Analyse calls on a Ray cluster.

    Args:
        config: the options calls are analysed with.
        options: the engine's size and cluster (default ``config.batch``): ``address`` (``""`` =
            start Ray on this machine unless this process is connected already), actors, CPUs
            and GPUs per actor.

    Raises:
        BatchError: Ray is missing or the cluster cannot be reached.
    """

    name = "ray"

    def __init__(self, config, options=None) -> None:
        ray = import_ray()
        self.ray = ray
        self.config = config
        self.options = opts = options or config.batch
        self.address = opts.address
        self._started_here = False
        if not ray.is_initialized():
            for attempt in (1, 2):
                try:
                    ray.init(address=self.address or None, include_dashboard=False, log_to_driver=True,
                             configure_logging=False)
                    break
                except Exception as exc:  # noqa: BLE001 — Ray raises many kinds; say which cluster failed
                    ray.shutdown()
                    # a local raylet has a fixed 30 s to register; a saturated machine can miss it once
                    if attempt == 1 and not self.address and "timed out during startup" in str(exc):
                        log.warning("Ray did not start in time; trying once more")
                        continue
                    where = self.address or "a local Ray instance"
                    raise BatchError(f"cannot start or reach Ray at {where}: {_one_line(exc)}") from None
            self._started_here = True
        self.workers = max(1, int(opts.actor_cpus))
        self.actor_cls = ray.remote(num_cpus=opts.actor_cpus, num_gpus=opts.actor_gpus or None,
                                    max_restarts=1, max_task_retries=1,
                                    runtime_env={"env_vars": {"OMP_NUM_THREADS": openmp_threads()}})(CallAnalyzer)
        self.actors: list = []
        self._model_name: str | None = None

    def cluster_cpus(self) -> float:
        """CPUs the cluster has."""
        return float(self.ray.cluster_resources().get("CPU", 0.0))

    def actor_count(self, calls: int) -> int:
        """Actors for ``calls`` calls: ``batch.actors``, or as many as the cluster's CPUs hold."""
        want = self.options.actors or max(1, int(self.cluster_cpus() // self.options.actor_cpus))
        return max(1, min(want, calls))

    def start_actors(self, n: int) -> None:
        """Start ``n`` actors (each loads its model) and wait until they are ready.

        Raises:
            BatchError: an actor could not load the model.
        """
        self.actors = [self.actor_cls.remote(self.config, self.workers) for _ in range(n)]
        try:
            names = self.ray.get([a.model_name.remote() for a in self.actors])
        except Exception as exc:  # noqa: BLE001 — the actor's own error, in one line
            self.close()
            raise BatchError(f"a Ray actor could not load the speech model: {_one_line(exc)}") from None
        self._model_name = names[0]

    def prepare(self, calls: int) -> None:
        """Start the actors for a batch of ``calls`` calls (once)."""
        if not self.actors:
            self.start_actors(self.actor_count(calls))

    @property
    def model_name(self) -> str:
        """The speech model's name (as reports record it)."""
        return self._model_name or ""

    def describe(self) -> str:
        """One line about where calls run."""
        nodes = len([n for n in self.ray.nodes() if n.get("Alive")])
        return (f"Ray cluster {self.address or '(local)'}: {nodes} node(s), {self.cluster_cpus():g} CPU(s); "
                f"{len(self.actors)} actor(s) x {self.options.actor_cpus:g} CPU"
                + (f" + {self.options.actor_gpus:g} GPU" if self.options.actor_gpus else ""))

    def results(self, jobs: Iterable[tuple[str, str]], on_dispatch: Callable[[str, str], None]) -> Iterator[CallResult]:
        """Analyse ``(key, source)`` jobs on the actors, yielding results as they finish.

        Results come back in completion order, not submission order.
        """
        ray = self.ray
        todo = deque(jobs)
        self.prepare(len(todo))
        pending: dict = {}  # object ref -> (actor index, key, source)
        load = [0] * len(self.actors)

        def submit(i: int) -> None:
            key, source = todo.popleft()
            ref = self.actors[i].analyze.remote(key, source)
            pending[ref] = (i, key, source)
            load[i] += 1
            on_dispatch(key, f"actor-{i}")

        for _ in range(IN_FLIGHT_PER_ACTOR):
            for i in range(len(self.actors)):
                if todo:
                    submit(i)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            i, key, source = pending.pop(ref)
            load[i] -= 1
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 — the actor died twice: this call failed
                result = CallResult(key, error=f"{source}: the Ray worker failed: {_one_line(exc)}", worker=f"actor-{i}")
            if todo:
                submit(i)
            yield result

    def close(self) -> None:
        """Stop the actors (and Ray, if this engine started it)."""
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001 — already gone
                pass
        self.actors = []
        if self._started_here:
            self.ray.shutdown()
            self._started_here = False


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else text)[:300]
