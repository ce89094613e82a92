"""``--redact-audio``: redacted spans are silent in the copy, everything else is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from voicemon.errors import AudioFormatError
from voicemon.redact.audio import MutedSpan, mute, redacted_spans, write_redacted_audio

RATE = 8000


def _events(*spans):
    words = [{"start": 0.2, "end": 0.5, "text": "Sure,", "probability": 0.9}]
    words += [{"start": a, "end": b, "text": label, "probability": 0.8} for a, b, label in spans]
    return [{"type": "transcript", "final": False, "role": "customer", "words": [
                {"start": 3.0, "end": 3.5, "text": "[PHONE]", "probability": 0.5}]},  # tentative: ignored
            {"type": "transcript", "final": True, "role": "customer", "words": words},
            {"type": "cue", "t": 1.0}]


def test_spans_come_from_the_placeholders_of_final_transcripts():
    spans = redacted_spans(_events((1.0, 2.0, "[CARD]"), (2.5, 2.7, "[CVV]")))
    assert spans == [MutedSpan(1.0, 2.0, "CARD", "customer"), MutedSpan(2.5, 2.7, "CVV", "customer")]


def test_mute_zeroes_the_padded_span_on_every_channel_only():
    rng = np.random.default_rng(0)
    data = rng.uniform(-0.5, 0.5, size=(RATE * 4, 2)).astype(np.float32)
    out, seconds = mute(data, RATE, [MutedSpan(1.0, 2.0, "CARD", "customer"),
                                     MutedSpan(1.9, 2.2, "CVV", "customer")], pad_s=0.1)
    a, b = round(0.9 * RATE), round(2.3 * RATE)
    assert not np.any(out[a:b])
    assert np.array_equal(out[:a], data[:a]) and np.array_equal(out[b:], data[b:])
    assert seconds == pytest.approx(1.4, abs=1e-3)  # the overlap counted once
    assert np.any(data[a:b])  # the input itself is untouched


def test_write_redacted_audio_keeps_rate_channels_and_the_rest(tmp_path):
    rng = np.random.default_rng(1)
    source = tmp_path / "call.wav"
    x = (rng.uniform(-0.4, 0.4, size=(RATE * 3, 2)) * 32767).round() / 32767
    sf.write(source, x, RATE, subtype="PCM_16")
    original, _ = sf.read(source, dtype="float32", always_2d=True)
    info = write_redacted_audio(source, _events((1.0, 1.5, "[CARD]")), tmp_path / "out" / "call.redacted.wav",
                                pad_ms=50)
    assert info == {"path": str(tmp_path / "out" / "call.redacted.wav"), "spans": 1, "muted_s": 0.6}
    y, rate = sf.read(info["path"], dtype="float32", always_2d=True)
    assert rate == RATE and y.shape == original.shape
    a, b = round(0.95 * RATE), round(1.55 * RATE)
    assert not np.any(y[a:b])
    assert np.array_equal(y[:a], original[:a]) and np.array_equal(y[b:], original[b:])
    assert not (tmp_path / "out" / "call.redacted.wav.part").exists()


def test_an_unreadable_source_is_a_typed_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioFormatError):
        write_redacted_audio(bad, [], tmp_path / "x.wav")
