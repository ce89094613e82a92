"""One Whisper worker pool shared by every live call in the process.

Live calls submit :class:`~voicemon.events.AsrJob` objects and get an asyncio future back. A few
worker threads run them (CTranslate2 releases the GIL, so the event loop keeps serving audio and
meter readings while Whisper works). When the pool falls behind it degrades instead of building
an ever longer queue:

* a worker takes *all* queued final jobs of the same call and party (up to ``max_batch_s`` of
  audio) and transcribes them as one longer input, separated by short silences, then splits the
  words back to their utterances — one encoder pass instead of several;
* interim (tentative) jobs are only accepted while a worker is free;
* a call whose queued audio exceeds ``max_backlog_s`` has its oldest queued utterances dropped
  (their futures raise :class:`AsrDropped`), so memory and delay stay bounded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Hashable

import numpy as np

from voicemon.asr.transcriber import Transcriber
from voicemon.errors import AsrDropped
from voicemon.events import SAMPLE_RATE_HZ, AsrJob, Word

log = logging.getLogger(__name__)

GAP_S = 0.5
"""Silence put between utterances transcribed together."""


@dataclass
class _Entry:
    key: Hashable
    job: AsrJob
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    submitted: float = field(default_factory=time.monotonic)


@dataclass
class PoolStats:
    """Counters of a pool's work since it started."""

    jobs_done: int = 0
    batches: int = 0
    merged_jobs: int = 0
    dropped_jobs: int = 0
    interim_refused: int = 0
    busy_s: float = 0.0
    audio_s: float = 0.0


def split_batch_words(words: list[Word], lengths_s: list[float], gap_s: float = GAP_S) -> list[list[Word]]:
    """Split the words of concatenated utterances back to each utterance.

    Args:
        words: words with times relative to the start of the concatenation.
        lengths_s: length of each utterance, in order.
        gap_s: silence between them.

    Returns:
        For each utterance, its words with times relative to that utterance's start (a word is
        assigned by its midpoint; times are clipped to the utterance).
    """
    starts: list[float] = []
    t = 0.0
    for length in lengths_s:
        starts.append(t)
        t += length + gap_s
    out: list[list[Word]] = [[] for _ in lengths_s]
    for w in words:
        mid = 0.5 * (w.start + w.end)
        i = max(0, min(len(starts) - 1, sum(1 for s in starts[1:] if mid >= s - gap_s / 2)))
        length = lengths_s[i]
        start = min(max(w.start - starts[i], 0.0), length)
        end = min(max(w.end - starts[i], start), length)
        out[i].append(Word(start=start, end=end, text=w.text, probability=w.probability))
    return out


class AsrPool:
    """Whisper jobs of all calls, run by ``workers`` threads.

    Args:
        transcriber: the shared model (must accept ``workers`` concurrent calls).
        workers: worker threads.
        max_batch_s: most audio merged into one transcription when behind.
        max_backlog_s: most queued audio per call before the oldest is dropped.
    """

    def __init__(self, transcriber: Transcriber, workers: int = 1, max_batch_s: float = 24.0,
                 max_backlog_s: float = 90.0) -> None:
        self.transcriber = transcriber
        self.workers = max(1, workers)
        self.max_batch_s = max_batch_s
        self.max_backlog_s = max_backlog_s
        self.stats = PoolStats()
        self._queue: deque[_Entry] = deque()
        self._cond = threading.Condition()
        self._busy = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"voicemon-asr-{i}", daemon=True) for i in range(self.workers)
        ]
        for th in self._threads:
            th.start()

    # -- submitting ------------------------------------------------------------------------

    def submit(self, key: Hashable, job: AsrJob) -> asyncio.Future | None:
        """Queue a job; call from the event loop.

        Args:
            key: the call the job belongs to (batches never mix calls).
            job: the utterance.

        Returns:
            A future of the job's words (times relative to the job's audio), or ``None`` for an
            interim job refused because every worker is busy.
        """
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._closed:
                raise RuntimeError("the ASR pool is closed")
            if not job.final and (self._busy + len(self._queue) >= self.workers):
                self.stats.interim_refused += 1
                return None
            future = loop.create_future()
            self._queue.append(_Entry(key, job, future, loop))
            self._enforce_backlog(key)
            self._cond.notify()
        return future

    def backlog_s(self, key: Hashable | None = None, min_wait_s: float = 0.0) -> float:
        """Seconds of audio queued and not yet started.

        Args:
            key: one call's jobs only (default: all).
            min_wait_s: count only jobs that have waited at least this long.
        """
        now = time.monotonic()
        with self._cond:
            return sum(len(e.job.samples) for e in self._queue
                       if (key is None or e.key == key) and now - e.submitted >= min_wait_s) / SAMPLE_RATE_HZ

    def close(self) -> None:
        """Stop the workers after the jobs they are running; queued jobs are cancelled."""
        with self._cond:
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for e in pending:
            e.loop.call_soon_threadsafe(_cancel, e.future)
        for th in self._threads:
            th.join(timeout=30)

    # -- internals -------------------------------------------------------------------------

    def _enforce_backlog(self, key: Hashable) -> None:
        queued = [e for e in self._queue if e.key == key]
        total = sum(len(e.job.samples) for e in queued) / SAMPLE_RATE_HZ
        for e in queued:
            if total <= self.max_backlog_s:
                break
            self._queue.remove(e)
            total -= len(e.job.samples) / SAMPLE_RATE_HZ
            self.stats.dropped_jobs += 1
            e.loop.call_soon_threadsafe(_fail, e.future, AsrDropped(
                f"{e.job.utterance_id} dropped: more than {self.max_backlog_s:.0f} s of audio waiting"))

    def _take_batch(self) -> list[_Entry]:
        first = self._queue.popleft()
        batch = [first]
        if not first.job.final:
            return batch
        total = len(first.job.samples) / SAMPLE_RATE_HZ
        for e in list(self._queue):
            if e.key != first.key or e.job.role != first.job.role or not e.job.final:
                continue
            length = len(e.job.samples) / SAMPLE_RATE_HZ
            if total + GAP_S + length > self.max_batch_s:
                break
            self._queue.remove(e)
            batch.append(e)
            total += GAP_S + length
        return batch

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                batch = self._take_batch()
                self._busy += 1
            started = time.monotonic()
            try:
                results = self._run(batch)
            except Exception as exc:  # one failed transcription must not stop the pool
                log.warning("transcription failed: %s", exc)
                results = [exc] * len(batch)
            with self._cond:
                self._busy -= 1
                self.stats.busy_s += time.monotonic() - started
                self.stats.jobs_done += len(batch)
                self.stats.batches += 1
                self.stats.merged_jobs += len(batch) - 1
                self.stats.audio_s += sum(len(e.job.samples) for e in batch) / SAMPLE_RATE_HZ
            for e, result in zip(batch, results):
                if isinstance(result, Exception):
                    e.loop.call_soon_threadsafe(_fail, e.future, result)
                else:
                    e.loop.call_soon_threadsafe(_resolve, e.future, result)

    def _run(self, batch: list[_Entry]) -> list[list[Word]]:
        if len(batch) == 1:
            return [self.transcriber.transcribe(batch[0].job.samples)]
        gap = np.zeros(int(GAP_S * SAMPLE_RATE_HZ), np.float32)
        parts: list[np.ndarray] = []
        for i, e in enumerate(batch):
            if i:
                parts.append(gap)
            parts.append(e.job.samples.astype(np.float32, copy=False))
        words = self.transcriber.transcribe(np.concatenate(parts))
        return split_batch_words(words, [len(e.job.samples) / SAMPLE_RATE_HZ for e in batch])


def _resolve(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _cancel(future: asyncio.Future) -> None:
    if not future.done():
        future.cancel()
