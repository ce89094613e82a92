"""A live one-channel call: one ``mixed`` meter until two voices are told apart, then two.

:class:`LiveMonoSession` has the interface :class:`~voicemon.live.runner.LiveCall` uses of a
:class:`~voicemon.session.CallSession` (``feed``, ``feed_asr``, ``flush``, ``signal``,
``interpret``, ``roles``). Inside it:

* an :class:`~voicemon.audio.diarize_online.OnlineSpeakerTracker` sees every chunk first;
* until it splits, chunks go to a ``mixed`` :class:`CallSession`, exactly as a mono call ran
  before (so a call that never splits gives the same events as ``voicemon analyze`` with one
  speaker, which the parity test holds);
* at the split the ``mixed`` session is flushed (its open utterance is transcribed as
  ``mixed``), which speaker is the agent is chosen from the words heard so far
  (:func:`~voicemon.audio.speaker_roles.choose_agent`, the same rules as offline), and an
  ``agent``/``customer`` session takes over from the split on: its readings start after the
  last ``mixed`` reading, its baselines start from the population priors, and nothing already
  emitted is changed.

Both changes are announced by a ``speakers`` event (:class:`~voicemon.events.SpeakersChanged`).
"""

from __future__ import annotations

from typing import Sequence

from voicemon.config import Config
from voicemon.escalation.meter import MeterParams
from voicemon.events import SAMPLE_RATE_HZ, AsrJob, AudioChunk, EscalationReading, Event, SpeakersChanged, Word
from voicemon.audio.diarize_online import mixed_speakers_event
from voicemon.session import CallSession, Step


class LiveMonoSession:
    """One live mono call (see the module doc).

    Args:
        config: options (``config.diarization.mode = off`` keeps the call ``mixed``).
        params: meter parameters.
    """

    def __init__(self, config: Config, params: MeterParams) -> None:
        from voicemon.audio.diarize_online import OnlineSpeakerTracker

        self.config = config
        self.params = params
        self.mixed = CallSession(("mixed",), config, params)
        self.split_session: CallSession | None = None
        self.tracker = (OnlineSpeakerTracker(config.diarization, config.segmenter)
                        if config.diarization.mode == "auto" else None)
        self.choice = None
        self._announced = False
        self._warmup_words: list[Word] = []
        self._split_t = 0.0

    # -- the CallSession interface LiveCall uses ---------------------------------------------

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles scored from now on."""
        return ("agent", "customer") if self.split_session is not None else ("mixed",)

    @property
    def _active(self) -> CallSession:
        return self.split_session if self.split_session is not None else self.mixed

    @property
    def signal(self):
        """The signal stages now in use (their segmenters drive interim text)."""
        return self._active.signal

    @property
    def interpret(self):
        """The interpreting stages now in use (prompt acknowledgements go here)."""
        return self._active.interpret

    def feed(self, chunk: AudioChunk) -> Step:
        """Take the next chunk of the one channel."""
        if chunk.role != "mixed":
            raise ValueError(f"a one-channel call takes mixed chunks, not {chunk.role!r}")
        for session in (self.mixed, self.split_session):  # one media clock for both phases
            if session is not None:
                session.media_s = max(session.media_s, chunk.t1)
        head: list[Event] = []
        if not self._announced:
            self._announced = True
            head.append(mixed_speakers_event())
        if self.tracker is None:
            step = self.mixed.feed(chunk)
            return Step(events=head + step.events, jobs=step.jobs, watermark_s=step.watermark_s, cancel=step.cancel)
        if self.split_session is None:
            parts = self.tracker.feed(chunk)
            step = self.mixed.feed(parts[0])
            step = Step(events=head + step.events, jobs=step.jobs, watermark_s=step.watermark_s, cancel=step.cancel)
            if self.tracker.split is not None:
                step = self._merge(step, self._start_split())
            return step
        return self._feed_parts(self.tracker.feed(chunk))

    @property
    def media_s(self) -> float:
        """Media time the call has reached."""
        return self.mixed.media_s

    def interim_jobs(self) -> list[AsrJob]:
        """Interim jobs due now (of the ``mixed`` party, or after the split of agent/customer)."""
        return self._active.interim_jobs()

    def feed_job_result(self, job: AsrJob, result: Sequence[Word] | BaseException) -> list[Event]:
        """Take what transcribing a job of either phase gave (words relative to the job)."""
        if job.role == "mixed":
            if self.split_session is None and job.final and not isinstance(result, BaseException):
                self._warmup_words.extend(job.in_call_time(result))
            return self.mixed.feed_job_result(job, result)
        assert self.split_session is not None
        return self.split_session.feed_job_result(job, result)

    def acknowledge(self, prompt_id: str, action: str = "acknowledged", by: dict | None = None) -> list[Event]:
        """The agent acted on or dismissed a prompt."""
        return self._active.acknowledge(prompt_id, action, by)

    def feed_asr(self, job: AsrJob, words: list[Word]) -> list[Event]:
        """Take the words of a finished job (of either phase)."""
        if job.role == "mixed":
            if self.split_session is None and job.final:
                self._warmup_words.extend(words)
            return self.mixed.feed_asr(job, words)
        return self.split_session.feed_asr(job, words)

    def flush(self) -> Step:
        """End of the call: release held audio and close open utterances."""
        if self.split_session is None:
            return self.mixed.flush()
        step = self._feed_parts(self.tracker.flush())
        return self._merge(step, self._drop_before_split(self.split_session.flush()))

    def summary(self) -> dict:
        """The report's ``diarization`` block for this call."""
        if self.tracker is None:
            return {"mode": "off", "speakers": 1}
        out = self.tracker.summary()
        if self.choice is not None:
            out["roles"] = self.choice.to_dict()
        return out

    # -- internals ---------------------------------------------------------------------------

    def _start_split(self) -> Step:
        from voicemon.audio.speaker_roles import choose_agent

        split = self.tracker.split
        self._split_t = split.t
        texts: tuple[list[str], list[str]] = ([], [])
        for w in self._warmup_words:
            k = split.speaker_at((w.start + w.end) / 2)
            if k is not None:
                texts[k].append(w.text)
        self.choice = choose_agent((" ".join(texts[0]), " ".join(texts[1])), self.config.diarization.agent_speaker)
        self.tracker.roles = ("agent", "customer") if self.choice.agent_speaker == 0 else ("customer", "agent")
        closing = self.mixed.flush()
        session = CallSession(("agent", "customer"), self.config, self.params)
        session.media_s = self.mixed.media_s
        n = int(round(split.t * SAMPLE_RATE_HZ))
        for role in ("agent", "customer"):  # the new stages' clocks start at the split
            session.signal.feed(AudioChunk(samples=_zeros(n), start_sample=0, role=role))
        session.interpret.consume(Step(watermark_s=split.t))  # readings up to the split stay mixed
        self.split_session = session
        who = "first" if self.choice.agent_speaker == 0 else "second"
        how = "set by agent_speaker" if self.choice.method == "flag" else f"from the words so far, confidence {self.choice.confidence:.0%}"
        announce = SpeakersChanged(
            t=split.t, roles=("agent", "customer"), state="split",
            message=(f"two voices told apart after {split.t:.1f} s (coherence {split.coherence:.2f}); "
                     f"agent = the {who} speaker ({how}); earlier readings stay mixed"))
        closing.events.append(announce)
        return closing

    def _feed_parts(self, parts: list[AudioChunk]) -> Step:
        step = Step()
        for part in parts:
            step = self._merge(step, self._drop_before_split(self.split_session.feed(part)))
        step.events.sort(key=lambda e: e.t)
        return step

    def _drop_before_split(self, step: Step) -> Step:
        events = [e for e in step.events if not (isinstance(e, EscalationReading) and e.t <= self._split_t)]
        return Step(events=events, jobs=step.jobs, watermark_s=step.watermark_s, cancel=step.cancel)

    @staticmethod
    def _merge(a: Step, b: Step) -> Step:
        return Step(events=a.events + b.events, jobs=a.jobs + b.jobs,
                    watermark_s=b.watermark_s if b.watermark_s is not None else a.watermark_s,
                    cancel=a.cancel + b.cancel)


def _zeros(n: int):
    import numpy as np

    return np.zeros(n, np.float32)
