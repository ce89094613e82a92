"""The process-wide patch of faster-whisper's ``pad_or_trim`` (the short encoder window) is
guarded by version and signature, and this test fails loudly when faster-whisper changes."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

faster_whisper = pytest.importorskip("faster_whisper")
import faster_whisper.transcribe as fwt  # noqa: E402

from voicemon.asr import transcriber as tr  # noqa: E402


def test_installed_faster_whisper_is_the_one_the_patch_was_checked_against():
    reason = tr.short_context_unsupported(fwt)
    assert reason is None, (
        f"{reason}. Read faster_whisper/transcribe.py of this version: if it still pads each segment's "
        "features with pad_or_trim(features) imported into its namespace, add its minor version to "
        "voicemon.asr.transcriber.PAD_OR_TRIM_TESTED (and re-run benchmarks/offline_speed.py)")
    # the call the patch intercepts is still there, by that name, with the default length
    source = inspect.getsource(fwt.WhisperModel.generate_segments)
    assert "pad_or_trim(segment)" in source, "faster-whisper no longer pads segments with pad_or_trim(segment)"


def test_patch_shortens_only_inside_the_context_and_keeps_explicit_lengths():
    assert tr._install_short_context()
    assert getattr(fwt, "_voicemon_patched", False)
    features = np.zeros((80, 250), dtype=np.float32)  # 2.5 s of log-mel frames
    assert fwt.pad_or_trim(features).shape == (80, tr.FULL_WINDOW_FRAMES)  # outside: faster-whisper's own
    tr._context.min_frames = 1000
    try:
        assert fwt.pad_or_trim(features).shape == (80, 1000)  # at least min_frames
        assert fwt.pad_or_trim(np.zeros((80, 1450), dtype=np.float32)).shape == (80, 1600)  # length + 1 s, whole s
        assert fwt.pad_or_trim(features, 500).shape == (80, 500)  # an explicit length is left alone
    finally:
        tr._context.min_frames = None


def test_an_unknown_version_is_refused_with_a_reason(monkeypatch):
    monkeypatch.setattr(faster_whisper, "__version__", "9.0.0")
    assert "9.0.0 is not a tested version" in tr.short_context_unsupported(fwt)
