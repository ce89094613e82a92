"""The feed's control messages: parsing, validation and the error codes (docs/protocol.md).

Every client message is a JSON object with ``type`` and ``v``. Parsing never raises anything but
:class:`~voicemon.errors.ProtocolError`, whose ``code`` is sent back in a typed ``error`` message
and whose ``close_code`` closes the connection.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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
}


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


@dataclass(frozen=True)
class StartMessage:
    """A validated ``start`` message of the PCM ingest endpoint."""

    call_id: str
    encoding: str
    sample_rate: int
    channels: int
    roles: tuple[str, ...]
    mode: str


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
    return StartMessage(call_id, encoding, rate, channels, tuple(roles), mode)


@dataclass(frozen=True)
class Subscription:
    """A validated ``subscribe`` message."""

    calls: tuple[str, ...] | None
    since: dict[str, int]
    types: frozenset[str] | None

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
    return Subscription(selected, dict(since), frozenset(types) if types is not None else None)


def parse_ack(msg: dict[str, Any]) -> tuple[str, str, str]:
    """Validate an ``ack`` message: ``(call_id, prompt_id, action)``.

    Raises:
        ProtocolError: missing ids or an unknown action.
    """
    call_id, prompt_id = msg.get("call_id"), msg.get("prompt_id")
    action = msg.get("action", "acknowledged")
    if not isinstance(call_id, str) or not isinstance(prompt_id, str):
        raise protocol_error("bad_message", "ack needs call_id and prompt_id strings")
    if not isinstance(action, str) or action not in ("acknowledged", "dismissed"):
        raise protocol_error("bad_message", f"action must be acknowledged or dismissed, not {action!r}")
    return call_id, prompt_id, action
