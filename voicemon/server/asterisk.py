"""Asterisk media: the AudioSocket TCP protocol and ``chan_websocket`` (sans I/O).

**AudioSocket** (``AudioSocket(uuid,host:port)`` or ARI ``externalMedia`` with
``encapsulation=audiosocket``): every packet is a 1-byte type, a 2-byte big-endian payload
length and the payload. ``0x01`` carries the 16-byte call UUID (first), ``0x10`` signed 16-bit
little-endian PCM at 8 kHz (``0x11``-``0x16``: 12-48 kHz in newer releases), ``0x03`` a DTMF
digit, ``0x00`` hangs up and ``0xff`` reports an error.

**chan_websocket** (Asterisk 20.16 / 21.11 / 22.6 / 23): binary frames of raw media in the
channel's format, and text notifications such as ``MEDIA_START connection_id:... format:ulaw``.

Each socket carries one party. To monitor both, an ARI app snoops the channel twice (``spy=in``:
what the customer says; ``spy=out``: what the agent says) and sends each to voicemon. The two
legs are paired into one call by a shared id: for AudioSocket the UUID with its last byte
``00`` for the customer leg and ``01`` for the agent leg (any other last byte: a single ``mixed``
leg); for chan_websocket the ``call_id`` and ``leg=in|out`` URL query parameters.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass

import numpy as np

from voicemon.audio.g711 import ALAW_TO_FLOAT, ULAW_TO_FLOAT
from voicemon.server.protocol import check_call_id, protocol_error

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_SLIN = 0x10
KIND_ERROR = 0xFF
SLIN_RATES_HZ = {0x10: 8000, 0x11: 12000, 0x12: 16000, 0x13: 24000, 0x14: 32000, 0x15: 44100, 0x16: 48000}
HEADER_BYTES = 3
LEG_ROLES = {"in": "customer", "out": "agent"}
"""Snoop direction -> role: ``in`` is what the channel (the caller) says, ``out`` what it hears."""
UUID_LEG_BYTE = {0x00: "in", 0x01: "out"}


@dataclass(frozen=True)
class Packet:
    """One AudioSocket packet."""

    kind: int
    payload: bytes


@dataclass(frozen=True)
class Leg:
    """Which call a one-party stream belongs to and whose voice it is."""

    call_id: str
    role: str
    """``customer`` (snoop ``in``), ``agent`` (``out``) or ``mixed`` (one unpaired stream)."""


class AudioSocketParser:
    """Bytes from the TCP stream (any split) -> whole :class:`Packet` objects.

    Args:
        max_payload: the largest payload accepted (the format allows 65535 bytes).
    """

    def __init__(self, max_payload: int = 65535) -> None:
        self._buffer = bytearray()
        self.max_payload = max_payload

    def feed(self, data: bytes) -> list[Packet]:
        """The next bytes read -> the packets they complete.

        Raises:
            ProtocolError: a payload longer than ``max_payload``.
        """
        self._buffer += data
        packets = []
        while len(self._buffer) >= HEADER_BYTES:
            kind = self._buffer[0]
            length = int.from_bytes(self._buffer[1:3], "big")
            if length > self.max_payload:
                raise protocol_error("bad_audio_frame", f"AudioSocket payload of {length} bytes is over {self.max_payload}")
            if len(self._buffer) < HEADER_BYTES + length:
                break
            packets.append(Packet(kind, bytes(self._buffer[HEADER_BYTES:HEADER_BYTES + length])))
            del self._buffer[:HEADER_BYTES + length]
        return packets

    @property
    def pending(self) -> int:
        """Bytes of an incomplete packet held back."""
        return len(self._buffer)


def audiosocket_leg(packet: Packet) -> Leg:
    """The first packet (``0x01`` UUID) -> the leg it names.

    Raises:
        ProtocolError: not a UUID packet, or not 16 bytes.
    """
    if packet.kind != KIND_UUID:
        raise protocol_error("audio_before_start", f"the first AudioSocket packet must be the UUID (0x01), not 0x{packet.kind:02x}")
    if len(packet.payload) != 16:
        raise protocol_error("bad_message", f"the AudioSocket UUID must be 16 bytes, not {len(packet.payload)}")
    direction = UUID_LEG_BYTE.get(packet.payload[15])
    if direction is None:
        return Leg(str(uuidlib.UUID(bytes=packet.payload)), "mixed")
    base = str(uuidlib.UUID(bytes=packet.payload[:15] + b"\0"))
    return Leg(base, LEG_ROLES[direction])


def audiosocket_samples(packet: Packet) -> tuple[int, np.ndarray]:
    """An audio packet -> ``(rate_hz, float32 samples)``.

    Raises:
        ProtocolError: not an audio packet, or an odd byte count.
    """
    rate = SLIN_RATES_HZ.get(packet.kind)
    if rate is None:
        raise protocol_error("bad_message", f"AudioSocket packet 0x{packet.kind:02x} is not audio")
    if len(packet.payload) % 2:
        raise protocol_error("bad_audio_frame", f"AudioSocket audio of {len(packet.payload)} bytes is not whole 16-bit samples")
    return rate, np.frombuffer(packet.payload, "<i2").astype(np.float32) / 32768.0


def audiosocket_error(packet: Packet) -> str:
    """What an ``0xff`` error packet says (Asterisk sends a one-byte code)."""
    codes = {0x00: "none", 0x01: "the channel hung up", 0x02: "frame forwarding failed", 0x04: "memory allocation failed"}
    if len(packet.payload) == 1:
        return codes.get(packet.payload[0], f"error code 0x{packet.payload[0]:02x}")
    return "error" if not packet.payload else packet.payload[:64].decode("utf-8", "replace")


def packet(kind: int, payload: bytes = b"") -> bytes:
    """Encode one AudioSocket packet (for replies such as hangup)."""
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


# -- chan_websocket ------------------------------------------------------------------------------

WS_FORMATS = {"ulaw": (8000, 1), "alaw": (8000, 1), "slin": (8000, 2), "slin16": (16000, 2)}


def websocket_leg(query: dict[str, str]) -> Leg:
    """The ``call_id`` and ``leg`` (``in``/``out``, absent = one ``mixed`` stream) of a chan_websocket URL.

    Raises:
        ProtocolError: no or bad call id, or an unknown leg.
    """
    call_id = check_call_id(query.get("call_id"), "?call_id")
    leg = query.get("leg")
    if leg is None:
        return Leg(call_id, "mixed")
    if leg not in LEG_ROLES:
        raise protocol_error("bad_channels", "?leg must be in (the customer) or out (the agent)")
    return Leg(call_id, LEG_ROLES[leg])


def parse_websocket_text(text: str) -> tuple[str, dict[str, str]]:
    """A chan_websocket text notification (``MEDIA_START connection_id:x format:ulaw``) -> ``(command, fields)``.

    Raises:
        ProtocolError: empty or not ``COMMAND key:value ...``.
    """
    parts = text.strip().split()
    if not parts or len(text) > 4096:
        raise protocol_error("bad_message", "empty or oversized chan_websocket text message")
    command = parts[0]
    if not command.replace("_", "").isalpha() or not command.isupper():
        raise protocol_error("bad_message", f"{command[:30]!r} is not a chan_websocket notification")
    fields = {}
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if sep:
            fields[key] = value
    return command, fields


class WebSocketMedia:
    """chan_websocket binary frames in the channel's format -> float32 samples.

    Args:
        format_name: ``ulaw`` (Asterisk's default), ``alaw``, ``slin`` or ``slin16``.

    Raises:
        ProtocolError: a format voicemon does not decode.
    """

    def __init__(self, format_name: str = "ulaw") -> None:
        if format_name not in WS_FORMATS:
            raise protocol_error("unsupported_encoding", f"chan_websocket format {format_name[:20]!r} is not one of "
                                 f"{', '.join(WS_FORMATS)}")
        self.format = format_name
        self.rate_hz, self.width = WS_FORMATS[format_name]

    def decode(self, frame: bytes) -> np.ndarray:
        """One binary frame -> samples.

        Raises:
            ProtocolError: not whole samples.
        """
        if len(frame) % self.width:
            raise protocol_error("bad_audio_frame", f"frame of {len(frame)} bytes is not whole {self.format} samples")
        codes = np.frombuffer(frame, np.uint8)
        if self.format == "ulaw":
            return ULAW_TO_FLOAT[codes]
        if self.format == "alaw":
            return ALAW_TO_FLOAT[codes]
        return np.frombuffer(frame, "<i2").astype(np.float32) / 32768.0
