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
