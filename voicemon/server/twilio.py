"""Validating Twilio Media Streams control messages (sans I/O).

Twilio's messages are accepted exactly as Twilio sends them (``connected``, ``start``, ``media``,
``mark``, ``dtmf``, ``stop``); anything else that arrives on ``/twilio`` — other shapes, other
types, ids that are not call ids — is a :class:`~voicemon.errors.ProtocolError` with a
documented code, never an exception from deep inside the handler.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from voicemon.errors import ProtocolError
from voicemon.server.ingest import TWILIO_RATE_HZ
from voicemon.server.protocol import (
    CLOSE_UNAUTHORIZED,
    METADATA_FIELDS,
    check_call_id,
    is_int,
    is_valid_call_id,
    load_json,
    parse_metadata,
    protocol_error,
)

EVENTS = ("connected", "start", "media", "mark", "dtmf", "stop")


@dataclass(frozen=True)
class TwilioStart:
    """A validated Twilio ``start`` message."""

    call_id: str
    tracks: tuple[str, ...]
    stream_sid: str
    metadata: dict = field(default_factory=lambda: parse_metadata({}))
    mode: str = "live"


def parse_twilio_message(text: str | bytes) -> tuple[str, dict[str, Any]]:
    """One Twilio text message -> ``(event, message)``.

    Raises:
        ProtocolError: not JSON, not an object, or an event Twilio does not send.
    """
    if isinstance(text, bytes):
        raise protocol_error("bad_message", "Twilio Media Streams messages are JSON text")
    msg = load_json(text)
    if not isinstance(msg, dict):
        raise protocol_error("bad_message", "a Twilio message must be a JSON object")
    event = msg.get("event")
    if not isinstance(event, str) or event not in EVENTS:
        shown = event if isinstance(event, str) and len(event) <= 40 else type(event).__name__
        raise protocol_error("unknown_type", f"unknown Twilio event {shown!r}")
    return event, msg


def _object(value: Any, name: str, default: dict | None = None) -> dict[str, Any]:
    if value is None and default is not None:
        return default
    if not isinstance(value, dict):
        raise protocol_error("bad_message", f"Twilio {name} must be an object")
    return value


def parse_twilio_start(msg: dict[str, Any], token: str | None) -> TwilioStart:
    """Validate a ``start`` message: token, media format, tracks and the call id.

    The call id is ``customParameters.call_id`` if given, else ``callSid``, else ``streamSid``;
    whichever is used must follow the call-id rule. ``agent_id``, ``agent_name``, ``queue`` and
    ``customer_ref`` parameters are the call's metadata; every other parameter (but ``call_id``,
    ``token`` and ``mode``) goes into its ``meta``. ``mode`` is ``live`` (Twilio's own streams) or
    ``lockstep`` (uploading a recording in Twilio's format: the server folds in every
    transcription before the next chunk, so the events are ``analyze``'s).

    Raises:
        ProtocolError: ``unauthorized`` (4401), ``unsupported_encoding`` or ``bad_message``.
    """
    start = _object(msg.get("start"), "start")
    params = _object(start.get("customParameters"), "start.customParameters", default={})
    if token:
        offered = params.get("token")
        if not isinstance(offered, str) or not hmac.compare_digest(offered.encode(), token.encode()):
            raise ProtocolError("missing or wrong token (add <Parameter name=\"token\" .../> to <Stream>)",
                                code="unauthorized", close_code=CLOSE_UNAUTHORIZED)
    fmt = _object(start.get("mediaFormat"), "start.mediaFormat", default={})
    if fmt:
        rate = fmt.get("sampleRate", TWILIO_RATE_HZ)
        rate_ok = (is_int(rate) and rate == TWILIO_RATE_HZ) or rate == str(TWILIO_RATE_HZ)
        if fmt.get("encoding") != "audio/x-mulaw" or not rate_ok:
            raise protocol_error("unsupported_encoding", "Twilio media format must be audio/x-mulaw at 8000 Hz")
    tracks = start.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or not tracks or len(tracks) > 4 or not all(isinstance(t, str) for t in tracks):
        raise protocol_error("bad_message", "Twilio start.tracks must be a list of track names")
    stream_sid = msg.get("streamSid", start.get("streamSid", ""))
    for name, value in (("customParameters.call_id", params.get("call_id")), ("callSid", start.get("callSid")),
                        ("streamSid", stream_sid)):
        if value not in (None, ""):
            call_id = check_call_id(value, f"Twilio {name}")
            break
    else:
        raise protocol_error("bad_message", "Twilio start has no callSid or streamSid")
    mode = params.get("mode", "live")
    if mode not in ("live", "lockstep"):
        raise protocol_error("bad_message", "Twilio customParameters.mode must be live or lockstep")
    extra = {k: v for k, v in params.items() if k not in (*METADATA_FIELDS, "call_id", "token", "mode")}
    metadata = parse_metadata({k: params[k] for k in METADATA_FIELDS if k in params}, extra,
                              where="Twilio customParameters")
    return TwilioStart(call_id, tuple(tracks), stream_sid if is_valid_call_id(stream_sid) else "", metadata, mode)


def media_object(msg: dict[str, Any]) -> dict[str, Any]:
    """The ``media`` object of a ``media`` message.

    Raises:
        ProtocolError: missing or not an object.
    """
    return _object(msg.get("media"), "media")
