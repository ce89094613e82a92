"""Typed errors. Every error voicemon raises on purpose derives from :class:`VoicemonError`."""

from __future__ import annotations


class VoicemonError(Exception):
    """Base class of every error voicemon raises deliberately."""


class ConfigError(VoicemonError):
    """A configuration file, environment variable or flag has an invalid value."""


class AudioFormatError(VoicemonError):
    """Audio could not be decoded or has an unsupported shape, rate or encoding."""


class ModelUnavailableError(VoicemonError):
    """No speech model could be loaded; the message lists every place that was tried."""


class ProtocolError(VoicemonError):
    """A WebSocket peer sent a message that breaks the voicemon protocol."""

    def __init__(self, message: str, code: str = "bad_message", close_code: int = 1008) -> None:
        super().__init__(message)
        self.code = code
        self.close_code = close_code


class EventFormatError(VoicemonError):
    """An event or envelope read back from JSON (a call's log, a hub stream) is not one voicemon
    writes: not JSON, an unknown ``type``, or missing or mistyped fields."""


class DeviceError(VoicemonError):
    """A sound device could not be opened (no PortAudio, no input device, bad device id)."""


class BatchError(VoicemonError):
    """A batch run cannot start or go on: its manifest is locked or unreadable, or the engine
    (Ray) is missing or unreachable."""


class AsrDropped(VoicemonError):
    """A live ASR pool dropped a queued utterance to keep its backlog bounded (the utterance
    then has no text; the call goes on)."""
