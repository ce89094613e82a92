"""Offline analysis of a recorded call: a fold of the streaming stages over a file.

The signal stages run over the whole file first (they never depend on text), every utterance is
transcribed (in parallel when ``asr_workers`` > 1: a job's words depend only on its audio), and
then the recorded steps are folded through the interpreting stages with each job's words fed
right after the step that produced it — exactly the order of a lockstep live replay.

A mono call first takes one explicit global step live cannot take (DESIGN.md §11): it is
diarized over the whole file (:func:`voicemon.audio.diarize.diarize`). Its utterances are
transcribed as one ``mixed`` voice meanwhile (the same jobs a one-speaker call has, so a call
that stays one speaker loses nothing), the speakers are resegmented at word level with those
words (:func:`voicemon.audio.diarize.resegment_words`), and a
:class:`~voicemon.audio.diarize.SpeakerRouter` in the signal stages splits each mixed chunk into
an agent and a customer chunk. Each role's utterances then take their words from the mixed
transcription, word by word, by speaker (:func:`route_words`): nothing is transcribed twice,
and a word is never cut by a speaker boundary. Which speaker is the agent is decided from the words once every
utterance is transcribed (:func:`voicemon.audio.speaker_roles.choose_agent`); if it is the
second speaker, the recorded signal steps are relabelled (:func:`voicemon.session.swap_roles`)
before the fold, which equals running the signal stages with the roles the other way round.
"""

from __future__ import annotations

import os
import time

import numpy as np
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from voicemon.asr.transcriber import Transcriber, transcribe_or_error
from voicemon.audio.decode import DecodedAudio, iter_chunks, load_call_audio
from voicemon.config import Config
from voicemon.escalation.meter import MeterParams, load_meter_params
from voicemon.events import AsrJob, Event, Word
from voicemon.report.model import build_report
from voicemon.session import InterpretStages, SignalStages, Step, call_roles, fold, swap_roles


ProgressFn = Callable[[float, str], None]
"""Called with the fraction done (0–1) of the current file and a short phase name."""

SIGNAL_SHARE = 0.15
ASR_SHARE = 0.8


@dataclass
class Analysis:
    """What analysing one call produced.

    Attributes:
        events: the event log.
        roles: the roles the call was scored with.
        diarization: how a mono call's speakers were found and assigned (``None`` for stereo).
        router: the speaker router used (with the final roles), for a diarized call; its
            ``diarization`` holds the final, word-resegmented labels.
        params: the meter parameters the call was scored with (read once per call).
    """

    events: list[Event]
    roles: tuple[str, ...]
    diarization: dict | None = None
    router: object | None = field(default=None, repr=False)
    global_diarization: object | None = field(default=None, repr=False)
    """The global step's result before word-level resegmentation (mono calls)."""
    params: MeterParams | None = field(default=None, repr=False)


def plan_speakers(audio: DecodedAudio, config: Config):
    """The global diarization step of a mono call (``None`` for stereo or ``mode = off``)."""
    if list(audio.signals) != ["mixed"] or config.diarization.mode != "auto":
        return None
    from voicemon.audio.diarize import diarize

    return diarize(audio.signals["mixed"], config.diarization, config.segmenter)


def assign_agent(steps: list[Step], words_of: Callable[[str], object], override: str = "auto"):
    """Decide which diarized speaker is the agent and relabel the recorded steps to match.

    Args:
        steps: the signal steps of a diarized call (speaker 1 = ``agent``, speaker 2 = ``customer``).
        words_of: job id -> that job's words (an exception or ``None`` for a job without words).
        override: ``auto``, ``first`` or ``second`` (``diarization.agent_speaker``).

    Returns:
        ``(choice, steps, renamed)``: the :class:`~voicemon.audio.speaker_roles.RoleChoice`, the
        steps with the roles swapped when the second speaker is the agent (else unchanged), and
        new job id -> old job id for the jobs that were renamed.
    """
    from voicemon.audio.speaker_roles import choose_agent

    texts: dict[str, list[str]] = {"agent": [], "customer": []}
    for step in steps:
        for job in step.jobs:
            words = words_of(job.job_id)
            if words and not isinstance(words, Exception):
                texts[job.role].extend(w.text for w in words)
    choice = choose_agent((" ".join(texts["agent"]), " ".join(texts["customer"])), override)
    if choice.agent_speaker != 1:
        return choice, steps, {}
    swap = {"agent": "customer", "customer": "agent"}
    swapped = [swap_roles(s, swap) for s in steps]
    renamed = {new.job_id: old.job_id for b, a in zip(steps, swapped) for old, new in zip(b.jobs, a.jobs)}
    return choice, swapped, renamed


def analyze_audio(audio: DecodedAudio, config: Config, transcriber: Transcriber, *,
                  asr_workers: int = 1, progress: ProgressFn | None = None) -> list[Event]:
    """Run every stage over a decoded call and return its event log (see :func:`run_analysis`)."""
    return run_analysis(audio, config, transcriber, asr_workers=asr_workers, progress=progress).events


def run_analysis(audio: DecodedAudio, config: Config, transcriber: Transcriber, *,
                 asr_workers: int = 1, progress: ProgressFn | None = None) -> Analysis:
    """Run every stage over a decoded call and return its event log.

    Utterances go to ``asr_workers`` transcription threads as soon as the signal pass closes
    them, so transcription overlaps measuring the rest of the call.

    Args:
        audio: the call's per-role signals.
        config: options.
        transcriber: speech recogniser.
        asr_workers: utterances transcribed at once.
        progress: optional progress callback.

    Returns:
        All events, in the order a lockstep live run would produce them, and how a mono call's
        speakers were found.
    """
    from voicemon.audio.diarize import SpeakerRouter

    roles = call_roles(list(audio.signals))
    params = load_meter_params(config.meter.params)
    if progress:
        progress(0.0, "diarizing" if roles == ("mixed",) else "measuring")
    router = None
    info: dict | None = None
    dia = global_dia = None
    steps: list[Step] = []
    futures: dict[str, Future] = {}
    n = len(next(iter(audio.signals.values())))
    with ThreadPoolExecutor(max_workers=max(1, asr_workers), thread_name_prefix="voicemon-asr") as pool:
        mixed: dict[tuple[int, int], tuple[AsrJob, Future]] = {}
        if list(audio.signals) == ["mixed"] and config.diarization.mode == "auto":
            global_dia, dia, info, mixed = _diarize_mono(audio, config, transcriber, pool)
            if dia.n_speakers == 2:
                roles = ("agent", "customer")
                router = SpeakerRouter(dia, roles)
        signal = SignalStages(roles, config, params, router)

        def submit(job: AsrJob) -> None:
            if router is not None:
                return  # a diarized call's words come from the mixed transcription (route_words)
            known = mixed.get((job.start_sample, len(job.samples)))
            if known is not None and np.array_equal(known[0].samples, job.samples):
                futures[job.job_id] = known[1]
            else:
                futures[job.job_id] = pool.submit(transcribe_or_error, transcriber, job)

        for chunk in iter_chunks(audio, config.audio.chunk_ms):
            step = signal.feed(chunk)
            steps.append(step)
            for job in step.jobs:
                submit(job)
            if progress and chunk.role == roles[-1] and len(steps) % 200 == 0:
                progress(SIGNAL_SHARE * min(1.0, chunk.start_sample / max(1, n)), "measuring")
        steps.append(signal.flush())
        for job in steps[-1].jobs:
            submit(job)
        if router is not None:
            words, failed = _mixed_words(mixed)
            routed = route_words([j for s in steps for j in s.jobs], words, dia, roles, failed)
            futures = {job_id: _done(result) for job_id, result in routed.items()}
            choice, steps, renamed = assign_agent(steps, lambda job_id: futures[job_id].result(),
                                                  config.diarization.agent_speaker)
            info["roles"] = choice.to_dict()
            if renamed:
                futures = {new: futures[old] for new, old in renamed.items()}
                router = SpeakerRouter(dia, ("customer", "agent"))
        interpret = InterpretStages(roles, config, params)
        events: list[Event] = []
        if list(audio.signals) == ["mixed"]:  # one channel: say which meters it has (as live does)
            events.append(_speakers_event(router, info))
        done = 0

        def step_done(step: Step) -> None:
            nonlocal done
            done += len(step.jobs)
            if progress and step.jobs:
                progress(SIGNAL_SHARE + ASR_SHARE * done / max(1, done + len(futures)), "transcribing")

        events.extend(fold(interpret, steps, lambda job: futures.pop(job.job_id).result(), step_done))
        for _, future in mixed.values():  # a one-speaker call whose stages cut other utterances
            future.cancel()
    if progress:
        progress(1.0, "done")
    return Analysis(events=events, roles=roles, diarization=info, router=router, global_diarization=global_dia,
                    params=params)


def _diarize_mono(audio: DecodedAudio, config: Config, transcriber: Transcriber, pool: ThreadPoolExecutor):
    """The global step of a mono call, with its ``mixed`` utterances transcribed meanwhile.

    Returns:
        ``(global, final, info, mixed)``: the global step's diarization, the word-resegmented one
        (the same for one speaker), the report's ``diarization`` block, and the mixed jobs with
        their transcription futures keyed by ``(start_sample, length)``.
    """
    from voicemon.audio.diarize import diarize, mixed_utterances, resegment_words

    started, cpu_started = time.perf_counter(), time.thread_time()
    samples = audio.signals["mixed"]
    speech, jobs = mixed_utterances(samples, config.segmenter)
    mixed = {(j.start_sample, len(j.samples)): (j, pool.submit(transcribe_or_error, transcriber, j)) for j in jobs}
    global_dia = diarize(samples, config.diarization, config.segmenter, speech=speech)
    cost_s, cpu_s = time.perf_counter() - started, time.thread_time() - cpu_started
    dia = global_dia
    if dia.n_speakers == 2:
        words, _ = _mixed_words(mixed)  # waits for the transcription (not diarization's cost)
        t0, c0 = time.perf_counter(), time.thread_time()
        dia = resegment_words(global_dia, words, config.diarization.switch_penalty)
        cost_s += time.perf_counter() - t0
        cpu_s += time.thread_time() - c0
    info = {**dia.summary(), "cost_s": round(cost_s, 3), "cpu_s": round(cpu_s, 3)}
    return global_dia, dia, info, mixed


def _mixed_words(mixed: dict) -> tuple[list[Word], list[tuple[float, float, Exception]]]:
    """Every word of the mixed transcription, and the spans whose transcription failed."""
    words: list[Word] = []
    failed: list[tuple[float, float, Exception]] = []
    for job, future in mixed.values():
        result = future.result()
        if isinstance(result, Exception):
            failed.append((job.start_s, job.end_s, result))
        else:
            words.extend(result)
    return sorted(words, key=lambda w: (w.start, w.end)), failed


def route_words(jobs: list[AsrJob], words: list[Word], dia, roles: tuple[str, str],
                failed: list[tuple[float, float, Exception]] = ()) -> dict[str, list[Word] | Exception]:
    """Give each word of a mono call's mixed transcription to one utterance of its speaker.

    A word goes to the speaker most of its frames are labelled with
    (:func:`~voicemon.audio.diarize.speaker_of_word`), and to that role's utterance its midpoint
    falls in (the nearest one when it falls in none), so no word is lost or heard twice.

    Args:
        jobs: the per-role ASR jobs of the diarized call.
        words: the mixed transcription's words, media time.
        dia: the (word-resegmented) diarization the router used.
        roles: role of speaker 0 and of speaker 1.
        failed: ``(start_s, end_s, error)`` of mixed utterances whose transcription failed; a job
            overlapping one and given no words reports that error.

    Returns:
        job id -> its words in time order (or the transcription error).
    """
    from voicemon.audio.diarize import speaker_of_word

    out: dict[str, list[Word] | Exception] = {j.job_id: [] for j in jobs}
    by_role: dict[str, list[AsrJob]] = {}
    for job in jobs:
        by_role.setdefault(job.role, []).append(job)
    for word in words:
        candidates = by_role.get(roles[speaker_of_word(dia, word)])
        if not candidates:
            continue

        def fit(job: AsrJob, word: Word = word) -> tuple[float, float]:
            mid = (word.start + word.end) / 2
            outside = max(0.0, job.start_s - mid, mid - job.end_s)
            return (-outside, min(word.end, job.end_s) - max(word.start, job.start_s))

        out[max(candidates, key=fit).job_id].append(word)
    for job in jobs:
        if not out[job.job_id]:
            for a, b, err in failed:
                if min(b, job.end_s) > max(a, job.start_s):
                    out[job.job_id] = err
                    break
        else:
            out[job.job_id].sort(key=lambda w: (w.start, w.end))
    return out


def _done(result) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


def _speakers_event(router, info: dict | None) -> Event:
    """The ``speakers`` event that opens a one-channel call's log (docs/diarization.md)."""
    from voicemon.audio.diarize_online import mixed_speakers_event

    if router is None:
        return mixed_speakers_event()
    from voicemon.events import SpeakersChanged

    who = (info or {}).get("roles", {}).get("agent_speaker", "first")
    return SpeakersChanged(t=0.0, roles=("agent", "customer"), state="split",
                           message=f"two voices told apart over the whole call (offline); agent = the {who} speaker")


def analyze_file(path: str | os.PathLike[str], config: Config, transcriber: Transcriber, *,
                 asr_workers: int = 1, progress: ProgressFn | None = None) -> dict:
    """Analyse one recorded call.

    Args:
        path: an audio file (see :func:`voicemon.audio.decode.load_call_audio`).
        config: options.
        transcriber: speech recogniser.
        asr_workers: utterances transcribed at once.
        progress: optional progress callback.

    Returns:
        The call report (see docs/report.md) with its event log under ``"events"``.

    Raises:
        AudioFormatError: the file cannot be decoded.
    """
    return analyze_call(path, config, transcriber, asr_workers=asr_workers, progress=progress)[0]


def analyze_call(path: str | os.PathLike[str], config: Config, transcriber: Transcriber, *,
                 asr_workers: int = 1, progress: ProgressFn | None = None) -> tuple[dict, Analysis]:
    """:func:`analyze_file`, also returning the :class:`Analysis` (benchmarks read the
    diarization's frame labels from it)."""
    audio = load_call_audio(path, config.audio.channels, config.diarization.dual_mono_correlation)
    result = run_analysis(audio, config, transcriber, asr_workers=asr_workers, progress=progress)
    events = result.events
    meta = {
        "source": str(path),
        "duration_s": round(audio.duration_s, 3),
        "roles": list(result.roles),
        "audio": {"rate_hz": audio.source_rate_hz, "channels": audio.source_channels, "format": audio.source_format},
        "model": {"name": transcriber.name},
        "config": config.to_dict(),
        "warnings": list(audio.warnings),
    }
    if result.diarization is not None:
        meta["diarization"] = result.diarization
    report = build_report(events, meta, result.params)
    return report, result


def report_stem(path: str | os.PathLike[str]) -> str:
    """File-name stem for a call's outputs."""
    return Path(path).stem
