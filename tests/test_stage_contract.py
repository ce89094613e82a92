"""The stage contract (voicemon.stage.Stage): the streaming stages keep it, and a stage's output
does not depend on how its input is chunked."""

from __future__ import annotations

import numpy as np
import pytest

from stage_helpers import chunks, drive, voiced
from voicemon.audio.segmenter import UtteranceSegmenter
from voicemon.events import SAMPLE_RATE_HZ, SpeechEnded, SpeechStarted
from voicemon.session import CallSession, SignalStages, Step
from voicemon.stage import Stage


def test_the_streaming_stages_declare_feed_and_flush(config):
    session = CallSession(("agent", "customer"), config)
    for stage in (UtteranceSegmenter("customer", config.segmenter),
                  SignalStages(("agent", "customer"), config, session.params), session):
        assert isinstance(stage, Stage), type(stage).__name__


@pytest.mark.parametrize("chunk_s", [0.02, 0.14, 0.5])
def test_segmenter_events_and_jobs_do_not_depend_on_chunking(config, chunk_s):
    signal = voiced()

    def run(size):
        out = drive(UtteranceSegmenter("customer", config.segmenter), chunks(signal, "customer", size))
        events = [e for evs, _ in out for e in evs]
        jobs = [(j.job_id, j.start_s, len(j.samples)) for _, js in out for j in js]
        return events, jobs

    events, jobs = run(0.1)
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded] and len(jobs) == 1
    assert events[0].t == pytest.approx(1.0, abs=0.15)
    assert run(chunk_s) == (events, jobs)


def test_a_call_session_folds_chunks_into_steps_with_rising_watermarks(config):
    signal = voiced()
    inputs = [c for pair in zip(chunks(signal, "agent"), chunks(np.zeros_like(signal), "customer")) for c in pair]
    steps = drive(CallSession(("agent", "customer"), config), inputs)
    assert all(isinstance(s, Step) for s in steps)
    marks = [s.watermark_s for s in steps if s.watermark_s is not None]
    assert marks == sorted(marks) and marks[-1] == pytest.approx(len(signal) / SAMPLE_RATE_HZ, abs=0.11)
    kinds = {type(e).__name__ for s in steps for e in s.events}
    assert {"SpeechStarted", "SpeechEnded", "ProsodyFrame", "EscalationReading"} <= kinds
