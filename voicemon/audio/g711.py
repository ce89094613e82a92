"""ITU-T G.711 µ-law and A-law companding, exact and vectorised.

Telephony sources send 8-bit companded samples: µ-law (PCMU: Twilio, Genesys AudioHook,
Asterisk ``ulaw``) and A-law (PCMA: Europe). Decoding follows the G.711 tables exactly (µ-law
decodes to ±32124 at most, A-law to ±32256, in 16-bit linear units); encoding follows the
reference segment search (the CCITT/Sun ``g711.c`` routines), so ``encode(decode(b)) == b`` for
every code except µ-law's negative zero ``0x7F``, which decodes to 0 and comes back as ``0xFF``. Both directions are table look-ups over numpy arrays.
"""

from __future__ import annotations

import numpy as np

_CODES = np.arange(256, dtype=np.int32)


def _ulaw_decode_table() -> np.ndarray:
    u = ~_CODES & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    return np.where(u & 0x80, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = _CODES ^ 0x55
    segment = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(segment == 0, t + 8, (t + 0x108) << np.maximum(segment - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _segment(value: np.ndarray, ends: tuple[int, ...]) -> np.ndarray:
    """Index of the first segment end >= value (8 = beyond the last)."""
    return np.searchsorted(np.asarray(ends), value, side="left")


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + (0x84 >> 2)
    segment = _segment(magnitude, (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF))
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = _segment(magnitude, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


ULAW_TO_INT16 = _ulaw_decode_table()
"""µ-law byte -> 16-bit linear sample."""
ALAW_TO_INT16 = _alaw_decode_table()
"""A-law byte -> 16-bit linear sample."""
ULAW_TO_FLOAT = (ULAW_TO_INT16 / 32768.0).astype(np.float32)
"""µ-law byte -> float32 in [-1, 1)."""
ALAW_TO_FLOAT = (ALAW_TO_INT16 / 32768.0).astype(np.float32)
"""A-law byte -> float32 in [-1, 1)."""
_INT16_TO_ULAW = _ulaw_encode_table()
_INT16_TO_ALAW = _alaw_encode_table()


def _codes(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.astype(np.uint8, copy=False)
    return np.frombuffer(data, dtype=np.uint8)


def _linear(pcm: np.ndarray) -> np.ndarray:
    pcm = np.asarray(pcm)
    if pcm.dtype.kind == "f":
        pcm = np.round(pcm * 32768.0)
    return (np.clip(pcm, -32768, 32767).astype(np.int32) + 32768).astype(np.intp)


def ulaw_decode(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """µ-law bytes -> float32 samples in [-1, 1)."""
    return ULAW_TO_FLOAT[_codes(data)]


def alaw_decode(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """A-law bytes -> float32 samples in [-1, 1)."""
    return ALAW_TO_FLOAT[_codes(data)]


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit integer samples (or floats in [-1, 1], clipped) -> µ-law bytes."""
    return _INT16_TO_ULAW[_linear(pcm)].tobytes()


def alaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit integer samples (or floats in [-1, 1], clipped) -> A-law bytes."""
    return _INT16_TO_ALAW[_linear(pcm)].tobytes()
