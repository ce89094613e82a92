"""The policies the session owns (issue 15 item 5): interim scheduling in media time, which
interim job a final job supersedes, word times moved to call time, what a failed
transcription logs, acknowledgements. The live driver only runs what the session asks for."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stage_helpers import chunks, voiced
from voicemon.errors import AsrDropped
from voicemon.events import SAMPLE_RATE_HZ, AsrStatus, PromptAcknowledged, StageError, TranscriptUpdate, Word
from voicemon.session import CallSession


def with_interim(config, interval_s=1.0):
    return dataclasses.replace(config, live=dataclasses.replace(config.live, interim_interval_s=interval_s))


def run(session: CallSession, signal: np.ndarray, on_interim=None, on_final=None):
    """Feed one party's signal (the other silent); return the steps and the interim jobs asked for."""
    asked, steps = [], []
    silent = np.zeros_like(signal)
    for a, c in zip(chunks(signal, "agent"), chunks(silent, "customer")):
        for chunk in (a, c):
            step = session.feed(chunk)
            steps.append(step)
            for job in step.jobs:
                if on_final:
                    on_final(job)
            for job in session.interim_jobs():
                asked.append((session.media_s, job))
                if on_interim:
                    on_interim(job)
    steps.append(session.flush())
    return steps, asked


def test_interim_jobs_come_at_the_configured_media_time_cadence(config):
    session = CallSession(("agent", "customer"), with_interim(config, 1.0))
    steps, asked = run(session, voiced(1.0, 4.0), on_interim=lambda job: session.feed_job_result(job, []))
    assert asked, "a 4 s utterance gets tentative looks"
    times = [t for t, _ in asked]
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(times, times[1:]))
    assert all(not job.final and job.role == "agent" and job.end_s - job.start_s >= 1.0 for _, job in asked)
    assert len({job.utterance_key for _, job in asked}) == 1
    finals = [j for s in steps for j in s.jobs]
    assert len(finals) == 1 and finals[0].utterance_key == asked[0][1].utterance_key


def test_no_interim_text_when_turned_off_or_while_one_is_outstanding(config):
    off = CallSession(("agent", "customer"), with_interim(config, 0.0))
    assert run(off, voiced(1.0, 4.0))[1] == []
    pending = CallSession(("agent", "customer"), with_interim(config, 1.0))
    _, asked = run(pending, voiced(1.0, 4.0))  # nobody hands the interim job back
    assert len(asked) == 1


def test_a_final_job_supersedes_the_interim_job_of_its_utterance(config):
    session = CallSession(("agent", "customer"), with_interim(config, 1.0))
    steps, asked = run(session, voiced(1.0, 4.0))
    interim = asked[-1][1]
    cancelled = [job_id for s in steps for job_id in s.cancel]
    assert cancelled == [interim.job_id]
    late = session.feed_job_result(interim, [Word(0.0, 0.4, "late", 0.9)])
    assert late == []  # superseded text never reaches the feed


def test_interim_words_become_a_tentative_update_in_call_time(config):
    session = CallSession(("agent", "customer"), with_interim(config, 1.0))
    answered = []

    def answer(job):
        answered.append((job, session.feed_job_result(job, [Word(0.1, 0.5, "hello", 0.9)])))

    run(session, voiced(1.0, 4.0), on_interim=answer)
    job, (update,) = answered[0]
    assert isinstance(update, TranscriptUpdate) and update.final is False and update.text == "hello"
    assert update.words[0].start == pytest.approx(job.start_s + 0.1, abs=1e-3) and job.start_s > 0.5


def test_final_words_are_moved_to_call_time_and_failures_are_logged(config):
    session = CallSession(("agent", "customer"), config)
    steps, _ = run(session, voiced(1.0, 4.0))
    job = [j for s in steps for j in s.jobs][0]
    update = session.feed_job_result(job, [Word(0.25, 0.75, "hi", 0.8)])[0]
    assert isinstance(update, TranscriptUpdate) and update.final
    assert update.words[0].start == pytest.approx(job.start_s + 0.25, abs=1e-3)
    assert update.words[0].end == pytest.approx(job.start_s + 0.75, abs=1e-3)

    dropped = session.feed_job_result(job, AsrDropped("backlog over 30 s"))
    assert isinstance(dropped[0], AsrStatus) and dropped[0].state == "dropped" and "backlog" in dropped[0].message
    assert isinstance(dropped[1], TranscriptUpdate) and dropped[1].text == ""
    failed = session.feed_job_result(job, RuntimeError("decoder exploded"))
    assert isinstance(failed[0], StageError) and not failed[0].fatal
    assert failed[0].message == f"{job.utterance_id}: decoder exploded"
    import asyncio

    cancelled = session.feed_job_result(job, asyncio.CancelledError())
    assert cancelled[0].message.endswith(": cancelled")


def test_speech_end_excludes_the_trailing_pad(config):
    session = CallSession(("agent", "customer"), config)
    steps, _ = run(session, voiced(1.0, 2.0))
    job = [j for s in steps for j in s.jobs][0]
    assert job.speech_end_s < job.end_s
    assert job.speech_end_s == pytest.approx(3.0, abs=0.15)


def test_acknowledgements_say_who_acted(config):
    session = CallSession(("agent", "customer"), config)
    ack = session.acknowledge("p-1", "dismissed", {"role": "supervisor", "agent_id": "s7"})[0]
    assert isinstance(ack, PromptAcknowledged) and ack.action == "dismissed" and ack.by == {"role": "supervisor", "agent_id": "s7"}
    assert session.acknowledge("p-2")[0].by == {"role": "agent", "agent_id": None}


def test_interim_jobs_stop_at_the_end_of_the_call(config):
    session = CallSession(("agent", "customer"), with_interim(config, 1.0))
    silent = np.zeros(int(3.0 * SAMPLE_RATE_HZ), np.float32)
    talking = voiced(0.5, 2.5)[: len(silent)]
    for a, c in zip(chunks(talking, "agent"), chunks(silent, "customer")):
        session.feed(a)
        session.feed(c)
        asked = session.interim_jobs()
        if asked:
            break
    flushed = session.flush()
    assert flushed.cancel == [asked[0].job_id]
    assert session.interim_jobs() == []
    assert session.feed_job_result(asked[0], [Word(0.0, 0.3, "late", 0.9)]) == []
