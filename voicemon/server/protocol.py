"""The feed's control messages: parsing, validation and the error codes (docs/protocol.md).

Every client message is a JSON object with ``type`` and ``v``. Parsing never raises anything but
:class:`~voicemon.errors.ProtocolError`, whose ``code`` is sent back in a typed ``error`` message
and whose ``close_code`` closes the connection.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from voicemon.errors import ProtocolError

PROTOCOL_VERSION = 1
ENCODINGS = ("pcm_s16le", "mulaw")
MIN_RATE_HZ = 8000
MAX_RATE_HZ = 48000
CALL_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
"""The one call-id rule of every entry point (used with ``fullmatch``; ``.`` and ``..`` excluded)."""
CALL_ID_RULE = "1-128 characters of letters, digits, '.', '_' and '-' (not '.' or '..')"
MAX_CLOSE_REASON_BYTES = 123
"""RFC 6455: a close frame's reason is at most 123 bytes of UTF-8."""

# WebSocket close codes (RFC 6455 and the 4000-4999 private range) used by the feed.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_CONFLICT = 4409
CLOSE_RATE = 4429
CLOSE_TOO_SLOW = 4008

ERROR_CLOSE_CODES: dict[str, int] = {
    "bad_json": CLOSE_BAD_MESSAGE,
    "bad_message": CLOSE_BAD_MESSAGE,
    "unknown_type": CLOSE_BAD_MESSAGE,
    "unsupported_version": CLOSE_BAD_MESSAGE,
    "unsupported_encoding": CLOSE_UNSUPPORTED,
    "unsupported_rate": CLOSE_UNSUPPORTED,
    "bad_channels": CLOSE_BAD_MESSAGE,
    "audio_before_start": CLOSE_BAD_MESSAGE,
    "bad_audio_frame": CLOSE_UNSUPPORTED,
    "already_started": CLOSE_BAD_MESSAGE,
    "call_exists": CLOSE_CONFLICT,
    "too_many_calls": CLOSE_RATE,
    "rate_limited": CLOSE_RATE,
    "call_too_long": CLOSE_POLICY,
    "too_slow": CLOSE_TOO_SLOW,
    "unknown_call": CLOSE_BAD_MESSAGE,
    "unknown_prompt": CLOSE_BAD_MESSAGE,
    "internal": CLOSE_INTERNAL,
    "shutting_down": CLOSE_GOING_AWAY,
    "unauthorized": CLOSE_UNAUTHORIZED,
    "start_timeout": CLOSE_BAD_MESSAGE,
    "storage_failed": CLOSE_INTERNAL,
    "bad_ack": CLOSE_BAD_MESSAGE,
    "read_only": CLOSE_BAD_MESSAGE,
    "not_your_call": CLOSE_BAD_MESSAGE,
    "already_subscribed": CLOSE_BAD_MESSAGE,
}
NON_FATAL = frozenset({"unknown_call", "unknown_prompt", "bad_ack", "read_only", "not_your_call", "already_subscribed"})
"""Codes answered with an ``error`` message on an open watcher connection that stays open."""

EVENT_TYPES = ("call_started", "call_ended", "speech_started", "speech_ended", "transcript", "prosody", "cue",
               "reading", "prompt", "prompt_ack", "asr_status", "speakers", "error")
"""Every event type a watcher can receive (``voicemon.events.TYPE_NAMES`` plus the lifecycle)."""
WATCHER_ROLES = ("agent", "supervisor")
"""Who a watcher is: an ``agent`` may acknowledge prompts (of its own calls); a ``supervisor`` is read-only."""
METADATA_FIELDS = ("agent_id", "agent_name", "queue", "customer_ref")
"""The named call-metadata fields of ``start`` (and Twilio ``customParameters``); more go in ``meta``."""
MAX_TEXT_CHARS = 200
MAX_META_KEYS = 32
MAX_META_VALUE_CHARS = 500
META_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
START_FIELDS = frozenset({"type", "v", "call_id", "encoding", "sample_rate", "channels", "roles", "mode", "meta",
                          *METADATA_FIELDS})


def protocol_error(code: str, message: str) -> ProtocolError:
    """A :class:`ProtocolError` with the close code the protocol assigns to ``code``."""
    return ProtocolError(message, code=code, close_code=ERROR_CLOSE_CODES.get(code, CLOSE_BAD_MESSAGE))


def is_valid_call_id(value: object) -> bool:
    """Whether ``value`` follows the call-id rule (a plain file-name-safe token, never a path)."""
    return isinstance(value, str) and CALL_ID.fullmatch(value) is not None and value not in (".", "..")


def check_call_id(value: object, where: str = "call_id") -> str:
    """Validate a call id from any entry point.

    Args:
        value: the id as received.
        where: the field it came from (for the message).

    Returns:
        The id.

    Raises:
        ProtocolError: ``bad_message`` if it breaks the rule (the value is not echoed).
    """
    if not is_valid_call_id(value):
        raise protocol_error("bad_message", f"{where} must be {CALL_ID_RULE}")
    return value


def safe_call_id(text: str) -> str:
    """A valid call id made from any name (e.g. a file stem): other characters become ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:128]
    return cleaned if is_valid_call_id(cleaned) else "call"


def close_reason(text: str) -> str:
    """``text`` cut to fit a close frame (at most 123 bytes of UTF-8, whole characters)."""
    return text.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")


def error_message(exc: ProtocolError, **extra: Any) -> str:
    """The JSON ``error`` message sent before closing."""
    return json.dumps({"type": "error", "v": PROTOCOL_VERSION, "code": exc.code, "message": str(exc), **extra})


def parse_json(text: str | bytes, expected: tuple[str, ...]) -> dict[str, Any]:
    """Parse a client text message and check its ``type`` and ``v``.

    Args:
        text: the message.
        expected: the types allowed here.

    Raises:
        ProtocolError: bad JSON, not an object, wrong version or unexpected type.
    """
    msg = load_json(text)
    if not isinstance(msg, dict):
        raise protocol_error("bad_message", "message must be a JSON object")
    version = msg.get("v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise protocol_error("unsupported_version", f"protocol version {version!r} is not supported (this server speaks v{PROTOCOL_VERSION})")
    kind = msg.get("type")
    if kind not in expected:
        raise protocol_error("unknown_type", f"unexpected message type {kind!r} here (expected one of {', '.join(expected)})")
    return msg


def load_json(text: str | bytes) -> Any:
    """``json.loads`` that fails only with ``bad_json`` (also on nesting too deep to parse).

    Raises:
        ProtocolError: not JSON, or nested too deep.
    """
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise protocol_error("bad_json", f"message is not JSON: {exc}") from None
    except RecursionError:
        raise protocol_error("bad_json", "message is nested too deeply") from None


def is_int(value: object) -> bool:
    """A JSON integer (``bool`` and ``1.0`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _clean_text(value: object, where: str) -> str | None:
    """A short single-line text field (``None`` stays ``None``).

    Raises:
        ProtocolError: ``bad_message`` for a non-string, an over-long string or control characters.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT_CHARS:
        raise protocol_error("bad_message", f"{where} must be a string of 1-{MAX_TEXT_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 or 0x2028 <= ord(c) <= 0x2029 for c in value):
        raise protocol_error("bad_message", f"{where} must be one line of text (no control characters)")
    return value


def parse_metadata(fields: dict[str, Any], extra: dict[str, Any] | None = None, where: str = "start") -> dict[str, Any]:
    """Validate a call's metadata: ``agent_id``, ``agent_name``, ``queue``, ``customer_ref``, ``meta``.

    Args:
        fields: the message (or Twilio ``customParameters``) holding the named fields and ``meta``.
        extra: more free fields to merge into ``meta`` (Twilio's other custom parameters).
        where: the message it came from (for error messages).

    Returns:
        ``{"agent_id", "agent_name", "queue", "customer_ref"}`` (each a string or ``None``) and
        ``meta`` (a flat object of strings, numbers, booleans and nulls).

    Raises:
        ProtocolError: ``bad_message`` for a bad agent id (the call-id rule), text fields that are
            not one short line, or a ``meta`` that is not a small flat object.
    """
    agent_id = fields.get("agent_id")
    if agent_id is not None and not is_valid_call_id(agent_id):
        raise protocol_error("bad_message", f"{where} agent_id must be {CALL_ID_RULE}")
    out: dict[str, Any] = {"agent_id": agent_id}
    for name in METADATA_FIELDS[1:]:
        out[name] = _clean_text(fields.get(name), f"{where} {name}")
    meta = fields.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise protocol_error("bad_message", f"{where} meta must be an object")
    meta = {**meta, **(extra or {})}
    if len(meta) > MAX_META_KEYS:
        raise protocol_error("bad_message", f"{where} meta has more than {MAX_META_KEYS} keys")
    for key, value in meta.items():
        if not isinstance(key, str) or META_KEY.fullmatch(key) is None:
            raise protocol_error("bad_message", f"{where} meta keys must be 1-64 characters of letters, digits, '_', '.', '-'")
        if isinstance(value, str):
            if len(value) > MAX_META_VALUE_CHARS or any(ord(c) < 32 and c not in "\t" for c in value):
                raise protocol_error("bad_message", f"{where} meta values must be one line of at most {MAX_META_VALUE_CHARS} characters")
        elif isinstance(value, float) and not math.isfinite(value):
            raise protocol_error("bad_message", f"{where} meta numbers must be finite")
        elif value is not None and not isinstance(value, (bool, int, float)):
            raise protocol_error("bad_message", f"{where} meta values must be strings, numbers, booleans or null (a flat object)")
    out["meta"] = dict(meta)
    return out


@dataclass(frozen=True)
class StartMessage:
    """A validated ``start`` message of the PCM ingest endpoint."""

    call_id: str
    encoding: str
    sample_rate: int
    channels: int
    roles: tuple[str, ...]
    mode: str
    metadata: dict = field(default_factory=lambda: parse_metadata({}))


def parse_start(msg: dict[str, Any]) -> StartMessage:
    """Validate a ``start`` message.

    Raises:
        ProtocolError: any field missing or out of range.
    """
    call_id = check_call_id(msg.get("call_id"))
    encoding = msg.get("encoding", "pcm_s16le")
    if encoding not in ENCODINGS:
        raise protocol_error("unsupported_encoding", f"encoding {encoding!r} is not supported (use {' or '.join(ENCODINGS)})")
    rate = msg.get("sample_rate")
    if not is_int(rate) or not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise protocol_error("unsupported_rate", f"sample_rate must be an integer {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz, not {rate!r}")
    channels = msg.get("channels", 1)
    if not is_int(channels) or channels not in (1, 2):
        raise protocol_error("bad_channels", f"channels must be 1 or 2, not {channels!r}")
    default_roles = ["mixed"] if channels == 1 else ["agent", "customer"]
    roles = msg.get("roles", default_roles)
    if not isinstance(roles, list) or len(roles) != channels or not all(isinstance(r, str) for r in roles):
        raise protocol_error("bad_channels", f"roles must list one role per channel ({channels})")
    if (channels == 1 and roles != ["mixed"]) or (channels == 2 and sorted(roles) != ["agent", "customer"]):
        raise protocol_error("bad_channels", "roles must be [\"mixed\"] for 1 channel or agent and customer for 2")
    mode = msg.get("mode", "live")
    if mode not in ("live", "lockstep"):
        raise protocol_error("bad_message", f"mode must be live or lockstep, not {mode!r}")
    unknown = sorted(str(k)[:40] for k in msg if k not in START_FIELDS)
    if unknown:
        raise protocol_error("bad_message", f"unknown start field(s) {', '.join(unknown[:5])}: put your own fields in "
                             "\"meta\": {...} (named fields: " + ", ".join(METADATA_FIELDS) + ")")
    return StartMessage(call_id, encoding, rate, channels, tuple(roles), mode, parse_metadata(msg))


@dataclass(frozen=True)
class Subscription:
    """A validated ``subscribe`` message.

    Attributes:
        calls: the ids followed (``None``: every call).
        since: per call, the last seq received.
        types: only these event types (``None``: all).
        role: ``agent`` (may acknowledge prompts) or ``supervisor`` (read-only).
        agent_id: the agent this view belongs to: it may acknowledge only calls of this agent
            (or calls without an agent).
    """

    calls: tuple[str, ...] | None
    since: dict[str, int]
    types: frozenset[str] | None
    role: str = "agent"
    agent_id: str | None = None

    def may_ack(self, call_agent_id: str | None) -> str | None:
        """``None`` if this watcher may acknowledge a prompt of a call of ``call_agent_id``, else the error code."""
        if self.role != "agent":
            return "read_only"
        if call_agent_id is not None and self.agent_id != call_agent_id:
            return "not_your_call"
        return None

    def wants(self, call_id: str, kind: str) -> bool:
        """Whether an event of ``kind`` from ``call_id`` goes to this watcher."""
        return (self.calls is None or call_id in self.calls) and (self.types is None or kind in self.types)


def parse_subscribe(msg: dict[str, Any]) -> Subscription:
    """Validate a ``subscribe`` message.

    Raises:
        ProtocolError: malformed ``calls``, ``since`` or ``types``.
    """
    calls = msg.get("calls", "*")
    if calls == "*":
        selected = None
    elif isinstance(calls, list) and all(is_valid_call_id(c) for c in calls) and len(calls) <= 1000:
        selected = tuple(calls)
    else:
        raise protocol_error("bad_message", f'calls must be "*" or a list of at most 1000 call ids ({CALL_ID_RULE})')
    since = msg.get("since", {})
    if not isinstance(since, dict) or len(since) > 1000 or not all(
            is_valid_call_id(k) and is_int(v) and v >= 0 for k, v in since.items()):
        raise protocol_error("bad_message", "since must map call ids to the last seq received (integers >= 0)")
    types = msg.get("types")
    if types is not None and not (isinstance(types, list) and len(types) <= 100 and all(isinstance(t, str) for t in types)):
        raise protocol_error("bad_message", "types must be a list of event type names")
    unknown = sorted({t[:40] for t in types or () if t not in EVENT_TYPES})
    if unknown:
        raise protocol_error("bad_message", f"unknown event type(s) in types: {', '.join(unknown[:5])} "
                             f"(known: {', '.join(EVENT_TYPES)})")
    role = msg.get("role", "agent")
    if role not in WATCHER_ROLES:
        shown = role if isinstance(role, str) and len(role) <= 40 else type(role).__name__
        raise protocol_error("bad_message", f"role must be agent or supervisor, not {shown!r}")
    agent_id = msg.get("agent_id")
    if agent_id is not None and not is_valid_call_id(agent_id):
        raise protocol_error("bad_message", f"agent_id must be {CALL_ID_RULE}")
    return Subscription(selected, dict(since), frozenset(types) if types is not None else None, role, agent_id)


def ack_ids(msg: Any) -> dict[str, str]:
    """The ``call_id`` and ``prompt_id`` of an ack that are well-formed (echoed in its error)."""
    if not isinstance(msg, dict):
        return {}
    out = {}
    if is_valid_call_id(msg.get("call_id")):
        out["call_id"] = msg["call_id"]
    prompt_id = msg.get("prompt_id")
    if isinstance(prompt_id, str) and is_valid_call_id(prompt_id):
        out["prompt_id"] = prompt_id
    return out


def parse_ack(msg: dict[str, Any]) -> tuple[str, str, str]:
    """Validate an ``ack`` message: ``(call_id, prompt_id, action)``.

    Raises:
        ProtocolError: ``bad_ack`` (non-fatal: the watcher stays connected) for missing ids or an
            unknown action.
    """
    call_id, prompt_id = msg.get("call_id"), msg.get("prompt_id")
    action = msg.get("action", "acknowledged")
    if not isinstance(call_id, str) or not isinstance(prompt_id, str):
        raise protocol_error("bad_ack", "ack needs call_id and prompt_id strings")
    if not isinstance(action, str) or action not in ("acknowledged", "dismissed"):
        shown = action if isinstance(action, str) and len(action) <= 40 else type(action).__name__
        raise protocol_error("bad_ack", f"action must be acknowledged or dismissed, not {shown!r}")
    return call_id, prompt_id, action
