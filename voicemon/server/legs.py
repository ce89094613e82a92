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

from voicemon.events import SAMPLE_RATE_HZ, AudioChunk

log = logging.getLogger(__name__)

MAX_TRACK_LAG_S = 1.0
"""Most media time one role may fall behind another before it is filled with silence."""


class TrackAligner:
    """Per-role float samples at one input rate -> 16 kHz :class:`AudioChunk` objects.

    A role with nothing to send must not stall the others' meter, but a role whose audio merely
    arrives in bursts (another socket, read in bigger pieces, or the event loop busy for a
    moment) must not be shifted either. So a role more than ``max_lag_s`` behind is padded with
    silence only once another role has kept sending for ``stall_s`` of wall-clock time without a
    sample from it (a busy loop delays both, so it pads nothing); a role that will never send
    (``silent``: the other party of a one-channel stream) is kept level at once.

    Args:
        roles: the roles of the call.
        rate_hz: the input sample rate (the same for every role).
        max_lag_s: how far (media time) a stalled role may fall behind before it is padded.
        stall_s: wall-clock time without audio after which a lagging role counts as stalled.
        silent: roles no audio will ever come for.
    """

    def __init__(self, roles: tuple[str, ...], rate_hz: int, max_lag_s: float = MAX_TRACK_LAG_S,
                 stall_s: float = 1.0, silent: tuple[str, ...] = ()) -> None:
        import soxr

        self.roles = tuple(roles)
        self.rate_hz = rate_hz
        self.max_lag = int(max_lag_s * rate_hz)
        self.stall_s = stall_s
        self.silent = frozenset(silent)
        self._since: dict[str, dict[str, float | None]] = {r: {o: None for o in self.roles} for r in self.roles}
        """``_since[a][b]``: when ``a`` first sent after ``b``'s last samples (``None``: not since)."""
        self._resamplers = ({r: soxr.ResampleStream(rate_hz, SAMPLE_RATE_HZ, 1, dtype="float32") for r in self.roles}
                            if rate_hz != SAMPLE_RATE_HZ else None)
        self._in = {r: 0 for r in self.roles}
        self._out = {r: 0 for r in self.roles}

    @property
    def input_s(self) -> float:
        """Media time of the most advanced role."""
        return max(self._in.values()) / self.rate_hz

    def samples_in(self, role: str) -> int:
        """Input samples of ``role`` so far (silence fills included)."""
        return self._in[role]

    def feed(self, role: str, samples: np.ndarray) -> list[AudioChunk]:
        """The next samples of one role (then silent roles, and stalled ones lagging too far, are padded)."""
        now = time.monotonic()
        chunks = self._emit(role, samples)
        for waiting in self._since.values():
            waiting[role] = None
        for other in self.roles:
            if other == role:
                continue
            if self._since[role][other] is None:
                self._since[role][other] = now
            if other in self.silent:
                lag = self._in[role] - self._in[other]
            elif now - self._since[role][other] > self.stall_s:
                lag = self._in[role] - self._in[other] - self.max_lag
            else:
                continue
            if lag > 0:
                chunks += self._emit(other, np.zeros(lag, np.float32))
        return chunks

    def feed_all(self, channels: dict[str, np.ndarray]) -> list[AudioChunk]:
        """Samples of several roles covering the same stretch of time (e.g. one stereo frame)."""
        chunks: list[AudioChunk] = []
        for role, samples in channels.items():
            chunks += self._emit(role, samples)
        return chunks

    def silence(self, seconds: float) -> list[AudioChunk]:
        """Advance every role by ``seconds`` of silence (audio the source discarded)."""
        chunks: list[AudioChunk] = []
        n = int(round(seconds * self.rate_hz))
        for role in self.roles:
            for start in range(0, n, self.rate_hz):
                chunks += self._emit(role, np.zeros(min(self.rate_hz, n - start), np.float32))
        return chunks

    def flush(self) -> list[AudioChunk]:
        """Pad every role to the same length and drain the resamplers."""
        end = max(self._in.values())
        chunks: list[AudioChunk] = []
        for role in self.roles:
            if end > self._in[role]:
                chunks += self._emit(role, np.zeros(end - self._in[role], np.float32))
            if self._resamplers is not None:
                chunks += self._emit(role, np.zeros(0, np.float32), last=True)
        return chunks

    def _emit(self, role: str, samples: np.ndarray, last: bool = False) -> list[AudioChunk]:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        self._in[role] += len(samples)
        out = self._resamplers[role].resample_chunk(samples, last=last) if self._resamplers is not None else samples
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
