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
from typing import TYPE_CHECKING, Callable

from voicemon.audio.segmenter import UtteranceSegmenter
from voicemon.config import Config
from voicemon.escalation.coach import Coach
from voicemon.escalation.conversation import ConversationCues
from voicemon.escalation.meter import EscalationMeter, MeterParams, load_meter_params
from voicemon.escalation.model_files import ModelFiles, model_files
from voicemon.escalation.text_cues import TextCueDetector
from voicemon.escalation.valence import WordValence
from voicemon.events import (
    AsrJob,
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
    """

    events: list[Event] = field(default_factory=list)
    jobs: list[AsrJob] = field(default_factory=list)
    watermark_s: float | None = None


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

    def acknowledge(self, prompt_id: str, action: str = "acknowledged") -> list[Event]:
        """The agent acted on or dismissed a prompt."""
        return [PromptAcknowledged(t=round(self.now_s, 3), prompt_id=prompt_id, action=action)]


class CallSession:
    """One call: feed chunks in time order, hand back ASR results, flush at the end.

    Args:
        roles: ``("agent", "customer")`` or ``("mixed",)``.
        config: options.
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

    def feed(self, chunk: AudioChunk) -> Step:
        """Take one party's next chunk; returns events and the jobs to transcribe."""
        step = self.signal.feed(chunk)
        return Step(events=self.interpret.consume(step), jobs=step.jobs, watermark_s=step.watermark_s)

    def feed_asr(self, job: AsrJob, words: list[Word]) -> list[Event]:
        """Take the words of a job returned by ``feed``/``flush``."""
        return self.interpret.feed_asr(job, words)

    def flush(self) -> Step:
        """End of the call: close open utterances and emit the last readings."""
        step = self.signal.flush()
        return Step(events=self.interpret.consume(step), jobs=step.jobs, watermark_s=step.watermark_s)
