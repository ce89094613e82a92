"""FreeSWITCH ``mod_audio_fork`` / ``mod_audio_stream`` and jambonz ``listen`` (sans I/O).

All three dial a WebSocket, send one text frame of JSON metadata, then headerless binary frames
of 16-bit little-endian linear PCM (L16) at 8 or 16 kHz: one channel (``mono``: the caller;
``mixed``: both parties summed) or two (``stereo``: caller and callee on separate channels).
jambonz puts ``sampleRate`` and ``mixType`` in the metadata; FreeSWITCH's metadata is whatever
the dialplan passes, so rate and mix may also come from the URL query (``?rate=16000&mix=stereo``)
or the configuration. Which stereo channel is the caller is not documented by the sources, so it
is configurable (``telephony.audiofork_caller_channel``). See docs/telephony.md.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from voicemon.server.protocol import check_call_id, is_int, protocol_error

RATES_HZ = (8000, 16000)
MIX_TYPES = ("mono", "mixed", "stereo")
CALL_ID_FIELDS = ("call_id", "callSid", "callId", "call_sid", "uuid", "sessionId")
MAX_METADATA_CHARS = 16384
META_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class ForkStart:
    """The stream's layout and the call it belongs to."""

    call_id: str
    rate_hz: int
    mix: str
    roles: tuple[str, ...]
    """The role of each channel, in channel order."""
    metadata: dict


def _pick(name: str, metadata: Mapping[str, Any], query: Mapping[str, str], *aliases: str) -> Any:
    for key in (name, *aliases):
        if key in metadata:
            return metadata[key]
    for key in (name, *aliases):
        if key in query:
            return query[key]
    return None


def parse_metadata(text: str | bytes, query: Mapping[str, str], default_rate_hz: int = 8000,
                   default_mix: str = "mono", mono_role: str = "customer", caller_channel: int = 0) -> ForkStart:
    """The first text frame (JSON metadata) plus the URL query -> :class:`ForkStart`.

    Args:
        text: the first frame.
        query: the upgrade URL's query parameters (first value of each).
        default_rate_hz: rate when neither metadata nor query names one.
        default_mix: mix type when neither names one.
        mono_role: the role of a ``mono`` stream (the caller: ``customer``; or ``mixed``).
        caller_channel: which stereo channel (0 or 1) carries the caller (the customer).

    Raises:
        ProtocolError: binary first frame, not a JSON object, unsupported rate or mix, bad id.
    """
    if isinstance(text, (bytes, bytearray)):
        raise protocol_error("audio_before_start", "the first frame must be the JSON metadata text frame")
    if len(text) > MAX_METADATA_CHARS:
        raise protocol_error("bad_message", f"metadata longer than {MAX_METADATA_CHARS} characters")
    try:
        metadata = json.loads(text)
    except (ValueError, RecursionError):
        raise protocol_error("bad_json", "the metadata frame is not JSON") from None
    if not isinstance(metadata, dict):
        raise protocol_error("bad_message", "the metadata frame must be a JSON object")
    rate = _pick("sampleRate", metadata, query, "sample_rate", "rate")
    rate = default_rate_hz if rate is None else rate
    if isinstance(rate, str) and rate.isdigit():
        rate = int(rate)
    if not is_int(rate) or rate not in RATES_HZ:
        raise protocol_error("unsupported_rate", f"sample rate must be 8000 or 16000 Hz, not {str(rate)[:12]!r}")
    mix = _pick("mixType", metadata, query, "mix_type", "mix")
    mix = default_mix if mix is None else mix
    if mix not in MIX_TYPES:
        raise protocol_error("bad_channels", f"mix type must be mono, mixed or stereo, not {str(mix)[:12]!r}")
    if mix == "stereo":
        roles = ("customer", "agent") if caller_channel == 0 else ("agent", "customer")
    else:
        roles = ("mixed",) if mix == "mixed" else (mono_role,)
    call_id = None
    for key in CALL_ID_FIELDS:
        value = metadata.get(key, query.get(key))
        if value not in (None, ""):
            call_id = check_call_id(value, f"metadata {key}")
            break
    if call_id is None:
        raise protocol_error("bad_message", f"the metadata names no call ({', '.join(CALL_ID_FIELDS)}, or ?call_id=)")
    return ForkStart(call_id, rate, mix, roles, metadata)


class ForkDecoder:
    """Binary L16 frames -> per-role float32 samples at the stream's rate.

    Args:
        start: the stream's layout.
        max_frame_s: the longest frame accepted.
    """

    def __init__(self, start: ForkStart, max_frame_s: float = 2.0) -> None:
        self.start = start
        self.channels = len(start.roles)
        self.max_bytes = int(max_frame_s * start.rate_hz) * 2 * self.channels
        self.samples = 0

    def decode(self, frame: bytes | str) -> dict[str, np.ndarray]:
        """One frame -> ``{role: samples}``.

        Raises:
            ProtocolError: a text frame, or bytes that are not whole samples, or too long.
        """
        if isinstance(frame, str):
            raise protocol_error("bad_message", "after the metadata only binary audio frames are expected")
        if len(frame) % (2 * self.channels):
            raise protocol_error("bad_audio_frame", f"frame of {len(frame)} bytes is not whole {self.channels}-channel "
                                 "16-bit samples")
        if len(frame) > self.max_bytes:
            raise protocol_error("bad_audio_frame", f"frame of {len(frame)} bytes is longer than {self.max_bytes} bytes")
        data = (np.frombuffer(frame, "<i2").astype(np.float32) / 32768.0).reshape(-1, self.channels)
        self.samples += len(data)
        return {role: data[:, i] for i, role in enumerate(self.start.roles)}


def call_meta(metadata: dict, keep: int = 32) -> dict:
    """The metadata kept as the call's ``meta``: flat scalar fields only, at most ``keep`` of them.

    Nested values, long strings, control characters and odd keys are dropped rather than
    refused: the metadata is whatever the dialplan or application put there.
    """
    out: dict = {}
    for key, value in metadata.items():
        if len(out) >= keep:
            break
        if not isinstance(key, str) or META_KEY.fullmatch(key) is None:
            continue
        if isinstance(value, str):
            if len(value) <= 256 and all(ord(c) >= 32 for c in value):
                out[key] = value
        elif value is None or isinstance(value, bool) or (isinstance(value, (int, float)) and math.isfinite(value)):
            out[key] = value
    return out
