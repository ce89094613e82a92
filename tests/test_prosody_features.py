"""Tests for voicemon.prosody.features on synthetic signals with known answers.

Real-speech checks use ../shared/data (EmoDB clips, 8 kHz call recordings) and
skip cleanly when that folder is absent.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voicemon.prosody import features as pf

SR = 16000
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EMODB = SHARED / "emodb"
CALL = SHARED / "calls" / "auto_repairs_40_stereo.wav"


def _tone(f_hz: float, dur_s: float = 2.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(dur_s * SR)) / SR
    return (amp * np.sin(2 * np.pi * f_hz * t)).astype(np.float32)


def _harmonic(
    f0_hz: float = 150.0,
    dur_s: float = 2.0,
    rolloff_db_oct: float = 12.0,
    amp: float = 0.3,
    lowest_hz: float = 0.0,
) -> np.ndarray:
    """Harmonic series up to 3.8 kHz whose levels fall by ``rolloff_db_oct`` per octave."""
    t = np.arange(int(dur_s * SR)) / SR
    y = np.zeros_like(t)
    for k in range(1, int(3800 // f0_hz) + 1):
        if k * f0_hz >= lowest_hz:
            gain = 10 ** (-rolloff_db_oct * np.log2(k) / 20)
            y += gain * np.sin(2 * np.pi * f0_hz * k * t + k * k)
    return (amp * y / np.abs(y).max()).astype(np.float32)


def _am(mod_hz: float, dur_s: float = 3.0) -> np.ndarray:
    """Harmonic tone fully amplitude-modulated at ``mod_hz`` (one 'syllable' per cycle)."""
    t = np.arange(int(dur_s * SR)) / SR
    return (_harmonic(150.0, dur_s) * (0.5 - 0.5 * np.cos(2 * np.pi * mod_hz * t))).astype(
        np.float32
    )


def _noise(dur_s: float = 2.0, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(dur_s * SR))).astype(np.float32)


@pytest.mark.parametrize(
    "signal, f0_hz, tol_hz",
    [
        (_tone(150.0), 150.0, 1.0),
        (_tone(220.0), 220.0, 1.5),
        (_harmonic(150.0), 150.0, 1.0),
        (_harmonic(120.0, lowest_hz=300.0), 120.0, 1.0),  # telephone: no fundamental
        (_harmonic(250.0, lowest_hz=300.0), 250.0, 1.5),
        (_harmonic(90.0), 90.0, 1.0),
    ],
)
def test_pitch_of_periodic_signals(signal, f0_hz, tol_hz):
    f0, voiced = pf.pitch_track_hz(signal, SR)
    assert voiced.mean() > 0.95
    assert abs(np.nanmedian(f0) - f0_hz) < tol_hz
    assert np.all(np.isnan(f0[~voiced]))
    feats = pf.window_features(signal, SR)
    assert abs(feats["pitch_hz"] - f0_hz) < tol_hz
    assert abs(feats["pitch_st"] - 12 * np.log2(f0_hz / 100)) < 0.15


def test_pitch_summary_semitones():
    st = np.linspace(0.0, 12.0, 101)
    f0 = 100.0 * 2.0 ** (st / 12.0)
    median_st, range_st = pf.pitch_summary_st(f0, np.ones(f0.size, bool))
    assert median_st == pytest.approx(6.0, abs=1e-6)
    assert range_st == pytest.approx(9.6, abs=1e-6)  # 90th - 10th percentile
    few = np.zeros(f0.size, bool)
    few[:4] = True
    assert pf.pitch_summary_st(f0, few) == (None, None)
    assert pf.pitch_summary_st(np.full(10, np.nan), np.ones(10, bool)) == (None, None)


def test_frame_rms_db_levels_and_grid():
    db = pf.frame_rms_db(_tone(1000.0, 1.0, amp=1.0), SR)
    assert db.size == 1 + SR // 160
    assert np.median(db) == pytest.approx(-3.01, abs=0.05)
    assert np.all(pf.frame_rms_db(np.zeros(SR, np.float32), SR) == pf.RMS_FLOOR_DB)


def test_gain_changes_loudness_only():
    x = _harmonic(150.0)
    a = pf.window_features(x, SR)
    b = pf.window_features(x * np.float32(10 ** (10 / 20)), SR)
    assert b["loudness_db"] - a["loudness_db"] == pytest.approx(10.0, abs=0.2)
    assert b["tilt_db"] == pytest.approx(a["tilt_db"], abs=0.3)
    assert b["hammarberg_db"] == pytest.approx(a["hammarberg_db"], abs=0.3)
    assert b["pitch_st"] == pytest.approx(a["pitch_st"], abs=0.05)
    assert b["voiced_ratio"] == pytest.approx(a["voiced_ratio"], abs=0.02)


@pytest.mark.parametrize("amp, seed", [(0.01, 0), (0.1, 1), (0.5, 2)])
def test_white_noise_is_mostly_unvoiced(amp, seed):
    feats = pf.window_features(_noise(2.0, amp, seed), SR)
    assert feats["voiced_ratio"] < 0.1
    assert feats["loudness_db"] == pytest.approx(20 * np.log10(amp), abs=1.0)


def test_silence():
    feats = pf.window_features(np.zeros(2 * SR, np.float32), SR)
    assert feats["voiced_ratio"] == 0.0
    for key in ("pitch_st", "pitch_hz", "pitch_range_st", "loudness_db", "tilt_db",
                "hammarberg_db", "rate_syl_s", "harmonicity_db"):
        assert feats[key] is None, key


@pytest.mark.parametrize("mod_hz", [4.0, 6.0])
def test_syllable_rate_of_am_tone(mod_hz):
    x = _am(mod_hz)
    assert pf.syllable_rate_hz(x, SR) == pytest.approx(mod_hz, abs=0.7)
    assert pf.window_features(x, SR)["rate_syl_s"] == pytest.approx(mod_hz, abs=0.7)


def test_syllable_rate_ignores_steady_tone_and_long_silence():
    assert pf.syllable_rate_hz(_harmonic(150.0, rolloff_db_oct=3.0), SR) == 0.0
    speech = _am(5.0, 1.0)
    padded = np.concatenate([speech, np.zeros(2 * SR, np.float32)])
    assert pf.syllable_rate_hz(padded, SR) == pytest.approx(5.0, abs=1.0)
    assert pf.syllable_rate_hz(_am(5.0, 0.2), SR) is None  # < 0.3 s of speech


def test_tilt_rises_with_high_harmonics():
    bright, dull = _harmonic(150.0, rolloff_db_oct=3.0), _harmonic(150.0, rolloff_db_oct=15.0)
    assert pf.spectral_tilt_db(bright, SR) > pf.spectral_tilt_db(dull, SR) + 6.0
    assert pf.hammarberg_db(bright, SR) < pf.hammarberg_db(dull, SR) - 6.0


@pytest.mark.parametrize("rolloff_db_oct", [3.0, 9.0, 15.0])
def test_tilt_survives_telephone_band(rolloff_db_oct):
    import librosa

    x = _harmonic(130.0, rolloff_db_oct=rolloff_db_oct)
    x8k = librosa.resample(x, orig_sr=SR, target_sr=8000)
    x_back = librosa.resample(x8k, orig_sr=8000, target_sr=SR)
    ref = pf.spectral_tilt_db(x, SR)
    assert pf.spectral_tilt_db(x_back, SR) == pytest.approx(ref, abs=1.5)
    assert pf.spectral_tilt_db(x8k, 8000) == pytest.approx(ref, abs=1.5)
    assert pf.hammarberg_db(x8k, 8000) == pytest.approx(pf.hammarberg_db(x, SR), abs=1.5)


def _phone(x: np.ndarray) -> np.ndarray:
    """8 kHz G.711-style channel: resample, 300-3400 Hz band-pass, 8-bit mu-law."""
    import librosa
    from scipy.signal import butter, sosfilt

    x8k = librosa.resample(x, orig_sr=SR, target_sr=8000)
    x8k = sosfilt(butter(4, [300, 3400], btype="band", fs=8000, output="sos"), x8k)
    return librosa.mu_expand(librosa.mu_compress(x8k, quantize=True), quantize=True).astype(
        np.float32
    )


@pytest.mark.parametrize("f0_hz", [110.0, 130.0, 170.0, 230.0])
@pytest.mark.parametrize("rolloff_db_oct", [0.0, 9.0])
def test_phone_channel_keeps_pitch_and_tilt(f0_hz, rolloff_db_oct):
    x = _harmonic(f0_hz, rolloff_db_oct=rolloff_db_oct)
    wide, phone = pf.window_features(x, SR), pf.window_features(_phone(x), 8000)
    assert phone["pitch_hz"] == pytest.approx(f0_hz, abs=1.5)  # no octave errors at 8 kHz
    assert phone["voiced_ratio"] > 0.9
    assert phone["tilt_db"] == pytest.approx(wide["tilt_db"], abs=1.5)


def test_voiced_mask_argument_is_used():
    x = _harmonic(150.0)
    n = pf.frame_rms_db(x, SR).size
    assert pf.spectral_tilt_db(x, SR, voiced_mask=np.zeros(n, bool)) is None
    assert pf.syllable_rate_hz(x, SR, voiced_mask=np.zeros(n, bool)) is None
    assert pf.spectral_tilt_db(x, SR, voiced_mask=np.ones(n, bool)) == pytest.approx(
        pf.spectral_tilt_db(x, SR), abs=0.1
    )


def test_harmonicity_drops_with_noise():
    clean = _harmonic(150.0)
    noisy = clean + _noise(2.0, 0.05, 3)
    assert pf.harmonicity_db(clean, SR) > 20.0
    assert pf.harmonicity_db(noisy, SR) < pf.harmonicity_db(clean, SR) - 5.0
    assert pf.harmonicity_db(_noise(), SR) is None


@pytest.mark.parametrize("n_samples", [0, 1, 800, 1024])
def test_degenerate_inputs(n_samples):
    x = _harmonic(150.0, 0.1)[:n_samples]
    assert pf.frame_rms_db(x, SR).shape == ((1 + n_samples // 160) if n_samples else 0,)
    f0, voiced = pf.pitch_track_hz(x, SR)
    assert f0.shape == voiced.shape
    pf.pitch_summary_st(f0, voiced)
    pf.spectral_tilt_db(x, SR)
    pf.hammarberg_db(x, SR)
    pf.harmonicity_db(x, SR)
    assert pf.syllable_rate_hz(x, SR) is None
    feats = pf.window_features(x, SR)
    assert set(feats) == {"loudness_db", "pitch_st", "pitch_hz", "pitch_range_st",
                          "voiced_ratio", "rate_syl_s", "tilt_db", "hammarberg_db",
                          "harmonicity_db"}
    assert all(v is None or isinstance(v, float) for v in feats.values())
    if n_samples == 0:
        assert all(v is None for v in feats.values())


def test_pure_and_accepts_other_dtypes():
    x = _am(4.0, 1.0)
    copy = x.copy()
    first = pf.window_features(x, SR)
    assert np.array_equal(x, copy)
    assert pf.window_features(x, SR) == first
    as_f64 = pf.window_features(x.astype(np.float64), SR)
    assert as_f64["pitch_hz"] == pytest.approx(first["pitch_hz"], abs=1e-3)


def test_module_import_is_light():
    code = "import sys, voicemon.prosody.features; print('librosa' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_emodb_angry_is_brighter_and_higher_than_neutral():
    """Per speaker, angry clips have higher tilt and pitch than neutral ones."""
    if not (EMODB / "labels.csv").exists():
        pytest.skip("EmoDB not available under ../shared/data")
    import soundfile as sf

    by_speaker: dict[str, dict[str, list[dict]]] = {}
    with open(EMODB / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["label"] in ("angry", "neutral"):
                x, sr = sf.read(EMODB / row["path"], dtype="float32")
                by_speaker.setdefault(row["speaker"], {}).setdefault(row["label"], []).append(
                    pf.window_features(x, sr)
                )
    diffs = {"tilt_db": [], "pitch_st": []}
    for clips in by_speaker.values():
        for key, out in diffs.items():
            mean = {lab: np.mean([c[key] for c in clips[lab] if c[key] is not None])
                    for lab in ("angry", "neutral")}
            out.append(mean["angry"] - mean["neutral"])
    assert np.mean(diffs["tilt_db"]) > 3.0
    assert np.mean(np.array(diffs["tilt_db"]) > 0) >= 0.8
    assert np.mean(diffs["pitch_st"]) > 3.0


def test_real_call_pitch_is_stable_and_rate_independent():
    """On 8 kHz phone audio: no octave-error blow-ups; 8 kHz and 16 kHz agree."""
    if not CALL.exists():
        pytest.skip("call recordings not available under ../shared/data")
    import librosa
    import soundfile as sf

    y, sr = sf.read(CALL, dtype="float32", frames=8000 * 60)
    ranges, diffs = [], []
    for x8 in y.T:
        x16 = librosa.resample(x8, orig_sr=sr, target_sr=SR)
        for start_s in np.arange(0.0, 59.0, 0.5):
            a = pf.window_features(x8[int(start_s * sr):][:sr], sr)
            b = pf.window_features(x16[int(start_s * SR):][:SR], SR)
            if a["pitch_range_st"] is not None:
                ranges.append(a["pitch_range_st"])
            if a["tilt_db"] is not None and b["tilt_db"] is not None:
                diffs.append(abs(a["tilt_db"] - b["tilt_db"]))
    assert len(ranges) > 30
    assert np.median(ranges) < 7.0
    assert np.percentile(ranges, 90) < 12.0
    assert np.median(diffs) < 0.5
