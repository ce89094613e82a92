"""The live driver: one call's :class:`~voicemon.session.CallSession` on an asyncio loop.

Audio chunks go through the synchronous stages as they arrive, so prosody, cues, meter readings
and prompts come out of :meth:`LiveCall.feed` at once; Whisper jobs go to the process's shared
:class:`~voicemon.live.asr_pool.AsrPool` and their words come back later, in media time, through
the same session. Transcription falling behind therefore never delays a meter reading.

Every event leaves as an :class:`~voicemon.events.Envelope`: the event (a dataclass) with
``call_id``, ``seq`` (1, 2, … per call) and ``wall`` (Unix time it was emitted), encoded to JSON
at most once whoever sends it. The call keeps its whole log of envelopes, from which the report
is built when it ends.

In *lockstep* mode (``replay --speed max``, the parity test) the driver waits for each chunk's
jobs before the next chunk, which reproduces ``voicemon analyze`` event for event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from voicemon.config import Config
from voicemon.escalation.meter import MeterParams, load_meter_params
from voicemon.events import (
    AsrJob,
    AsrStatus,
    AudioChunk,
    Envelope,
    EscalationReading,
    Event,
    StageError,
)
from voicemon.errors import AsrDropped
from voicemon.live.asr_pool import AsrPool
from voicemon.report.model import build_report
from voicemon.session import CallSession

log = logging.getLogger(__name__)

BEHIND_WAIT_S = 1.0
"""Queued audio counts as backlog once it has waited this long for a worker."""
EventSink = Callable[[Envelope], None]


@dataclass
class LatencyLog:
    """Wall-clock latencies measured by a live call, in seconds."""

    meter_s: list[float] = field(default_factory=list)
    transcript_s: list[float] = field(default_factory=list)


class LiveCall:
    """One call being monitored live.

    Args:
        call_id: the call's name in events and reports.
        roles: ``("agent", "customer")`` or ``("mixed",)``.
        config: options (``config.live``: interim text, backlog warnings, finishing).
        pool: the process's shared ASR pool.
        lockstep: wait for every chunk's transcriptions before the next chunk (the same events
            as ``analyze``; no interim text).
        params: meter parameters (default: from ``config``).
        sink: called with every event envelope, in ``seq`` order, on the loop.
        meta: extra report fields (``source``, ``audio``...).
        log: where envelopes are kept (default: a list in memory; the server passes a
            :class:`~voicemon.server.eventlog.DurableLog`, which keeps them on disk).
    """

    def __init__(self, call_id: str, roles: tuple[str, ...], config: Config, pool: AsrPool, *,
                 lockstep: bool = False, params: MeterParams | None = None,
                 sink: EventSink | None = None, meta: dict | None = None, log: list[Envelope] | None = None) -> None:
        self.call_id = call_id
        self.config = config
        self.pool = pool
        self.lockstep = lockstep
        self.options = config.live
        self.params = params or load_meter_params(config.meter.params)
        if tuple(roles) == ("mixed",):  # one channel: mixed until two voices are told apart
            from voicemon.live.mono import LiveMonoSession

            self.session: CallSession | LiveMonoSession = LiveMonoSession(config, self.params)
        else:
            self.session = CallSession(roles, config, self.params)
        self.sinks: list[EventSink] = [sink] if sink else []
        self.meta = dict(meta or {})
        self.log: list[Envelope] = [] if log is None else log
        self.latency = LatencyLog()
        self.started_wall = time.time()
        self.ended = False
        self._seq = 0
        self._media_s = 0.0
        roles_ever = ("mixed", "agent", "customer") if self.roles == ("mixed",) else self.roles
        self._finals: dict[str, list[tuple[AsrJob, asyncio.Future]]] = {r: [] for r in roles_ever}
        self._interim: dict[str, asyncio.Future] = {}
        self._behind = False
        self._pace_anchor: tuple[float, float, float] | None = None

    # -- input ---------------------------------------------------------------------------

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles scored now (a one-channel call turns from ``mixed`` to agent/customer)."""
        return self.session.roles

    @property
    def media_s(self) -> float:
        """Media time the call has reached."""
        return self._media_s

    def feed(self, chunk: AudioChunk, received: float | None = None) -> None:
        """Run one chunk through the stages and queue its transcriptions.

        Args:
            chunk: the next chunk of one party (chunks of each party in time order).
            received: ``time.perf_counter()`` when the chunk arrived (for latency figures).
        """
        if self.ended:
            raise RuntimeError(f"call {self.call_id} has ended")
        received = time.perf_counter() if received is None else received
        step = self.session.feed(chunk)
        self._media_s = max(self._media_s, chunk.t1)
        self._emit(step.events, received)
        self._cancel_interim(step.cancel)
        for job in step.jobs:
            self._submit_final(job)
        if not self.lockstep:
            for job in self.session.interim_jobs():
                self._submit_interim(job)
            self._report_backlog()

    async def settle(self) -> None:
        """Wait until every transcription queued so far has been folded in (lockstep)."""
        while any(self._finals.values()):
            futures = [f for q in self._finals.values() for _, f in q]
            await asyncio.wait(futures)
            await asyncio.sleep(0)

    def acknowledge(self, prompt_id: str, action: str = "acknowledged", by: dict | None = None) -> Envelope:
        """The agent acknowledged or dismissed a prompt; returns the logged envelope.

        Args:
            prompt_id: the prompt.
            action: ``acknowledged`` or ``dismissed``.
            by: who acted (``{"role": "agent", "agent_id": ...}``; default: an agent view).
        """
        self._emit(self.session.acknowledge(prompt_id, action, by))
        return self.log[-1]

    async def finish(self, report: bool = True) -> dict | None:
        """End the call: close open utterances, wait for the last words, build the report.

        Args:
            report: build and return the report (the server builds it off the loop instead).

        Returns:
            The call report (as ``voicemon analyze`` writes it) with ``events`` = the log, or
            ``None`` without ``report``.
        """
        if self.ended:
            return self.report() if report else None
        step = self.session.flush()
        self._emit(step.events, time.perf_counter())
        self._cancel_interim(step.cancel)
        for job in step.jobs:
            self._submit_final(job)
        try:
            await asyncio.wait_for(self.settle(), self.options.finish_timeout_s)
        except asyncio.TimeoutError:
            lost = sum(len(q) for q in self._finals.values())
            self._emit([StageError(t=self._media_s, stage="asr", fatal=False,
                                   message=f"{lost} utterance(s) not transcribed within {self.options.finish_timeout_s:.0f} s of the call's end")])
        self.ended = True
        return self.report() if report else None

    def report(self) -> dict:
        """The report of the call so far (final transcripts only)."""
        meta = {
            "source": self.meta.get("source", self.call_id),
            "call_id": self.call_id,
            "duration_s": round(self._media_s, 3),
            "roles": list(self.roles),
            "audio": self.meta.get("audio", {}),
            "metadata": self.meta.get("metadata") or {},
            "model": {"name": getattr(self.pool.transcriber, "name", "unknown")},
            "config": self.config.to_dict(),
        }
        if hasattr(self.session, "summary"):
            meta["diarization"] = self.session.summary()
        return build_report(self.log, meta, self.params)

    # -- output --------------------------------------------------------------------------

    def emit(self, events: list[Event]) -> None:
        """Log and publish events that come from outside the stages (call start/end)."""
        self._emit(events)

    def _emit(self, events: list[Event], received: float | None = None) -> None:
        for event in events:
            self._seq += 1
            env = Envelope.of(event, self.call_id, self._seq, time.time())
            self.log.append(env)
            if received is not None and isinstance(event, EscalationReading):
                self.latency.meter_s.append(time.perf_counter() - received)
            for sink in self.sinks:
                try:
                    sink(env)
                except Exception:  # a broken consumer must not stop the call
                    log.exception("event sink failed on call %s", self.call_id)

    # -- transcription -------------------------------------------------------------------

    def _submit_final(self, job: AsrJob) -> None:
        future = self.pool.submit(self.call_id, job)
        assert future is not None  # final jobs are always accepted
        self._finals[job.role].append((job, future))
        future.add_done_callback(lambda _f, role=job.role: self._deliver(role))

    def _deliver(self, role: str) -> None:
        """Fold finished final jobs of a party in order (a later one waits for earlier ones)."""
        queue = self._finals[role]
        while queue and queue[0][1].done():
            job, future = queue.pop(0)
            self._emit(self.session.feed_job_result(job, _outcome(future)))
            if self._pace_anchor is not None:
                self.latency.transcript_s.append(max(0.0, time.perf_counter() - self._speech_end_wall(job)))

    def _speech_end_wall(self, job: AsrJob) -> float:
        """perf_counter time at which the job's speech ended (its audio less the trailing pad)."""
        assert self._pace_anchor is not None
        wall0, media0, speed = self._pace_anchor
        return wall0 + (job.speech_end_s - media0) / speed

    def set_pace(self, wall0: float, media0: float = 0.0, speed: float = 1.0) -> None:
        """Tell the call how media time maps to ``perf_counter`` time (for transcript latency)."""
        self._pace_anchor = (wall0, media0, speed)

    def _submit_interim(self, job: AsrJob) -> None:
        future = self.pool.submit(self.call_id, job)
        if future is None:  # the pool is busy: no tentative text this time
            self.session.feed_job_result(job, AsrDropped("interim refused"))
            return
        self._interim[job.job_id] = future
        future.add_done_callback(lambda f, job=job: self._deliver_interim(job, f))

    def _deliver_interim(self, job: AsrJob, future: asyncio.Future) -> None:
        self._interim.pop(job.job_id, None)
        if not self.ended:
            self._emit(self.session.feed_job_result(job, _outcome(future)))

    def _cancel_interim(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            future = self._interim.pop(job_id, None)
            if future is not None:
                future.cancel()

    def _report_backlog(self) -> None:
        backlog = self.pool.backlog_s(self.call_id, min_wait_s=BEHIND_WAIT_S)
        if not self._behind and backlog > self.options.behind_s:
            self._behind = True
            self._emit([AsrStatus(t=round(self._media_s, 3), role="all", state="behind",
                                  message=f"transcription is {backlog:.1f} s of audio behind; utterances are merged and interim text is paused")])
        elif self._behind and backlog < self.options.behind_s / 4:
            self._behind = False
            self._emit([AsrStatus(t=round(self._media_s, 3), role="all", state="ok", message="transcription caught up")])


def _outcome(future: asyncio.Future) -> list | BaseException:
    """What a finished transcription future holds: its words, or why it has none."""
    if future.cancelled():
        return asyncio.CancelledError()
    exc = future.exception()
    return exc if exc is not None else future.result()


def warm_up(config: Config) -> None:
    """Load and compile what the stages use (librosa, numba kernels) before the first call.

    The first prosody window otherwise costs about a second of imports and JIT compilation,
    which a live call would see as a stalled meter.
    """
    import numpy as np

    from voicemon.events import SAMPLE_RATE_HZ

    rng = np.random.default_rng(0)
    t = np.arange(int(2.0 * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    tone = (0.1 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.001 * rng.standard_normal(len(t)))
    session = CallSession(("mixed",), config)
    step = max(1, int(SAMPLE_RATE_HZ * config.audio.chunk_ms / 1000))
    for start in range(0, len(t), step):
        session.feed(AudioChunk(samples=tone[start:start + step].astype(np.float32), start_sample=start, role="mixed"))
    session.flush()
