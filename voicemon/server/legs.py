"""Calls fed by more than one connection: per-role track alignment and leg pairing.

Telephony sources do not always deliver a call on one connection. Asterisk sends each party on
its own socket (two snoop channels, paired by a shared id), and Genesys AudioHook reconnects a
session mid-call (``continuedSessions``). A :class:`SharedCall` is the one live call those
connections (its *legs*) feed; a :class:`TrackAligner` keeps every role on the same sample
clock, filling a role that has nothing to send with silence so the meter never stalls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from voicemon.audio.stream_edge import StreamResampler
from voicemon.events import SAMPLE_RATE_HZ, AudioChunk

log = logging.getLogger(__name__)

MAX_SKEW_S = 0.2
"""How far one role's audio may run ahead of another's before it is held back."""


class TrackAligner:
    """Per-role float samples at one input rate -> 16 kHz :class:`AudioChunk` objects, in step.

    The roles of a call may arrive on different sockets, each in its own bursts (a big read, an
    event loop busy for a moment). The stages should see them as ``analyze`` does: side by side.
    So a role's audio is passed on only up to ``max_skew_s`` beyond what every other role has
    delivered; the rest waits. A role that has nothing to send must not stall the others, so a
    role from which nothing has come while another kept sending for ``stall_s`` of wall-clock
    time is filled with silence up to the others; a role that will never send (``silent``: the
    other party of a one-channel stream, or a leg that hung up) is kept level at once.

    Args:
        roles: the roles of the call.
        rate_hz: the input sample rate (the same for every role).
        max_skew_s: how far one role may run ahead of the others before it is held back.
        stall_s: wall-clock time another role must keep sending before a silent one is filled.
        silent: roles no audio will ever come for.
    """

    def __init__(self, roles: tuple[str, ...], rate_hz: int, max_skew_s: float = MAX_SKEW_S,
                 stall_s: float = 1.0, silent: tuple[str, ...] = ()) -> None:
        self.roles = tuple(roles)
        self.rate_hz = rate_hz
        self.max_skew = int(max_skew_s * rate_hz)
        self.stall_s = stall_s
        self.silent = set(silent)
        self._resamplers = ({r: StreamResampler(rate_hz) for r in self.roles}
                            if rate_hz != SAMPLE_RATE_HZ else None)
        self._received = {r: 0 for r in self.roles}  # input samples per role, silence fills included
        self._pending: dict[str, list[np.ndarray]] = {r: [] for r in self.roles}
        self._in = {r: 0 for r in self.roles}  # input samples passed on
        self._out = {r: 0 for r in self.roles}
        self._since: dict[str, dict[str, float | None]] = {r: {o: None for o in self.roles} for r in self.roles}
        """``_since[a][b]``: when ``a`` first sent after ``b``'s last samples (``None``: not since)."""
        self.filled_s = {r: 0.0 for r in self.roles}
        """Silence filled in for each role because it sent nothing (diagnostics)."""

    @property
    def input_s(self) -> float:
        """Media time of the most advanced role."""
        return max(self._received.values()) / self.rate_hz

    def feed(self, role: str, samples: np.ndarray) -> list[AudioChunk]:
        """The next samples of one role; returns what every role may pass on now."""
        now = time.monotonic()
        self._add(role, samples)
        for waiting in self._since.values():
            waiting[role] = None
        for other in self.roles:
            if other == role:
                continue
            if self._since[role][other] is None:
                self._since[role][other] = now
            stalled = now - self._since[role][other] > self.stall_s
            if other in self.silent or stalled:
                self._fill(other, self._received[role])
        return self._release()

    def feed_all(self, channels: dict[str, np.ndarray]) -> list[AudioChunk]:
        """Samples of several roles covering the same stretch of time (e.g. one stereo frame)."""
        for role, samples in channels.items():
            self._add(role, samples)
        for role in self.silent:
            self._fill(role, max(self._received.values()))
        return self._release()

    def silence(self, seconds: float) -> list[AudioChunk]:
        """Advance every role by ``seconds`` of silence (audio the source discarded)."""
        end = max(self._received.values()) + int(round(seconds * self.rate_hz))
        for role in self.roles:
            self._fill(role, end)
        return self._release()

    def close_role(self, role: str) -> list[AudioChunk]:
        """No more audio will come for ``role`` (its leg hung up): it is kept level from now on."""
        self.silent.add(role)
        self._fill(role, max(self._received.values()))
        return self._release()

    def flush(self) -> list[AudioChunk]:
        """Pad every role to the same length, pass everything on and drain the resamplers."""
        end = max(self._received.values())
        chunks: list[AudioChunk] = []
        for role in self.roles:
            self._fill(role, end)
            chunks += self._emit(role, self._take(role, self._received[role] - self._in[role]))
            if self._resamplers is not None:
                chunks += self._emit(role, np.zeros(0, np.float32), last=True)
        return chunks

    def _add(self, role: str, samples: np.ndarray) -> None:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if len(samples):
            self._pending[role].append(samples)
            self._received[role] += len(samples)

    def _fill(self, role: str, end: int) -> None:
        gap = end - self._received[role]
        if gap > 0:
            self.filled_s[role] += gap / self.rate_hz
            for start in range(0, gap, self.rate_hz):  # in 1 s pieces
                self._add(role, np.zeros(min(self.rate_hz, gap - start), np.float32))

    def _release(self) -> list[AudioChunk]:
        limit = min(self._received.values()) + self.max_skew
        chunks: list[AudioChunk] = []
        for role in self.roles:
            n = min(limit, self._received[role]) - self._in[role]
            if n > 0:
                chunks += self._emit(role, self._take(role, n))
        return chunks

    def _take(self, role: str, n: int) -> np.ndarray:
        """The first ``n`` pending samples of ``role``."""
        parts, pending, got = [], self._pending[role], 0
        while pending and got < n:
            head = pending[0]
            if got + len(head) <= n:
                parts.append(pending.pop(0))
                got += len(head)
            else:
                parts.append(head[: n - got])
                pending[0] = head[n - got:]
                got = n
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def _emit(self, role: str, samples: np.ndarray, last: bool = False) -> list[AudioChunk]:
        self._in[role] += len(samples)
        out = self._resamplers[role].feed(samples, last=last) if self._resamplers is not None else samples
        if not len(out):
            return []
        chunk = AudioChunk(samples=out, start_sample=self._out[role], role=role)
        self._out[role] += len(out)
        return [chunk]


@dataclass
class SharedCall:
    """One live call and the connections feeding it.

    Attributes:
        key: the registry key (e.g. ``audiosocket:<uuid>``).
        call: the :class:`~voicemon.live.runner.LiveCall`.
        tracks: its aligner.
        legs: roles (or leg names) attached now.
        seen: every leg name that ever attached.
        started: ``time.monotonic()`` when the first leg attached (for the pace limit).
    """

    key: str
    call: object
    tracks: TrackAligner
    legs: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    started: float = 0.0
    state: dict = field(default_factory=dict)
    _linger: asyncio.Task | None = None

    def attach(self, leg: str) -> None:
        """A connection joins (cancels a pending end)."""
        self.legs.add(leg)
        self.seen.add(leg)
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None


class LegRegistry:
    """The server's calls that more than one connection may feed, by key."""

    def __init__(self) -> None:
        self.calls: dict[str, SharedCall] = {}

    def get(self, key: str) -> SharedCall | None:
        """The live shared call under ``key``."""
        shared = self.calls.get(key)
        if shared is not None and getattr(shared.call, "ended", False):
            self._forget(shared)
            return None
        return shared

    def add(self, shared: SharedCall, *aliases: str) -> None:
        """Register a call under its key and any aliases (e.g. a continued AudioHook session)."""
        for key in (shared.key, *aliases):
            self.calls[key] = shared

    def alias(self, shared: SharedCall, key: str) -> None:
        """One more key for the same call."""
        self.calls[key] = shared

    async def detach(self, server, shared: SharedCall, leg: str, reason: str, linger_s: float = 0.0) -> None:
        """A connection leaves; the call ends when no leg is left (after ``linger_s``).

        Args:
            server: the :class:`~voicemon.server.app.VoicemonServer`.
            shared: the call.
            leg: the leaving leg.
            reason: why the call ends if this was the last leg.
            linger_s: wait this long for another leg (a reconnect) before ending.
        """
        shared.legs.discard(leg)
        if shared.legs:
            return
        if linger_s > 0:
            shared._linger = asyncio.ensure_future(self._end_later(server, shared, reason, linger_s))
            return
        await self.end(server, shared, reason)

    async def _end_later(self, server, shared: SharedCall, reason: str, linger_s: float) -> None:
        await asyncio.sleep(linger_s)
        if not shared.legs:
            await self.end(server, shared, reason)

    async def end(self, server, shared: SharedCall, reason: str) -> dict:
        """Finish the call now (last samples, report)."""
        call = shared.call
        self._forget(shared)
        if not call.ended and not server.is_ending(call):
            for chunk in shared.tracks.flush():
                call.feed(chunk)
        return await server.end_call(call, reason)

    def _forget(self, shared: SharedCall) -> None:
        for key in [k for k, v in self.calls.items() if v is shared]:
            del self.calls[key]
