"""Live mono calls (issue 11 item 5): online two-speaker tracking on the real encoder.

A mono call runs as one ``mixed`` meter until the tracker has heard two voices, then splits
into agent and customer without touching what it already emitted. The thresholds below were
measured with ``benchmarks/diarization_live.py`` (see docs/diarization.md) and leave a margin.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, SHARED_DATA
from voicemon.audio.decode import load_call_audio
from voicemon.audio.diarize import FRAME_S
from voicemon.audio.diarize_online import track_file

STEREO = FIXTURES / "escalating_call_stereo.wav"
CALLS = SHARED_DATA / "calls"
needs_calls = pytest.mark.skipif(not CALLS.is_dir(), reason="../shared/data/calls is not present")
MIN_AGREEMENT = 0.85
"""Live vs offline speaker per speech frame after the split: measured 0.966 and 0.905."""
MAX_SPLIT_S = 60.0
"""Measured splits: 16.5 s and 41.7 s into the two real calls, 30.5 s into the fixture mix."""


def agreement(live: np.ndarray, offline) -> tuple[float, float]:
    """Share of offline speech frames after the split with the same speaker live, and the share
    of those frames that live routed to a speaker at all."""
    n = min(len(live), len(offline.labels))
    after = np.zeros(n, bool)
    first = int(np.argmax(live[:n] >= 0))
    after[first:] = True
    speech = offline.speech[:n] & after
    both = speech & (live[:n] >= 0)
    return float(np.mean(live[:n][both] == offline.labels[:n][both])), float(both.sum() / max(1, speech.sum()))


@needs_calls
@pytest.mark.parametrize("name", ["auto_repairs_40_stereo.wav", "auto_repairs_49_stereo.wav"])
def test_real_mono_mix_goes_mixed_then_split_and_agrees_with_offline(config, real_call_mix, name):
    _, mix, offline = real_call_mix(name)
    tracker, live = track_file(mix, config.diarization, config.segmenter)
    assert tracker.split is not None and 5.0 < tracker.split.t <= MAX_SPLIT_S, tracker.summary()
    split_frame = int(round(tracker.split.t / FRAME_S))
    assert np.all(live[:split_frame] == -1), "audio before the split was routed to a speaker"
    agree, routed = agreement(live, offline)
    assert routed > 0.9
    assert agree > MIN_AGREEMENT, (agree, tracker.summary())


def test_single_voice_stays_mixed(config):
    """The fixture's agent channel alone (one voice, like a voicemail or an IVR)."""
    tracker, live = track_file(load_call_audio(STEREO).signals["agent"], config.diarization, config.segmenter)
    assert tracker.split is None, tracker.summary()
    assert tracker.summary()["windows"] > 60  # it did listen: the test ran, repeatedly
    assert np.all(live == -1)


@needs_calls
@pytest.mark.parametrize("role", ["agent", "customer"])
def test_real_single_channels_stay_mixed(config, role):
    """Call 49's channels alone: the harder call (two 8 kHz voices the d-vector confuses)."""
    audio = load_call_audio(CALLS / "auto_repairs_49_stereo.wav")
    tracker, _ = track_file(audio.signals[role], config.diarization, config.segmenter)
    assert tracker.split is None, tracker.summary()


def test_live_call_on_a_mono_file_runs_mixed_then_agent_and_customer(config, transcriber, analysed, tmp_path):
    """``replay --speed max`` of the escalating call mixed to mono, through LiveCall."""
    from voicemon.live.asr_pool import AsrPool
    from voicemon.live.runner import LiveCall
    from voicemon.live.sources import replay

    data, rate = sf.read(STEREO, dtype="float32", always_2d=True)
    path = tmp_path / "mono.wav"
    sf.write(path, data.mean(axis=1), rate, subtype="PCM_16")
    audio = load_call_audio(path)
    assert list(audio.signals) == ["mixed"]

    async def main():
        pool = AsrPool(transcriber, workers=2)
        call = LiveCall("mono", ("mixed",), config, pool, lockstep=True)
        await replay(call, audio, config.audio.chunk_ms, None)
        report = await call.finish()
        pool.close()
        return call, report

    call, report = asyncio.run(main())
    log = [e.to_dict() for e in call.log]  # as a watcher receives it
    speakers = [e for e in log if e["type"] == "speakers"]
    assert [s["state"] for s in speakers] == ["mixed", "split"] and log[0]["type"] == "speakers"
    assert speakers[1]["roles"] == ["agent", "customer"]
    split_t = speakers[1]["t"]
    split_seq = speakers[1]["seq"]
    readings = [e for e in log if e["type"] == "reading"]
    assert {r["role"] for r in readings if r["seq"] < split_seq} == {"mixed"}
    assert {r["role"] for r in readings if r["seq"] > split_seq} == {"agent", "customer"}
    assert max(r["t"] for r in readings if r["role"] == "mixed") <= split_t
    assert min(r["t"] for r in readings if r["role"] != "mixed") > split_t
    for role in ("mixed", "agent", "customer"):  # each meter's readings move forward in time
        ts = [r["t"] for r in readings if r["role"] == role]
        assert ts == sorted(ts) and len(ts) == len(set(ts))
    transcripts = {e["role"] for e in log if e["type"] == "transcript" and e["text"]}
    assert transcripts == {"mixed", "agent", "customer"}
    assert report["roles"] == ["agent", "customer"]
    assert report["diarization"]["mode"] == "live" and report["diarization"]["split_at_s"] == split_t
    assert report["diarization"]["roles"]["agent_speaker"] in ("first", "second")
    # after the split each role's words are mostly that party's words on the stereo original
    stereo = analysed(STEREO)

    def words(rep, role, after=0.0):
        return {w.strip(".,?!").lower() for s in rep["transcript"] if s["role"] == role and s["start"] >= after
                for w in s["text"].split()}

    for role, other in (("agent", "customer"), ("customer", "agent")):
        live_words = words(report, role)
        mine, theirs = words(stereo, role, split_t), words(stereo, other, split_t)
        own, cross = len(live_words & (mine - theirs)), len(live_words & (theirs - mine))
        assert own > 2 * cross, (role, own, cross)
