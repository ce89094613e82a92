"""Drive a streaming stage (:class:`voicemon.stage.Stage`) over inputs, the way every driver does."""

from __future__ import annotations

from typing import Iterable, TypeVar

import numpy as np

from voicemon.events import SAMPLE_RATE_HZ, AudioChunk
from voicemon.stage import Stage

In = TypeVar("In")
Out = TypeVar("Out")


def drive(stage: Stage[In, Out], inputs: Iterable[In]) -> list[Out]:
    """``feed`` every input in order, then ``flush``; the outputs in that order (flush's last)."""
    outputs = [stage.feed(item) for item in inputs]
    outputs.append(stage.flush())
    return outputs


def chunks(signal: np.ndarray, role: str, chunk_s: float = 0.1) -> list[AudioChunk]:
    """A 16 kHz signal cut into consecutive chunks of one party."""
    step = int(round(chunk_s * SAMPLE_RATE_HZ))
    return [AudioChunk(samples=signal[i:i + step].astype(np.float32), start_sample=i, role=role)
            for i in range(0, len(signal), step)]


def voiced(seconds_silent: float = 1.0, seconds_voiced: float = 1.5, seed: int = 0) -> np.ndarray:
    """Quiet line noise, a voiced 180 Hz stretch with harmonics, then twice the silence again."""
    rng = np.random.default_rng(seed)
    n_sil, n_voiced = int(seconds_silent * SAMPLE_RATE_HZ), int(seconds_voiced * SAMPLE_RATE_HZ)
    t = np.arange(n_voiced) / SAMPLE_RATE_HZ
    tone = 0.2 * sum(np.sin(2 * np.pi * 180 * k * t) / k for k in (1, 2, 3))
    noise = lambda n: 0.001 * rng.standard_normal(n)  # noqa: E731
    return np.concatenate([noise(n_sil), tone + noise(n_voiced), noise(2 * n_sil)]).astype(np.float32)
