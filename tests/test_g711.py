"""G.711 µ-law and A-law against the standard's values and the reference implementation."""

from __future__ import annotations

import numpy as np
import pytest

from voicemon.audio import g711


def test_known_values_from_the_g711_tables():
    # µ-law: 0xFF and 0x7F are +0 and -0; 0x80/0x00 the largest magnitudes (8031 * 4 = 32124)
    assert g711.ULAW_TO_INT16[[0xFF, 0x7F, 0x80, 0x00, 0xF0, 0x70]].tolist() == [0, 0, 32124, -32124, 120, -120]
    # A-law (even bits inverted): 0xD5/0x55 are the smallest steps +-8, 0xAA/0x2A the largest +-32256
    assert g711.ALAW_TO_INT16[[0xD5, 0x55, 0xAA, 0x2A]].tolist() == [8, -8, 32256, -32256]
    assert g711.ulaw_encode(np.array([0, 32767, -32768], np.int16)) == bytes([0xFF, 0x80, 0x00])
    assert g711.alaw_encode(np.array([0, -1, 32767, -32768], np.int16)) == bytes([0xD5, 0x55, 0xAA, 0x2A])


def test_every_code_round_trips():
    codes = bytes(range(256))
    ulaw = g711.ulaw_encode(g711.ULAW_TO_INT16)
    assert ulaw == codes[:0x7F] + b"\xff" + codes[0x80:]  # µ-law's -0 comes back as +0
    assert g711.alaw_encode(g711.ALAW_TO_INT16) == codes
    # floats decode to the same values / 32768 and encode back
    assert g711.ulaw_encode(g711.ulaw_decode(codes)) == ulaw
    assert g711.alaw_encode(g711.alaw_decode(codes)) == codes


def test_decode_is_monotonic_and_encode_picks_the_nearest_level():
    pcm = np.arange(-32768, 32768, dtype=np.int16)
    for decode_table, encode in ((g711.ULAW_TO_INT16, g711.ulaw_encode), (g711.ALAW_TO_INT16, g711.alaw_encode)):
        levels = np.unique(decode_table.astype(np.int32))
        back = decode_table[np.frombuffer(encode(pcm), np.uint8)].astype(np.int32)
        # the quantiser error never exceeds half the step of the segment the value falls in
        step = np.diff(levels)
        idx = np.clip(np.searchsorted(levels, pcm.astype(np.int32)), 1, len(levels) - 1)
        assert np.all(np.abs(back - pcm) <= step[idx - 1])
        assert np.all(np.diff(back) >= 0)


def test_matches_the_reference_implementation_in_the_standard_library():
    audioop = pytest.importorskip("audioop", reason="audioop left the standard library in Python 3.13")
    codes = bytes(range(256))
    pcm = np.arange(-32768, 32768, dtype=np.int16)
    assert np.array_equal(np.frombuffer(audioop.ulaw2lin(codes, 2), "<i2"), g711.ULAW_TO_INT16)
    assert np.array_equal(np.frombuffer(audioop.alaw2lin(codes, 2), "<i2"), g711.ALAW_TO_INT16)
    assert audioop.lin2ulaw(pcm.astype("<i2").tobytes(), 2) == g711.ulaw_encode(pcm)
    assert audioop.lin2alaw(pcm.astype("<i2").tobytes(), 2) == g711.alaw_encode(pcm)


def test_floats_are_clipped_not_wrapped():
    assert g711.ulaw_encode(np.array([2.0, -2.0], np.float32)) == bytes([0x80, 0x00])
    assert g711.ulaw_decode(b"\x80")[0] == pytest.approx(32124 / 32768)
