"""The audio edge: one streaming resampler and one chunker for files, sockets and devices.

Every source — a decoded file (``analyze``, ``replay``), a socket (``/ingest``, Twilio,
AudioHook, audiofork, Asterisk) or a sound device (``listen``) — reaches the stages through the
same two steps, so the same audio gives the same samples in the same chunks, and so the same
events, whichever way it came in:

1. :class:`StreamResampler`: soxr's HQ filter with its state carried across pieces. For the
   rates telephony and devices use, soxr's streaming output is bit-identical to resampling the
   whole signal at once, however the input is cut (``tests/test_stream_edge.py`` checks this),
   so a file decoded whole and the same audio arriving 20 ms at a time match sample for sample.
2. :class:`Chunker`: cuts each role's 16 kHz samples into ``chunk_ms`` chunks on a grid fixed
   to the call's sample clock (chunk ``k`` covers samples ``k*step … (k+1)*step``) and releases
   a span only when every role has it, all roles of one span before the next — the order
   ``analyze`` feeds the stages in. Where the source cut its frames no longer matters.

:class:`StreamEdge` is the two together, per call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voicemon.events import SAMPLE_RATE_HZ, AudioChunk

QUALITY = "HQ"
"""soxr quality recipe of every resampling in voicemon."""


class StreamResampler:
    """One channel resampled to 16 kHz piece by piece, the filter state carried across pieces.

    Args:
        rate_hz: the input sample rate (16 kHz passes samples through unchanged).
        target_hz: the output rate.
    """

    def __init__(self, rate_hz: int, target_hz: int = SAMPLE_RATE_HZ) -> None:
        self.rate_hz = int(rate_hz)
        self.target_hz = int(target_hz)
        self._stream: Any = None
        if self.rate_hz != self.target_hz:
            import soxr

            self._stream = soxr.ResampleStream(self.rate_hz, self.target_hz, 1, dtype="float32", quality=QUALITY)

    def feed(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """The next input samples -> the output samples ready so far (``last``: drain the filter)."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if self._stream is None:
            return samples
        out: np.ndarray = self._stream.resample_chunk(samples, last=last)
        return out


def resample(samples: np.ndarray, rate_hz: int, target_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A whole 1-D float32 signal through a fresh :class:`StreamResampler` (in one piece)."""
    if rate_hz == target_hz or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    return StreamResampler(rate_hz, target_hz).feed(samples, last=True)


class Chunker:
    """Per-role 16 kHz samples -> :class:`AudioChunk` objects on a fixed ``chunk_ms`` grid.

    Args:
        roles: the call's roles, in the order each span's chunks are released.
        chunk_ms: chunk length in milliseconds.
    """

    def __init__(self, roles: tuple[str, ...], chunk_ms: int) -> None:
        self.roles = tuple(roles)
        self.step = max(1, int(SAMPLE_RATE_HZ * chunk_ms / 1000))
        self._pending: dict[str, list[np.ndarray]] = {r: [] for r in self.roles}
        self._have = {r: 0 for r in self.roles}  # samples pushed per role
        self._released = 0  # samples of every role already released as chunks

    def push(self, role: str, samples: np.ndarray) -> None:
        """Queue the next 16 kHz samples of ``role``."""
        if len(samples):
            self._pending[role].append(samples)
            self._have[role] += len(samples)

    def pop(self) -> list[AudioChunk]:
        """The chunks of every whole span that all roles have delivered, in time order."""
        ready = min(self._have.values())
        return self._release(ready - (ready - self._released) % self.step)

    def flush(self) -> list[AudioChunk]:
        """End of the call: everything left, the last span possibly short (roles padded to the longest)."""
        end = max(self._have.values())
        for role in self.roles:
            if self._have[role] < end:
                self.push(role, np.zeros(end - self._have[role], np.float32))
        return self._release(end)

    def _release(self, end: int) -> list[AudioChunk]:
        if end <= self._released:
            return []
        n = end - self._released
        data = {r: self._take(r, n) for r in self.roles}
        chunks = []
        for offset in range(0, n, self.step):
            for role in self.roles:
                chunks.append(AudioChunk(samples=data[role][offset:offset + self.step],
                                         start_sample=self._released + offset, role=role))
        self._released = end
        return chunks

    def _take(self, role: str, n: int) -> np.ndarray:
        parts, pending, got = [], self._pending[role], 0
        while got < n:
            head = pending[0]
            if got + len(head) <= n:
                parts.append(pending.pop(0))
                got += len(head)
            else:
                parts.append(head[: n - got])
                pending[0] = head[n - got:]
                got = n
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class StreamEdge:
    """One call's audio edge: per-role :class:`StreamResampler` then one :class:`Chunker`.

    Args:
        roles: the call's roles.
        rate_hz: the input sample rate (the same for every role).
        chunk_ms: chunk length fed to the stages (``[audio] chunk_ms``).
    """

    def __init__(self, roles: tuple[str, ...], rate_hz: int, chunk_ms: int) -> None:
        self.roles = tuple(roles)
        self.rate_hz = int(rate_hz)
        self._resamplers = {r: StreamResampler(rate_hz) for r in self.roles}
        self.chunker = Chunker(self.roles, chunk_ms)

    def feed(self, role: str, samples: np.ndarray) -> list[AudioChunk]:
        """The next input samples of one role -> the chunks every role now has."""
        self.chunker.push(role, self._resamplers[role].feed(samples))
        return self.chunker.pop()

    def flush(self) -> list[AudioChunk]:
        """End of the call: drain the resamplers and release the rest."""
        for role in self.roles:
            self.chunker.push(role, self._resamplers[role].feed(np.zeros(0, np.float32), last=True))
        return self.chunker.flush()
