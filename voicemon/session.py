"""One call's stages wired together (DESIGN.md §1).

The session is split in two synchronous halves:

* :class:`SignalStages` reads audio only: per-party utterance segmentation (which produces the
  Whisper jobs) and prosody. Nothing it does depends on transcripts.
* :class:`InterpretStages` turns signal events, transcripts and the advancing media time into
  cues, meter readings and coaching prompts.

:class:`CallSession` chains them for live use: ``feed(chunk)`` returns events plus ASR jobs, and
the driver hands each job's words back with ``feed_asr``. Because the signal half never waits for
text, the offline driver may run it over a whole file first, transcribe every job in parallel, and
then fold the recorded steps through the interpreting half with each job's words placed exactly
where lockstep replay would place them; the outputs are equal event for event.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from voicemon.audio.segmenter import UtteranceSegmenter
from voicemon.config import Config
from voicemon.errors import AsrDropped
from voicemon.escalation.coach import Coach
from voicemon.escalation.conversation import ConversationCues
from voicemon.escalation.meter import EscalationMeter, MeterParams, load_meter_params
from voicemon.escalation.model_files import ModelFiles, model_files
from voicemon.escalation.text_cues import TextCueDetector
from voicemon.escalation.valence import WordValence
from voicemon.events import (
    AsrJob,
    AsrStatus,
    AudioChunk,
    Cue,
    Event,
    ProsodyFrame,
    PromptAcknowledged,
    SpeechEnded,
    SpeechStarted,
    StageError,
    TranscriptUpdate,
    Word,
    caller_role,
)
from voicemon.prosody.tracker import ProsodyTracker
from voicemon.redact.stage import Redactor

if TYPE_CHECKING:
    from voicemon.audio.diarize import SpeakerRouter


@dataclass
class Step:
    """What one call to ``feed``/``flush`` produced.

    Attributes:
        events: events in the order they happened.
        jobs: utterances to transcribe; hand each one's words back with ``feed_asr``.
        watermark_s: media time every party has reached (``None`` if it did not advance).
        cancel: ids of interim jobs no longer wanted (a final job of their utterance was issued,
            or the call ended); a driver may cancel them, and their words are ignored if they
            come (only :class:`CallSession` fills this).
    """

    events: list[Event] = field(default_factory=list)
    jobs: list[AsrJob] = field(default_factory=list)
    watermark_s: float | None = None
    cancel: list[str] = field(default_factory=list)


def call_roles(signal_roles: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Roles of a call from its channels: ``(agent, customer)`` or ``(mixed,)``."""
    roles = tuple(signal_roles)
    if set(roles) == {"agent", "customer"}:
        return ("agent", "customer")
    if roles == ("mixed",):
        return roles
    raise ValueError(f"a call has roles agent+customer or mixed, not {roles}")


class SignalStages:
    """Audio-only stages of every party: (diarization,) segmentation and prosody.

    Args:
        roles: the call's roles.
        config: options.
        params: meter parameters (for the prosody priors).
        router: for a diarized mono call, the stage that splits each ``mixed`` chunk into one
            chunk per role (DESIGN.md §11); ``None`` for stereo and undiarized mono calls.
    """

    def __init__(self, roles: tuple[str, ...], config: Config, params: MeterParams,
                 router: SpeakerRouter | None = None) -> None:
        self.roles = roles
        self.router = router
        self.segmenters = {r: UtteranceSegmenter(r, config.segmenter) for r in roles}
        self.trackers = {r: ProsodyTracker(r, config.prosody, params.priors) for r in roles}
        self._time_s = {r: 0.0 for r in roles}
        self._watermark_s = 0.0

    def feed(self, chunk: AudioChunk) -> Step:
        """Take one party's next chunk (or, with a router, the next ``mixed`` chunk)."""
        if self.router is not None and chunk.role == "mixed":
            step = Step()
            for part in self.router.feed(chunk):
                sub = self.feed(part)
                step.events.extend(sub.events)
                step.jobs.extend(sub.jobs)
                step.watermark_s = sub.watermark_s if sub.watermark_s is not None else step.watermark_s
            step.events.sort(key=lambda e: e.t)
            return step
        if chunk.role not in self.segmenters:
            raise ValueError(f"this call has roles {self.roles}, not {chunk.role!r}")
        seg_events, jobs = self.segmenters[chunk.role].feed(chunk)
        speaking = self.segmenters[chunk.role].in_speech or bool(seg_events)
        frames = self.trackers[chunk.role].feed(chunk, speaking)
        self._time_s[chunk.role] = chunk.t1
        events: list[Event] = [*seg_events, *frames]
        events.sort(key=lambda e: e.t)
        wm = min(self._time_s.values())
        step = Step(events=events, jobs=jobs)
        if wm > self._watermark_s:
            self._watermark_s = wm
            step.watermark_s = wm
        return step

    def flush(self) -> Step:
        """End of the call: close open utterances."""
        step = Step()
        for seg in self.segmenters.values():
            events, jobs = seg.flush()
            step.events.extend(events)
            step.jobs.extend(jobs)
        end = max(self._time_s.values())
        if end > self._watermark_s:
            self._watermark_s = end
            step.watermark_s = end
        return step


def _swap_name(name: str, swap: dict[str, str]) -> str:
    head, sep, rest = name.partition("-")
    return swap[head] + sep + rest if head in swap else name


def swap_roles(step: Step, swap: dict[str, str]) -> Step:
    """The same signal step with roles renamed (e.g. agent <-> customer).

    The signal stages treat every role alike, so this equals running them with the roles of a
    diarized call's speakers the other way round (tests/test_diarization.py checks it); the
    offline driver uses it once the words have said which speaker is the agent.

    Args:
        step: what :class:`SignalStages` produced.
        swap: old role -> new role.
    """
    events: list[Event] = [dataclasses.replace(e, role=swap.get(e.role, e.role)) if hasattr(e, "role") else e  # type: ignore[arg-type]
                           for e in step.events]
    jobs = [dataclasses.replace(j, role=swap.get(j.role, j.role), job_id=_swap_name(j.job_id, swap),
                                utterance_id=_swap_name(j.utterance_id, swap)) for j in step.jobs]
    return Step(events=events, jobs=jobs, watermark_s=step.watermark_s)


class InterpretStages:
    """Cues, meter and coach.

    Args:
        roles: the call's roles.
        config: options.
        params: meter parameters.
        models: the lexicon and playbook (default: ``config``'s, parsed once per process by
            :func:`~voicemon.escalation.model_files.model_files`).
    """

    def __init__(self, roles: tuple[str, ...], config: Config, params: MeterParams,
                 models: ModelFiles | None = None) -> None:
        models = models or model_files(config)
        self.roles = roles
        self.now_s = 0.0
        self.conversation = ConversationCues(roles, config.cues)
        self.redactor = Redactor(config.redact)
        self.text_cues = TextCueDetector(dict(models.lexicon), fuzzy=config.cues.fuzzy_phrases)
        self.valence = WordValence()
        self.meter = EscalationMeter(roles, params, config.meter.readings_hz)
        caller = caller_role(roles)
        self.coach = Coach(list(models.playbook), caller, None if caller == "mixed" else "agent")

    def _cue(self, cue: Cue, out: list[Event]) -> None:
        out.append(cue)
        self.meter.add_cue(cue)
        out.extend(self.coach.on_cue(cue, self.now_s))

    def consume(self, step: Step) -> list[Event]:
        """Take what the signal stages produced for one chunk (jobs are ignored here)."""
        out: list[Event] = []
        for event in step.events:
            out.append(event)
            if isinstance(event, (SpeechStarted, SpeechEnded)):
                for cue in self.conversation.feed(event):
                    self._cue(cue, out)
            elif isinstance(event, ProsodyFrame):
                self.meter.add_frame(event)
        if step.watermark_s is not None:
            self.now_s = step.watermark_s
            for cue in self.conversation.advance(self.now_s):
                self._cue(cue, out)
            for reading in self.meter.advance(self.now_s):
                out.append(reading)
                out.extend(self.coach.on_reading(reading))
        return out

    def feed_asr(self, job: AsrJob, words: list[Word]) -> list[Event]:
        """Take the words of a finished job (times in media time).

        The words go through the redactor first (DESIGN.md §12): nothing built from them — the
        update, cues, valence, reports, the feed — ever holds the PII it replaced.
        """
        words = self.redactor.feed(job.role, words, final=job.final)
        update = TranscriptUpdate(
            t=round(max(self.now_s, job.end_s), 3), role=job.role, utterance_id=job.utterance_id,
            start=round(words[0].start if words else job.start_s, 3), end=round(words[-1].end if words else job.end_s, 3),
            text=" ".join(w.text for w in words), words=tuple(words), final=job.final,
        )
        out: list[Event] = [update]
        for cue in sorted(self.text_cues.feed(update) + self.valence.feed(update), key=lambda c: c.t):
            self._cue(cue, out)
        return out

    def consume_with_results(self, step: Step, result_of: Callable[[AsrJob], list[Word] | Exception]) -> list[Event]:
        """:meth:`consume` a step, then feed each of its jobs' words in order.

        Args:
            step: what the signal stages produced for one chunk.
            result_of: the words of a job, or the exception its transcription raised (logged as a
                non-fatal ``asr`` :class:`StageError`; the utterance then has no text).
        """
        out = self.consume(step)
        for job in step.jobs:
            result = result_of(job)
            if isinstance(result, Exception):
                out.append(StageError(t=self.now_s, stage="asr", message=f"{job.utterance_id}: {result}", fatal=False))
                result = []
            out.extend(self.feed_asr(job, result))
        return out

    def acknowledge(self, prompt_id: str, action: str = "acknowledged",
                    by: dict[str, Any] | None = None) -> list[Event]:
        """The agent acted on or dismissed a prompt.

        Args:
            prompt_id: the prompt.
            action: ``acknowledged`` or ``dismissed``.
            by: who acted (default: an agent view, ``{"role": "agent", "agent_id": None}``).
        """
        if by is None:
            return [PromptAcknowledged(t=round(self.now_s, 3), prompt_id=prompt_id, action=action)]
        return [PromptAcknowledged(t=round(self.now_s, 3), prompt_id=prompt_id, action=action, by=dict(by))]


def fold(stages: InterpretStages, steps: Iterable[Step], result_of: Callable[[AsrJob], list[Word] | Exception],
         on_step: Callable[[Step], None] | None = None) -> list[Event]:
    """Fold recorded signal steps through the interpreting stages, each job's words in place.

    The one fold of the project: ``analyze`` (:func:`voicemon.offline.analyze_audio`), ``eval``
    (:func:`voicemon.eval.pipeline.interpret`) and calibration run it over the steps of a whole
    call; the live driver produces the same sequence one chunk at a time (lockstep replay
    equals it event for event).

    Args:
        stages: the interpreting stages (fresh for each fold).
        steps: what :class:`SignalStages` produced, in order.
        result_of: the words of a job in call time, or the exception its transcription raised.
        on_step: called after each step (progress).
    """
    events: list[Event] = []
    for step in steps:
        events.extend(stages.consume_with_results(step, result_of))
        if on_step is not None:
            on_step(step)
    return events


class CallSession:
    """One call: feed chunks in time order, hand back ASR results, flush at the end.

    Besides chaining the two halves, the session owns the policies a live driver would
    otherwise reimplement (DESIGN.md §1): when to ask for interim (tentative) text, in media
    time; which interim job a final job supersedes; moving words from job-relative to call
    time; what a failed transcription logs; prompt acknowledgements. A driver only submits
    the jobs it is given, hands back what they gave (:meth:`feed_job_result`) and cancels
    what :attr:`Step.cancel` names.

    Args:
        roles: ``("agent", "customer")`` or ``("mixed",)``.
        config: options (``config.live.interim_interval_s``: interim text cadence).
        params: meter parameters (default: loaded from ``config.meter.params``).
        router: splits ``mixed`` chunks of a diarized mono call into agent and customer chunks.
    """

    def __init__(self, roles: tuple[str, ...], config: Config, params: MeterParams | None = None,
                 router: SpeakerRouter | None = None) -> None:
        self.roles = call_roles(roles)
        self.config = config
        self.params = params or load_meter_params(config.meter.params)
        self.signal = SignalStages(self.roles, config, self.params, router)
        self.interpret = InterpretStages(self.roles, config, self.params)
        self.interim_interval_s = config.live.interim_interval_s
        self.media_s = 0.0
        """Media time the call has reached (the end of the latest chunk of any party)."""
        self._open_finals = {r: 0 for r in self.roles}
        self._interim: dict[str, AsrJob | None] = {r: None for r in self.roles}
        self._last_interim_s = {r: 0.0 for r in self.roles}
        self._flushed = False

    def feed(self, chunk: AudioChunk) -> Step:
        """Take one party's next chunk; returns events and the jobs to transcribe."""
        step = self.signal.feed(chunk)
        self.media_s = max(self.media_s, chunk.t1)
        return self._issue(Step(events=self.interpret.consume(step), jobs=step.jobs, watermark_s=step.watermark_s))

    def feed_asr(self, job: AsrJob, words: list[Word]) -> list[Event]:
        """Take the words of a job returned by ``feed``/``flush``, already in call time.

        Drivers that get words timed from the job's start (as Whisper gives them) use
        :meth:`feed_job_result`, which also keeps the interim bookkeeping.
        """
        return self.interpret.feed_asr(job, words)

    def feed_job_result(self, job: AsrJob, result: Sequence[Word] | BaseException) -> list[Event]:
        """Take what transcribing a job gave: its words timed from the job's first sample, or
        the exception it raised.

        The words are moved to call time here. A final job that failed logs why — an
        :class:`~voicemon.events.AsrStatus` ``dropped`` for
        :class:`~voicemon.errors.AsrDropped`, a non-fatal ``asr``
        :class:`~voicemon.events.StageError` otherwise — and its utterance has no text. An
        interim job that failed, was superseded by its final job or comes after the end of the
        call is dropped without a word.

        Args:
            job: a job this session issued (from ``feed``, ``flush`` or :meth:`interim_jobs`).
            result: the recogniser's words (times relative to the job) or its exception.
        """
        if not job.final:
            if self._interim.get(job.role) is not job:
                return []  # superseded, or not ours
            self._interim[job.role] = None
            if isinstance(result, BaseException) or self._flushed or not result:
                return []
            return self.interpret.feed_asr(job, job.in_call_time(result))
        self._open_finals[job.role] = max(0, self._open_finals.get(job.role, 0) - 1)
        if isinstance(result, BaseException):
            return [self._failure(job, result), *self.interpret.feed_asr(job, [])]
        return self.interpret.feed_asr(job, job.in_call_time(result))

    def interim_jobs(self) -> list[AsrJob]:
        """Interim (tentative-text) jobs due at the media time reached, at most one per party.

        A party gets one while it speaks, when none of its final or interim jobs is
        outstanding, its last interim job was issued ``interim_interval_s`` of media time ago or
        more, and its open utterance is at least that long. Hand each job's outcome back with
        :meth:`feed_job_result` (a job the driver could not run: any exception).
        """
        interval = self.interim_interval_s
        if interval <= 0 or self._flushed:
            return []
        jobs: list[AsrJob] = []
        for role, seg in self.signal.segmenters.items():
            if not seg.in_speech or self._interim[role] is not None or self._open_finals[role]:
                continue
            if self.media_s - self._last_interim_s[role] < interval:
                continue
            job = seg.snapshot()
            if job is None or job.end_s - job.start_s < interval:
                continue
            self._last_interim_s[role] = self.media_s
            self._interim[role] = job
            jobs.append(job)
        return jobs

    def acknowledge(self, prompt_id: str, action: str = "acknowledged",
                    by: dict[str, Any] | None = None) -> list[Event]:
        """The agent acted on or dismissed a prompt (see :meth:`InterpretStages.acknowledge`)."""
        return self.interpret.acknowledge(prompt_id, action, by)

    def flush(self) -> Step:
        """End of the call: close open utterances and emit the last readings; every interim
        job still outstanding is cancelled."""
        step = self.signal.flush()
        out = self._issue(Step(events=self.interpret.consume(step), jobs=step.jobs, watermark_s=step.watermark_s))
        self._flushed = True
        for role, pending in self._interim.items():
            if pending is not None:
                out.cancel.append(pending.job_id)
                self._interim[role] = None
        return out

    def _issue(self, step: Step) -> Step:
        """Count the step's final jobs as outstanding; cancel the interim jobs they supersede."""
        for job in step.jobs:
            self._open_finals[job.role] = self._open_finals.get(job.role, 0) + 1
            pending = self._interim.get(job.role)
            if pending is not None and pending.utterance_key == job.utterance_key:
                step.cancel.append(pending.job_id)
                self._interim[job.role] = None
        return step

    def _failure(self, job: AsrJob, exc: BaseException) -> Event:
        if isinstance(exc, AsrDropped):
            return AsrStatus(t=round(self.media_s, 3), role=job.role, state="dropped", message=str(exc))
        detail = str(exc) or ("cancelled" if type(exc).__name__ == "CancelledError" else type(exc).__name__)
        return StageError(t=self.media_s, stage="asr", message=f"{job.utterance_id}: {detail}", fatal=False)
