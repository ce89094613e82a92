"""Decoding: formats, rates, channels and roles, on small generated files."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from voicemon.audio.decode import load_call_audio
from voicemon.errors import AudioFormatError
from voicemon.events import SAMPLE_RATE_HZ


def tone(rate, seconds=1.0, hz=440.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    left = 0.5 * np.sin(2 * np.pi * hz * t)
    if channels == 1:
        return left.astype(np.float32)
    right = 0.25 * np.sin(2 * np.pi * (hz * 1.5) * t)
    return np.stack([left, right], axis=1).astype(np.float32)


def peak_hz(x):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * SAMPLE_RATE_HZ / len(x)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_any_rate_becomes_16k_and_keeps_its_pitch(tmp_path, rate):
    path = tmp_path / f"t{rate}.wav"
    sf.write(path, tone(rate, 2.0), rate, subtype="PCM_16")
    audio = load_call_audio(path)
    assert list(audio.signals) == ["mixed"] and audio.source_rate_hz == rate
    assert audio.duration_s == pytest.approx(2.0, abs=0.01)
    assert peak_hz(audio.signals["mixed"]) == pytest.approx(440, abs=3)


@pytest.mark.parametrize("fmt,subtype,suffix", [
    ("WAV", "ULAW", ".wav"), ("WAV", "ALAW", ".wav"), ("WAV", "FLOAT", ".wav"),
    ("FLAC", "PCM_16", ".flac"), ("OGG", "VORBIS", ".ogg"),
])
def test_formats_read_by_libsndfile(tmp_path, fmt, subtype, suffix):
    path = tmp_path / f"call{suffix}"
    sf.write(path, tone(8000, 1.5), 8000, format=fmt, subtype=subtype)
    audio = load_call_audio(path)
    assert audio.duration_s == pytest.approx(1.5, abs=0.05)
    assert peak_hz(audio.signals["mixed"]) == pytest.approx(440, abs=5)


def test_mp3_via_ffmpeg_or_libsndfile(tmp_path):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed, so no mp3 can be made here")
    wav, mp3 = tmp_path / "a.wav", tmp_path / "a.mp3"
    sf.write(wav, tone(16000, 2.0), 16000, subtype="PCM_16")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    audio = load_call_audio(mp3)
    assert audio.duration_s == pytest.approx(2.0, abs=0.1)
    assert peak_hz(audio.signals["mixed"]) == pytest.approx(440, abs=5)


def test_stereo_maps_channels_to_roles(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, tone(8000, 1.0, channels=2), 8000, subtype="PCM_16")
    default = load_call_audio(path)
    assert list(default.signals) == ["agent", "customer"]
    assert peak_hz(default.signals["agent"]) == pytest.approx(440, abs=5)
    assert peak_hz(default.signals["customer"]) == pytest.approx(660, abs=5)
    swapped = load_call_audio(path, ("customer", "agent"))
    assert peak_hz(swapped.signals["customer"]) == pytest.approx(440, abs=5)


@pytest.mark.parametrize("make,reason", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk"), "not a readable audio file"),
    (lambda p: sf.write(p, np.zeros((100, 4), np.float32), 8000), "4 channels"),
    (lambda p: sf.write(p, np.zeros(100, np.float32), 4000), "outside 8000"),
    (lambda p: p.mkdir(), "is a directory"),
])
def test_bad_files_raise_typed_errors(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioFormatError, match=reason):
        load_call_audio(path)


def test_transcriber_returns_nothing_for_silence_and_tiny_audio(transcriber):
    assert transcriber.transcribe(np.zeros(2 * SAMPLE_RATE_HZ, np.float32)) == []
    assert transcriber.transcribe(np.zeros(SAMPLE_RATE_HZ // 10, np.float32) + 0.1) == []
    noise = (np.random.default_rng(3).standard_normal(3 * SAMPLE_RATE_HZ) * 1e-3).astype(np.float32)
    assert transcriber.transcribe(noise) == []
