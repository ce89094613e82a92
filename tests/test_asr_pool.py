"""The shared ASR pool: merging when behind, refusing interim work, bounded backlog."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from voicemon.events import SAMPLE_RATE_HZ, AsrJob, Word
from voicemon.live.asr_pool import GAP_S, AsrDropped, AsrPool, split_batch_words


class GatedTranscriber:
    """Returns one word per second of audio; waits on a gate so tests control timing."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.inputs_s: list[float] = []

    def transcribe(self, samples):
        self.gate.wait(10)
        length = len(samples) / SAMPLE_RATE_HZ
        self.inputs_s.append(length)
        return [Word(start=t + 0.1, end=t + 0.6, text=f"w{t}") for t in range(int(length))]


def job(i: int, seconds: float, role="customer", final=True) -> AsrJob:
    return AsrJob(job_id=f"j{i}", role=role, utterance_id=f"{role}-{i}", start_sample=i * 10 * SAMPLE_RATE_HZ,
                  samples=np.full(int(seconds * SAMPLE_RATE_HZ), 0.1, np.float32), final=final)


def test_split_batch_words_by_midpoint():
    words = [Word(0.1, 0.5, "a"), Word(1.8, 2.2, "b"), Word(2.6, 3.0, "c"), Word(5.0, 5.5, "d")]
    # utterances of 2 s and 3 s with a GAP_S gap: the second starts at 2 + GAP_S
    out = split_batch_words(words, [2.0, 3.0])
    assert [w.text for w in out[0]] == ["a", "b"]
    assert [w.text for w in out[1]] == ["c", "d"]
    assert out[1][0].start == pytest.approx(2.6 - 2.0 - GAP_S)
    assert out[0][1].end == 2.0  # clipped to its utterance


def test_queued_finals_of_one_party_are_merged_and_split_back():
    async def main():
        t = GatedTranscriber()
        pool = AsrPool(t, workers=1)
        first = pool.submit("call", job(0, 2.0))
        await asyncio.sleep(0.05)  # the worker has taken the first job and waits on the gate
        rest = [pool.submit("call", job(i, 3.0)) for i in (1, 2)]
        other = pool.submit("call", job(3, 3.0, role="agent"))
        assert pool.backlog_s("call") == pytest.approx(9.0)
        t.gate.set()
        results = await asyncio.gather(first, *rest, other)
        pool.close()
        return t, pool, results

    t, pool, results = asyncio.run(main())
    assert t.inputs_s[0] == pytest.approx(2.0)
    assert t.inputs_s[1] == pytest.approx(3.0 + GAP_S + 3.0)  # two customer jobs, one pass
    assert t.inputs_s[2] == pytest.approx(3.0)  # the agent's job is never mixed in
    assert pool.stats.merged_jobs == 1 and pool.stats.jobs_done == 4
    assert [len(r) for r in results] == [2, 3, 3, 3]
    assert all(0 <= w.start <= 3.0 for r in results for w in r)


def test_interim_refused_while_busy_and_backlog_bounded():
    async def main():
        t = GatedTranscriber()
        pool = AsrPool(t, workers=1, max_backlog_s=10.0)
        busy = pool.submit("call", job(0, 1.0))
        await asyncio.sleep(0.05)
        refused = pool.submit("call", job(1, 1.0, final=False))
        queued = [pool.submit("call", job(i, 4.0)) for i in range(2, 6)]  # 16 s > 10 s cap
        t.gate.set()
        outcomes = await asyncio.gather(busy, *queued, return_exceptions=True)
        pool.close()
        return pool, refused, outcomes

    pool, refused, outcomes = asyncio.run(main())
    assert refused is None and pool.stats.interim_refused == 1
    dropped = [o for o in outcomes if isinstance(o, AsrDropped)]
    assert len(dropped) == 2 and pool.stats.dropped_jobs == 2
    assert isinstance(outcomes[1], AsrDropped) and isinstance(outcomes[2], AsrDropped)  # oldest first
    assert not isinstance(outcomes[-1], Exception)


def test_a_failing_transcription_fails_only_its_job():
    class Flaky:
        name = "flaky"

        def transcribe(self, samples):
            if len(samples) < SAMPLE_RATE_HZ:
                raise RuntimeError("boom")
            return [Word(0.0, 0.5, "ok")]

    async def main():
        pool = AsrPool(Flaky(), workers=1)
        a = pool.submit("c", job(0, 0.5, role="agent"))
        out = await asyncio.gather(a, return_exceptions=True)
        b = await pool.submit("c", job(1, 2.0))
        pool.close()
        return out[0], b

    bad, good = asyncio.run(main())
    assert isinstance(bad, RuntimeError) and [w.text for w in good] == ["ok"]
