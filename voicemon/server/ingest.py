"""Turning a connection's audio frames into :class:`~voicemon.events.AudioChunk` objects.

Two inputs: voicemon's own PCM protocol (binary frames of interleaved 16-bit little-endian PCM or
8-bit mu-law, any rate 8-48 kHz, 1-2 channels) and Twilio Media Streams (JSON ``media`` messages
with base64 mu-law 8 kHz ``payload`` per ``track``). Both are resampled to 16 kHz per role with a
streaming resampler, keeping each role's sample clock.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from voicemon.audio.g711 import ULAW_TO_FLOAT
from voicemon.audio.stream_edge import StreamEdge
from voicemon.events import AudioChunk
from voicemon.server.protocol import StartMessage, protocol_error


MULAW = ULAW_TO_FLOAT
"""G.711 mu-law byte -> float32 in [-1, 1) (:mod:`voicemon.audio.g711`)."""


class FrameDecoder:
    """Decode one call's binary frames into per-role 16 kHz chunks.

    Args:
        start: the validated start message.
        max_frame_s: longest audio one frame may carry.
        chunk_ms: chunk length fed to the stages (``[audio] chunk_ms``): the frames go through the
            call's :class:`~voicemon.audio.stream_edge.StreamEdge`, like a file in ``analyze``.
    """

    def __init__(self, start: StartMessage, max_frame_s: float = 2.0, chunk_ms: int = 100) -> None:
        self.start = start
        self.width = 2 if start.encoding == "pcm_s16le" else 1
        self.frame_bytes = self.width * start.channels
        self.max_bytes = int(max_frame_s * start.sample_rate) * self.frame_bytes
        self.edge = StreamEdge(tuple(start.roles), start.sample_rate, chunk_ms)
        self.input_s = 0.0

    def decode(self, frame: bytes) -> list[AudioChunk]:
        """One binary frame -> one chunk per role.

        Raises:
            ProtocolError: a byte count that is not whole samples of every channel, or too long.
        """
        if len(frame) % self.frame_bytes:
            raise protocol_error("bad_audio_frame", f"frame of {len(frame)} bytes is not a whole number of "
                                 f"{self.start.channels}-channel {self.start.encoding} samples ({self.frame_bytes} bytes each)")
        if len(frame) > self.max_bytes:
            raise protocol_error("bad_audio_frame", f"frame of {len(frame)} bytes is longer than the {self.max_bytes}-byte limit")
        if self.width == 2:
            data = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768.0
        else:
            data = MULAW[np.frombuffer(frame, dtype=np.uint8)]
        data = data.reshape(-1, self.start.channels)
        self.input_s += len(data) / self.start.sample_rate
        out: list[AudioChunk] = []
        for i, role in enumerate(self.start.roles):
            out += self.edge.feed(role, data[:, i])
        return out

    def flush(self) -> list[AudioChunk]:
        """The last partial chunk and the resamplers' last samples at the end of the call."""
        return self.edge.flush()


TWILIO_TRACK_ROLES = {"inbound": "customer", "outbound": "agent"}
TWILIO_RATE_HZ = 8000
MAX_TRACK_LAG = TWILIO_RATE_HZ
"""Most 8 kHz samples one track may fall behind the other before it is filled with silence."""


class TwilioTracks:
    """Align Twilio's per-track 20 ms mu-law media into per-role chunks.

    Twilio sends inbound (caller = customer) and outbound (agent) media as separate messages,
    each with a millisecond ``timestamp`` from the start of the stream. Gaps (a track with
    nothing to send) are filled with silence so both roles keep the same clock.

    The audio goes through the call's :class:`~voicemon.audio.stream_edge.StreamEdge`, the
    resampler and chunker ``analyze`` uses, so a stream gives the chunks the same audio as a
    file gives.

    Args:
        tracks: the ``tracks`` of Twilio's start message.
        chunk_ms: chunk length fed to the stages (``[audio] chunk_ms``).
    """

    def __init__(self, tracks: list[str], chunk_ms: int = 100) -> None:
        known = [t for t in tracks if t in TWILIO_TRACK_ROLES]
        if not known:
            raise protocol_error("bad_message", f"Twilio start lists no inbound/outbound track: {tracks!r}")
        self.roles = ("agent", "customer") if len(known) == 2 else ("mixed",)
        self.track_role = {t: (TWILIO_TRACK_ROLES[t] if len(known) == 2 else "mixed") for t in known}
        self.edge = StreamEdge(self.roles, TWILIO_RATE_HZ, chunk_ms)
        self._in_samples = {r: 0 for r in self.roles}  # 8 kHz samples received (incl. filled gaps)
        self.input_s = 0.0

    def media(self, media: dict) -> list[AudioChunk]:
        """One Twilio ``media`` object -> chunks (possibly preceded by silence for a gap).

        Raises:
            ProtocolError: unknown track, bad base64 or timestamp.
        """
        track = media.get("track", "inbound")
        role = self.track_role.get(track) if isinstance(track, str) else None
        if role is None:
            raise protocol_error("bad_message", "media for a track the stream's start did not list")
        raw = media.get("payload", "")
        if not isinstance(raw, str):
            raise protocol_error("bad_audio_frame", "media payload must be a base64 string")
        try:
            payload = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise protocol_error("bad_audio_frame", f"media payload is not base64: {exc}") from None
        if len(payload) > TWILIO_RATE_HZ * 2:
            raise protocol_error("bad_audio_frame", f"media payload of {len(payload)} bytes is longer than 2 s")
        samples = MULAW[np.frombuffer(payload, dtype=np.uint8)]
        chunks: list[AudioChunk] = []
        stamp = media.get("timestamp", self._in_samples[role] / 8)
        try:
            if isinstance(stamp, bool) or not isinstance(stamp, (int, float, str)):
                raise TypeError(type(stamp).__name__)
            at = int(float(stamp)) * TWILIO_RATE_HZ // 1000
        except (TypeError, ValueError, OverflowError):
            raise protocol_error("bad_message", "media timestamp is not a number of milliseconds") from None
        gap = at - self._in_samples[role]
        if 0 < gap <= TWILIO_RATE_HZ * 10:
            chunks += self._emit(role, np.zeros(gap, np.float32))
        chunks += self._emit(role, samples)
        # A track with nothing to send must not stall the other's meter: keep it within 1 s.
        for other in self.roles:
            lag = self._in_samples[role] - self._in_samples[other] - MAX_TRACK_LAG
            if other != role and lag > 0:
                chunks += self._emit(other, np.zeros(lag, np.float32))
        self.input_s = max(self.input_s, self._in_samples[role] / TWILIO_RATE_HZ)
        return chunks

    def flush(self) -> list[AudioChunk]:
        """Pad every role to the same length, drain the resamplers and release the rest."""
        end = max(self._in_samples.values())
        chunks: list[AudioChunk] = []
        for role in self.roles:
            if end > self._in_samples[role]:
                chunks += self._emit(role, np.zeros(end - self._in_samples[role], np.float32))
        return chunks + self.edge.flush()

    def _emit(self, role: str, samples: np.ndarray) -> list[AudioChunk]:
        self._in_samples[role] += len(samples)
        return self.edge.feed(role, samples)
