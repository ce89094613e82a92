"""Running the real stages for evaluation: signal once, interpret many times.

The signal half of a call (segmentation and prosody, :class:`~voicemon.session.SignalStages`)
never depends on the meter's fusion weights, so the harness runs it once per call and channel
condition, keeps the :class:`~voicemon.session.Step` list, and folds it through the
interpreting half (:class:`~voicemon.session.InterpretStages`) for every parameter set it
compares — the same order :func:`voicemon.offline.analyze_audio` uses, so a fold with the
default parameters gives exactly the events ``voicemon analyze`` gives.

The reference detector ("baseline") is the same meter fed nothing but the loudness z-score of
the speaker's own baseline (no other prosody, no text or conversational cues), with a fixed
weight so that it reaches *heated* when the speaker is :data:`BASELINE_HEATED_Z` sigma louder
than their own opening.
"""

from __future__ import annotations

import dataclasses
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from voicemon.config import Config
from voicemon.escalation.meter import EscalationMeter, MeterParams
from voicemon.events import AsrJob, EscalationReading, Event, ProsodyFrame, Word
from voicemon.session import InterpretStages, SignalStages, Step, call_roles, fold

SAMPLE_RATE_HZ = 16000
BASELINE_HEATED_Z = 2.0
"""Loudness above the speaker's own baseline, in sigma, at which the reference detector is heated."""
BASELINE_BIAS = -2.45
"""Reference detector's logit at the speaker's own normal (score 8, calm)."""


@dataclass
class SignalRun:
    """The signal half of one call.

    Attributes:
        roles: the call's roles.
        steps: what the signal stages produced per chunk (ASR jobs kept only with ASR).
        words: words per ASR job id (None when ASR was skipped).
        duration_s: audio length.
        signal_cpu_s: CPU time spent in the signal stages.
        asr_s: time spent transcribing.
        diarized: a mono call split into agent and customer (as ``voicemon analyze`` does).
    """

    roles: tuple[str, ...]
    steps: list[Step]
    words: dict[str, list[Word] | Exception] | None
    duration_s: float
    signal_cpu_s: float
    asr_s: float = 0.0
    diarized: bool = False

    def frames(self) -> list[ProsodyFrame]:
        """Every prosody frame, in time order."""
        return [e for s in self.steps for e in s.events if isinstance(e, ProsodyFrame)]


def run_signal(signals: dict[str, np.ndarray], config: Config, params: MeterParams,
               transcriber=None, asr_workers: int = 1, diarize: bool = False) -> SignalRun:
    """Segment, measure and (optionally) transcribe one call.

    Args:
        signals: role -> 16 kHz float32 samples (``mixed``, or ``agent`` and ``customer``).
        config: options.
        params: meter parameters (the prosody priors come from here).
        transcriber: a :class:`~voicemon.asr.transcriber.Transcriber`, or None to skip ASR.
        asr_workers: utterances transcribed at once.
        diarize: split a mono call into agent and customer first with the global step
            ``voicemon analyze`` takes (:func:`voicemon.offline.plan_speakers`), but without its
            word-level resegmentation: each role's utterances are transcribed on their own; the
            agent is chosen from the words (the first speaker without transcription), or as
            ``diarization.agent_speaker`` says.

    Returns:
        The recorded steps and, with a transcriber, each job's words.
    """
    from voicemon.audio.decode import DecodedAudio, iter_chunks

    roles = call_roles(list(signals))
    audio = DecodedAudio(signals=signals, source_rate_hz=SAMPLE_RATE_HZ, source_channels=len(signals), source_format="eval")
    router = None
    if diarize:
        from voicemon.audio.diarize import SpeakerRouter
        from voicemon.offline import plan_speakers

        dia = plan_speakers(audio, config)
        if dia is not None and dia.n_speakers == 2:
            roles = ("agent", "customer")
            router = SpeakerRouter(dia, roles)
    signal = SignalStages(roles, config, params, router)
    started = time.process_time()
    steps = [signal.feed(chunk) for chunk in iter_chunks(audio, config.audio.chunk_ms)]
    steps.append(signal.flush())
    signal_cpu_s = time.process_time() - started
    words = None
    asr_s = 0.0
    if transcriber is not None:
        started = time.perf_counter()
        words = transcribe_jobs([j for s in steps for j in s.jobs], transcriber, asr_workers)
        asr_s = time.perf_counter() - started
    if router is not None:
        from voicemon.offline import assign_agent

        _, steps, renamed = assign_agent(steps, lambda job_id: (words or {}).get(job_id), config.diarization.agent_speaker)
        if renamed and words is not None:
            words = {new: words[old] for new, old in renamed.items() if old in words}
    if words is None:
        steps = [Step(events=s.events, jobs=[], watermark_s=s.watermark_s) for s in steps]
    return SignalRun(roles, steps, words, audio.duration_s, signal_cpu_s, asr_s, diarized=router is not None)


def transcribe_jobs(jobs: list[AsrJob], transcriber, workers: int) -> dict[str, list[Word] | Exception]:
    """Words of every job (an exception in place of the words of a job that failed)."""
    from voicemon.asr.transcriber import transcribe_or_error

    def one(job: AsrJob) -> tuple[str, list[Word] | Exception]:
        return job.job_id, transcribe_or_error(transcriber, job)

    if workers <= 1:
        return dict(map(one, jobs))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, jobs))


def interpret(run: SignalRun, config: Config, params: MeterParams) -> list[Event]:
    """Fold a call's signal steps (and words) through the interpreting stages.

    Returns:
        Every event, in the order :func:`voicemon.offline.analyze_audio` produces them.
    """
    words = run.words or {}
    return fold(InterpretStages(run.roles, config, params), run.steps, lambda job: words.get(job.job_id, []))


def baseline_params(params: MeterParams) -> MeterParams:
    """The reference detector: loudness z only, heated at :data:`BASELINE_HEATED_Z` sigma."""
    heated_logit = math.log(params.thresholds["heated"] / (100.0 - params.thresholds["heated"]))
    weight = (heated_logit - BASELINE_BIAS) / BASELINE_HEATED_Z
    return dataclasses.replace(params, bias=BASELINE_BIAS, weights={"loudness": round(weight, 4)})


def bare_meter(run: SignalRun, params: MeterParams, readings_hz: float) -> list[EscalationReading]:
    """Readings of a meter fed only the call's prosody frames (no cues of any kind)."""
    meter = EscalationMeter(run.roles, params, readings_hz)
    out: list[EscalationReading] = []
    for step in run.steps:
        for event in step.events:
            if isinstance(event, ProsodyFrame):
                meter.add_frame(event)
        if step.watermark_s is not None:
            out.extend(meter.advance(step.watermark_s))
    return out


def readings_of(events: list[Event], role: str) -> list[EscalationReading]:
    """The meter readings of one role."""
    return [e for e in events if isinstance(e, EscalationReading) and e.role == role]
