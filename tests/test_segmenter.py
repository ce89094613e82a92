import numpy as np
import pytest

from voicemon.audio.segmenter import UtteranceSegmenter
from voicemon.config import SegmenterOptions
from voicemon.events import SAMPLE_RATE_HZ, AudioChunk, SpeechEnded, SpeechStarted

SR = SAMPLE_RATE_HZ


def signal(spec, noise_db=-60.0, seed=0):
    """spec: list of (seconds, level_dbfs or None for silence)."""
    rng = np.random.default_rng(seed)
    parts = []
    for dur, level in spec:
        n = int(dur * SR)
        x = rng.normal(0, 10 ** (noise_db / 20), n)
        if level is not None:
            t = np.arange(n) / SR
            tone = np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t))
            x += tone / np.sqrt(np.mean(tone**2)) * 10 ** (level / 20)
        parts.append(x)
    return np.concatenate(parts).astype(np.float32)


def run(x, opts=SegmenterOptions(), chunk_s=0.1):
    seg = UtteranceSegmenter("customer", opts)
    events, jobs = [], []
    step = int(chunk_s * SR)
    for i in range(0, len(x), step):
        e, j = seg.feed(AudioChunk(x[i:i + step], i, "customer"))
        events += e
        jobs += j
    e, j = seg.flush()
    return events + e, jobs + j


@pytest.mark.parametrize("level_db", [-40.0, -25.0, -12.0])
def test_two_utterances_at_any_level(level_db):
    x = signal([(1.0, None), (2.0, level_db), (1.5, None), (1.2, level_db), (1.0, None)])
    events, jobs = run(x)
    starts = [e.t for e in events if isinstance(e, SpeechStarted)]
    ends = [e.t for e in events if isinstance(e, SpeechEnded)]
    assert starts == pytest.approx([1.0, 4.5], abs=0.05)
    assert ends == pytest.approx([3.0, 5.7], abs=0.05)
    assert len(jobs) == 2
    assert jobs[0].start_s == pytest.approx(0.75, abs=0.05)  # with pre-roll
    assert jobs[0].end_s == pytest.approx(3.25, abs=0.06)  # with a short tail
    # the job holds exactly the call's samples at those times
    a = int(round(jobs[1].start_s * SR))
    assert np.array_equal(jobs[1].samples, x[a:a + len(jobs[1].samples)])


def test_silence_and_noise_give_no_utterances():
    assert run(signal([(5.0, None)])) == ([], [])
    assert run(np.zeros(SR * 3, np.float32)) == ([], [])


def test_long_speech_is_cut_at_the_cap():
    x = signal([(0.5, None), (20.0, -20.0), (1.0, None)])
    events, jobs = run(x, SegmenterOptions(max_utterance_s=8.0))
    assert len([e for e in events if isinstance(e, SpeechStarted)]) == 1
    assert all(4.0 <= j.end_s - j.start_s <= 8.0 + 1e-6 for j in jobs[:-1])
    assert jobs[0].end_s == jobs[1].start_s  # cut pieces are contiguous: no audio lost
    assert len({j.utterance_id.split(".")[0] for j in jobs}) == 1


def test_speech_at_the_end_is_flushed():
    events, jobs = run(signal([(0.5, None), (2.0, -20.0)]))
    assert isinstance(events[-1], SpeechEnded) and len(jobs) == 1


def test_chunk_size_does_not_change_the_result():
    x = signal([(1.0, None), (2.0, -20.0), (1.0, None), (2.0, -30.0), (1.0, None)])
    a = run(x, chunk_s=0.02)
    b = run(x, chunk_s=0.25)
    assert [e for e in a[0]] == [e for e in b[0]]
    assert [(j.start_sample, len(j.samples)) for j in a[1]] == [(j.start_sample, len(j.samples)) for j in b[1]]
