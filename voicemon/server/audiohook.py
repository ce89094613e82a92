"""Genesys Cloud AudioHook protocol v2 (sans I/O): handshake signatures and the session machine.

Genesys is the client: it opens a WebSocket to ``/audiohook``, signs the upgrade request (HTTP
message signatures, HMAC-SHA256 keyed with the integration's client secret), then runs the
``open`` -> ``opened`` transaction and streams headerless binary frames of interleaved PCMU.
This module turns text messages and binary frames into :class:`Step` objects (replies to send,
audio to analyse, what the driver must do next) and never touches a socket; the thin async
driver is :func:`voicemon.server.telephony.handle_audiohook`. See docs/telephony.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from voicemon.audio.g711 import ULAW_TO_FLOAT
from voicemon.errors import ProtocolError
from voicemon.events import Event, TranscriptUpdate
from voicemon.server.protocol import CLOSE_BAD_MESSAGE, CLOSE_UNAUTHORIZED, is_int

VERSION = "2"
RATE_HZ = 8000
PROBE_CONVERSATION = "00000000-0000-0000-0000-000000000000"
MAX_TEXT_CHARS = 65535
CLIENT_TYPES = ("open", "ping", "update", "paused", "resumed", "discarded", "error", "close")
CLOSE_REASONS = ("end", "error", "disconnect", "reconnect")
CHANNEL_ROLES = {"external": "customer", "internal": "agent"}
COVERED = ("@request-target", "@authority", "audiohook-organization-id", "audiohook-session-id",
           "audiohook-correlation-id", "x-api-key")
"""The six components Genesys signs. ``host`` is accepted for ``@authority`` (older drafts)."""
MIN_NONCE_CHARS = 22
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DURATION = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?")


class AudioHookError(ProtocolError):
    """A protocol violation: answered with ``disconnect`` (reason ``error``), then closed."""

    def __init__(self, message: str, code: str = "bad_message", reason: str = "error") -> None:
        super().__init__(message, code=code, close_code=CLOSE_UNAUTHORIZED if reason == "unauthorized" else CLOSE_BAD_MESSAGE)
        self.reason = reason


# -- handshake signatures ------------------------------------------------------------------------


class SignatureError(Exception):
    """The upgrade request is not authorised (the message says why; never sent to the client)."""


def parse_keys(entries: tuple[str, ...] | list[str]) -> dict[str, bytes]:
    """``API_KEY:BASE64_CLIENT_SECRET`` entries -> ``{api key: secret bytes}`` (empty secret allowed).

    Raises:
        ValueError: an entry without ``:`` or a secret that is not base64.
    """
    keys: dict[str, bytes] = {}
    for entry in entries:
        key, sep, secret = entry.partition(":")
        if not sep or not key:
            raise ValueError("each AudioHook key is API_KEY:BASE64_CLIENT_SECRET (secret may be empty)")
        try:
            keys[key] = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"the client secret of AudioHook key {key[:4]}... is not base64") from None
    return keys


def duration_s(text: object, where: str = "position") -> float:
    """An AudioHook ISO-8601 duration (``PT12.34S``, ``PT1M2S``) in seconds.

    Raises:
        AudioHookError: not such a duration.
    """
    match = DURATION.fullmatch(text) if isinstance(text, str) and len(text) <= 40 else None
    if match is None or text == "PT":
        raise AudioHookError(f"{where} must be an ISO-8601 duration like PT1.5S")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def format_duration(seconds: float) -> str:
    """Seconds -> ``PT<seconds>S`` as AudioHook writes it."""
    return f"PT{round(seconds, 3):g}S"


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == sep:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class SignatureInput:
    """One parsed ``Signature-Input`` member."""

    label: str
    components: tuple[str, ...]
    params: dict[str, Any]
    serialized: str
    """The inner list and parameters exactly as sent (the ``@signature-params`` value)."""


def parse_signature_input(header: str) -> SignatureInput:
    """``sig1=("a" "b");keyid="k";created=1`` -> :class:`SignatureInput`.

    Raises:
        SignatureError: not of that shape.
    """
    members = [m.strip() for m in _split_outside_quotes(header.strip(), ",") if m.strip()]
    if len(members) != 1:
        raise SignatureError("Signature-Input must hold exactly one signature")
    label, eq, value = members[0].partition("=")
    if not eq or not re.fullmatch(r"[a-z*][a-z0-9_.*-]*", label) or not value.startswith("("):
        raise SignatureError("Signature-Input is not label=(components);params")
    close = value.find(")")
    if close < 0:
        raise SignatureError("Signature-Input has no closing parenthesis")
    items = value[1:close].split()
    if not all(len(i) >= 2 and i[0] == '"' and i[-1] == '"' for i in items):
        raise SignatureError("Signature-Input components must be quoted strings")
    params: dict[str, Any] = {}
    for part in value[close + 1:].split(";")[1:] if value[close + 1:] else []:
        name, eq2, raw = part.strip().partition("=")
        if not eq2:
            raise SignatureError(f"Signature-Input parameter {name[:20]!r} has no value")
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            params[name] = raw[1:-1]
        elif re.fullmatch(r"-?\d{1,15}", raw):
            params[name] = int(raw)
        else:
            raise SignatureError(f"Signature-Input parameter {name[:20]!r} is neither a string nor an integer")
    if value[close + 1:] and not value[close + 1:].startswith(";"):
        raise SignatureError("Signature-Input parameters must follow the component list after ';'")
    return SignatureInput(label, tuple(i[1:-1] for i in items), params, value)


def signature_base(sig: SignatureInput, target: str, authority: str, headers: Mapping[str, str]) -> str:
    """The RFC 9421 signature base: one ``"name": value`` line per component, then the params.

    Raises:
        SignatureError: a covered header is missing.
    """
    lines = []
    for name in sig.components:
        if name == "@request-target":
            value = target
        elif name == "@authority":
            value = authority.lower()
        elif name.startswith("@"):
            raise SignatureError(f"unsupported derived component {name[:30]!r}")
        else:
            raw = headers.get(name)
            if raw is None:
                raise SignatureError(f"covered header {name[:40]!r} is missing")
            value = " ".join(raw.strip().split()) if name != "host" else raw.strip().lower()
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {sig.serialized}')
    return "\n".join(lines)


def verify_request(headers: Mapping[str, str], target: str, keys: Mapping[str, bytes], now: float,
                   max_age_s: float = 10.0, allow_unsigned: bool = False) -> str:
    """Check an AudioHook upgrade request: the API key, and the signature over the six components.

    Args:
        headers: the request's headers, names lower-case.
        target: the request target (path and query) of the request line.
        keys: configured API keys -> client secrets (empty = the key is used unsigned).
        now: the current Unix time.
        max_age_s: oldest ``created`` accepted.
        allow_unsigned: accept an unsigned request for a key whose client secret is empty.

    Returns:
        The API key.

    Raises:
        SignatureError: unknown key, missing, stale, malformed or wrong signature.
    """
    offered = headers.get("x-api-key", "")
    secret = None
    for key, value in keys.items():  # compare against every key: no early exit on a match
        if hmac.compare_digest(offered.encode(), key.encode()):
            secret = value
    known = secret is not None and bool(offered)
    sig_input, sig_value = headers.get("signature-input"), headers.get("signature")
    if sig_input is None and sig_value is None:
        if known and not secret and allow_unsigned:
            return offered
        raise SignatureError("unsigned request" if known else "unknown or missing X-API-KEY")
    if sig_input is None or sig_value is None:
        raise SignatureError("Signature and Signature-Input must come together")
    sig = parse_signature_input(sig_input)
    label, eq, value = sig_value.strip().partition("=")
    if label != sig.label or not eq or len(value) < 3 or value[0] != ":" or value[-1] != ":":
        raise SignatureError("Signature is not <label>=:base64:")
    try:
        signature = base64.b64decode(value[1:-1], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("Signature is not base64") from None
    covered = set(sig.components) | ({"@authority"} if "host" in sig.components else set())
    missing = [c for c in COVERED if c not in covered]
    if missing:
        raise SignatureError(f"signature does not cover {', '.join(missing)}")
    params = sig.params
    if params.get("alg", "hmac-sha256") != "hmac-sha256":
        raise SignatureError("alg must be hmac-sha256")
    if not isinstance(params.get("keyid"), str) or not hmac.compare_digest(params["keyid"].encode(), offered.encode()):
        raise SignatureError("keyid is not the X-API-KEY")
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or len(nonce) < MIN_NONCE_CHARS:
        raise SignatureError(f"nonce missing or shorter than {MIN_NONCE_CHARS} characters")
    created, expires = params.get("created"), params.get("expires")
    if not is_int(created) or created > now + 5.0 or now - created > max_age_s:
        raise SignatureError("signature created too long ago, in the future, or not at all")
    if expires is not None and (not is_int(expires) or expires < now):
        raise SignatureError("signature expired")
    base = signature_base(sig, target, headers.get("host", ""), headers)
    # an unknown key (or a key without secret) is still checked, against a random one
    mac = hmac.new(secret if known and secret else os.urandom(32), base.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(mac, signature) or not (known and secret):
        raise SignatureError("signature does not match" if known else "unknown or missing X-API-KEY")
    return offered


# -- the session ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Media:
    """The media chosen in ``opened``."""

    format: str
    channels: tuple[str, ...]
    rate_hz: int = RATE_HZ

    def to_json(self) -> dict:
        return {"type": "audio", "format": self.format, "channels": list(self.channels), "rate": self.rate_hz}

    @property
    def roles(self) -> tuple[str, ...]:
        """The voicemon role of each channel, in channel order."""
        return tuple(CHANNEL_ROLES[c] for c in self.channels)


@dataclass(frozen=True)
class OpenRequest:
    """A validated ``open``."""

    session_id: str
    organization_id: str
    conversation_id: str
    participant: dict
    media: Media
    language: str | None
    continued: tuple[str, ...]
    custom_config: dict
    probe: bool


@dataclass
class Step:
    """What one client message asks of the driver.

    Attributes:
        replies: server messages to send now, in order.
        opened: an ``open`` to answer with :meth:`AudioHookSession.accept` or ``reject``.
        audio: decoded samples by role (float32 at 8 kHz) to analyse.
        gap_s: media time the client dropped (``discarded`` / ``resumed``): advance the timeline.
        close: the client's close reason; answer with :meth:`AudioHookSession.closed` after
            flushing the call.
        language: a new language from ``update``.
        client_error: an ``error`` message's parameters (logged; the session goes on).
    """

    replies: list[dict] = field(default_factory=list)
    opened: OpenRequest | None = None
    audio: dict[str, np.ndarray] | None = None
    gap_s: float = 0.0
    close: str | None = None
    language: str | None = None
    client_error: dict | None = None


def _uuid(value: object, where: str) -> str:
    if not isinstance(value, str) or UUID.fullmatch(value) is None:
        raise AudioHookError(f"{where} must be a UUID")
    return value.lower()


def choose_media(offered: object) -> Media:
    """Pick the media voicemon wants from ``open.parameters.media``.

    Preference: PCMU stereo (external and internal, in the order offered), then one channel;
    always 8 kHz. (L16 is not taken: its byte order is not pinned down in the public material.)

    Raises:
        AudioHookError: not a list of media, or none voicemon can use.
    """
    if not isinstance(offered, list) or not offered or len(offered) > 32:
        raise AudioHookError("open.parameters.media must be a non-empty list")
    usable: list[Media] = []
    for item in offered:
        if not isinstance(item, dict):
            raise AudioHookError("each open.parameters.media entry must be an object")
        channels = item.get("channels")
        if (item.get("type") == "audio" and item.get("format") == "PCMU" and item.get("rate") == RATE_HZ
                and isinstance(channels, list) and 1 <= len(channels) <= 2
                and all(c in CHANNEL_ROLES for c in channels) and len(set(channels)) == len(channels)):
            usable.append(Media(item["format"], tuple(channels)))
    if not usable:
        raise AudioHookError("no offered media is PCMU at 8000 Hz with external/internal channels",
                             code="unsupported_encoding")
    return min(usable, key=lambda m: (-len(m.channels), m.channels != ("external", "internal")))


class AudioHookSession:
    """One AudioHook session's protocol state (server side), with no I/O.

    Args:
        session_id: the ``Audiohook-Session-Id`` header (every message's ``id`` must match it);
            ``None`` takes the first message's.
        organization_id: the ``Audiohook-Organization-Id`` header, checked against ``open``.
    """

    def __init__(self, session_id: str | None = None, organization_id: str | None = None) -> None:
        self.id = session_id.lower() if session_id else None
        self.organization_id = organization_id.lower() if organization_id else None
        self.state = "PREPARING"
        self.seq = 0
        self.clientseq = 0
        self.media: Media | None = None
        self.samples = 0
        """Samples per channel received (the server's own timeline)."""
        self.discarded_s = 0.0
        self.language: str | None = None
        self.probe = False

    @property
    def position_s(self) -> float:
        """The session's media time: samples counted plus audio the client discarded."""
        return self.samples / RATE_HZ + self.discarded_s

    # -- server messages

    def message(self, kind: str, parameters: dict | None = None) -> dict:
        """A server message with the next ``seq`` and the last ``clientseq``."""
        self.seq += 1
        return {"version": VERSION, "id": self.id or PROBE_CONVERSATION, "type": kind, "seq": self.seq,
                "clientseq": self.clientseq, "parameters": parameters or {}}

    def accept(self, open_request: OpenRequest, supported_languages: list[str] | None = None) -> dict:
        """The ``opened`` reply choosing ``open_request.media``; the session becomes active."""
        self.media = open_request.media
        self.state = "ACTIVE"
        params: dict[str, Any] = {"media": [self.media.to_json()], "startPaused": False}
        if supported_languages is not None:
            params["supportedLanguages"] = supported_languages
        return self.message("opened", params)

    def disconnect(self, reason: str, info: str = "") -> dict:
        """An unsolicited ``disconnect`` (``completed``, ``unauthorized`` or ``error``)."""
        self.state = "DISCONNECTING"
        params = {"reason": reason}
        if info:
            params["info"] = info[:500]
        return self.message("disconnect", params)

    def closed(self) -> dict:
        """The ``closed`` reply that ends the close transaction."""
        self.state = "CLOSED"
        return self.message("closed")

    def pause(self) -> dict:
        """Ask the client to pause the stream."""
        return self.message("pause")

    def resume(self) -> dict:
        """Ask the client to resume the stream."""
        return self.message("resume")

    def event(self, entities: list[dict]) -> dict | None:
        """An ``event`` message (e.g. transcript entities), or ``None`` when not active."""
        if self.state not in ("ACTIVE", "PAUSED", "CLOSING"):
            return None
        return self.message("event", {"entities": entities})

    # -- client messages

    def receive(self, message: str | bytes) -> Step:
        """One WebSocket message from the client -> :class:`Step`.

        Raises:
            AudioHookError: any violation of the protocol (answer with ``disconnect``).
        """
        if isinstance(message, (bytes, bytearray, memoryview)):
            return self._audio(bytes(message))
        if len(message) > MAX_TEXT_CHARS:
            raise AudioHookError(f"text message longer than 64 KiB ({len(message)} characters)")
        try:
            msg = json.loads(message)
        except (ValueError, RecursionError):
            raise AudioHookError("text message is not JSON", code="bad_json") from None
        if not isinstance(msg, dict):
            raise AudioHookError("message must be a JSON object")
        if msg.get("version") != VERSION:
            raise AudioHookError(f"version must be \"2\", not {str(msg.get('version'))[:10]!r}", code="unsupported_version")
        kind, seq, serverseq, params = msg.get("type"), msg.get("seq"), msg.get("serverseq"), msg.get("parameters")
        if not isinstance(kind, str) or not is_int(seq) or not is_int(serverseq) or not isinstance(params, dict):
            raise AudioHookError("message needs type, seq, serverseq and parameters")
        if seq != self.clientseq + 1:
            raise AudioHookError(f"seq {seq} is not clientseq + 1 ({self.clientseq + 1})")
        self.clientseq = seq
        if serverseq < 0 or serverseq > self.seq:
            raise AudioHookError(f"serverseq {serverseq} is ahead of the server's seq {self.seq}")
        msg_id = msg.get("id")
        if self.id is None:
            self.id = _uuid(msg_id, "id")
        elif not isinstance(msg_id, str) or msg_id.lower() != self.id:
            raise AudioHookError("id does not match the session")
        duration_s(msg.get("position"), "position")
        if kind not in CLIENT_TYPES:
            raise AudioHookError(f"{kind[:30]!r} is not a client message type", code="unknown_type")
        if self.state in ("CLOSED", "DISCONNECTED"):
            raise AudioHookError(f"{kind} after the session closed")
        if kind == "open":
            return self._open(params)
        if self.state == "PREPARING":
            raise AudioHookError(f"{kind} before open")
        return getattr(self, f"_{kind}")(params)

    def _open(self, params: dict) -> Step:
        if self.state != "PREPARING":
            raise AudioHookError("a second open on one session")
        org = _uuid(params.get("organizationId"), "open.parameters.organizationId")
        if self.organization_id is not None and org != self.organization_id:
            raise AudioHookError("organizationId differs from the Audiohook-Organization-Id header", reason="unauthorized",
                                 code="unauthorized")
        conversation = _uuid(params.get("conversationId"), "open.parameters.conversationId")
        participant = params.get("participant", {})
        if not isinstance(participant, dict):
            raise AudioHookError("open.parameters.participant must be an object")
        language = params.get("language")
        if language is not None and (not isinstance(language, str) or len(language) > 35):
            raise AudioHookError("open.parameters.language must be a language tag")
        continued = params.get("continuedSessions", [])
        if not isinstance(continued, list) or len(continued) > 16 or not all(isinstance(c, dict) for c in continued):
            raise AudioHookError("open.parameters.continuedSessions must be a list of objects")
        custom = params.get("customConfig", {})
        if not isinstance(custom, dict):
            raise AudioHookError("open.parameters.customConfig must be an object")
        media = choose_media(params.get("media"))
        self.state = "OPENING"
        self.language = language
        self.probe = conversation == PROBE_CONVERSATION
        return Step(opened=OpenRequest(self.id or "", org, conversation, participant, media, language,
                                       tuple(_uuid(c.get("id"), "continuedSessions[].id") for c in continued),
                                       custom, self.probe))

    def _ping(self, params: dict) -> Step:
        if "rtt" in params:
            duration_s(params["rtt"], "ping.parameters.rtt")
        return Step(replies=[self.message("pong")])

    def _update(self, params: dict) -> Step:
        language = params.get("language")
        if not isinstance(language, str) or len(language) > 35:
            raise AudioHookError("update.parameters.language must be a language tag")
        self.language = language
        return Step(replies=[self.message("updated")], language=language)

    def _paused(self, params: dict) -> Step:
        self.state = "PAUSED"
        return Step()

    def _resumed(self, params: dict) -> Step:
        gap = self._discard(params, "resumed")
        self.state = "ACTIVE"
        return Step(gap_s=gap)

    def _discarded(self, params: dict) -> Step:
        return Step(gap_s=self._discard(params, "discarded"))

    def _discard(self, params: dict, kind: str) -> float:
        duration_s(params.get("start"), f"{kind}.parameters.start")
        gap = duration_s(params.get("discarded"), f"{kind}.parameters.discarded")
        self.discarded_s += gap
        return gap

    def _error(self, params: dict) -> Step:
        code = params.get("code")
        if not is_int(code) or not isinstance(params.get("message", ""), str):
            raise AudioHookError("error.parameters needs an integer code and a message")
        return Step(client_error={"code": code, "message": str(params.get("message", ""))[:300]})

    def _close(self, params: dict) -> Step:
        reason = params.get("reason")
        if reason not in CLOSE_REASONS:
            raise AudioHookError(f"close.parameters.reason must be one of {', '.join(CLOSE_REASONS)}")
        self.state = "CLOSING"
        return Step(close=reason)

    def _audio(self, frame: bytes) -> Step:
        if self.state != "ACTIVE" or self.media is None:
            if self.state == "PAUSED":
                raise AudioHookError("audio while paused")
            raise AudioHookError("audio before opened", code="audio_before_start")
        channels = len(self.media.channels)
        width = 1
        if not frame or len(frame) % (width * channels):
            raise AudioHookError(f"audio frame of {len(frame)} bytes is not whole {channels}-channel samples",
                                 code="bad_audio_frame")
        if len(frame) > 2 * RATE_HZ * width * channels:
            raise AudioHookError(f"audio frame of {len(frame)} bytes is longer than 2 s", code="bad_audio_frame")
        data = ULAW_TO_FLOAT[np.frombuffer(frame, np.uint8)].reshape(-1, channels)
        self.samples += len(data)
        return Step(audio={role: data[:, i] for i, role in enumerate(self.media.roles)})


ROLE_CHANNELS = {role: channel for channel, role in CHANNEL_ROLES.items()}


def transcript_entity(event: Event, call_id: str) -> dict | None:
    """A voicemon final ``transcript`` event -> an AudioHook ``transcript`` event entity.

    The entity's ``id`` is stable per utterance (a UUID derived from the call and utterance ids);
    ``channel`` is the party's AudioHook channel; ``offset``/``duration`` are media time; the
    confidence is the mean of the words' probabilities. Tentative transcripts and other events
    give ``None``.
    """
    import uuid as uuidlib

    if not isinstance(event, TranscriptUpdate) or not event.final or not event.text:
        return None
    channel = ROLE_CHANNELS.get(event.role)
    if channel is None:
        return None
    words = event.words
    confidence = round(sum(w.probability for w in words) / len(words), 3) if words else 1.0
    start, end = float(event.start), float(event.end)
    return {"type": "transcript", "data": {
        "id": str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"voicemon:{call_id}:{event.utterance_id}")),
        "channel": channel, "isFinal": True, "offset": format_duration(start), "duration": format_duration(max(0.0, end - start)),
        "alternatives": [{"confidence": confidence,
                          "interpretations": [{"type": "display", "transcript": event.text}]}]}}
