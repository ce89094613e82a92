"""Robustness transforms: the channel conditions a call may arrive through.

Every transform maps 16 kHz float32 mono audio to 16 kHz float32 mono audio of the same
length, deterministically (noise has a fixed seed):

* ``clean``: unchanged.
* ``telephone``: 300-3400 Hz band-pass, resampled to 8 kHz, G.711 mu-law encoded to 8 bits and
  decoded (:mod:`voicemon.audio.g711`, the codec of the telephony ingest), resampled back to 16 kHz: a narrowband phone line.
* ``gain-20`` / ``gain+10``: level changed by -20 / +10 dB, then saturated at full scale as a
  16-bit PCM line would (a hot headset clips).
* ``snr20`` / ``snr10``: pink (1/f) noise added over the whole call at 20 / 10 dB below the
  active speech level (the mean power of the 20 ms frames within 30 dB of the loudest 5 %).

numpy, scipy and soxr only; scipy and soxr are imported when used.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from voicemon.audio.g711 import ulaw_decode, ulaw_encode

SAMPLE_RATE_HZ = 16000
PHONE_RATE_HZ = 8000
PHONE_BAND_HZ = (300.0, 3400.0)
ACTIVE_FRAME_S = 0.02
ACTIVE_RANGE_DB = 30.0
NOISE_SEED = 20240611


def telephone(x: np.ndarray, sr: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Narrowband telephone channel: band-pass, 8 kHz, 8-bit mu-law, back to ``sr``.

    Args:
        x: mono audio in [-1, 1].
        sr: its sample rate in Hz.

    Returns:
        The audio as heard through the line, same length and rate.
    """
    import soxr
    from scipy.signal import butter, sosfilt

    x = np.asarray(x, np.float64)
    sos = butter(4, PHONE_BAND_HZ, btype="bandpass", fs=sr, output="sos")
    narrow = soxr.resample(sosfilt(sos, x), sr, PHONE_RATE_HZ, quality="HQ")
    decoded = ulaw_decode(ulaw_encode(narrow)).astype(np.float64)  # the same codec as the telephony ingest
    y = soxr.resample(decoded, PHONE_RATE_HZ, sr, quality="HQ")
    out = np.zeros(x.size, np.float32)
    out[: min(x.size, y.size)] = y[: x.size]
    return out


def gain(x: np.ndarray, gain_db: float, saturate: bool = True) -> np.ndarray:
    """Change the level by ``gain_db`` decibels, clipping at full scale when ``saturate``."""
    y = np.asarray(x, np.float32) * np.float32(10.0 ** (gain_db / 20.0))
    return np.clip(y, -1.0, 1.0) if saturate else y


def active_power(x: np.ndarray, sr: int = SAMPLE_RATE_HZ) -> float:
    """Mean power of the active (speech) frames: 20 ms frames within 30 dB of the 95th
    percentile frame level. 0.0 for silence."""
    x = np.asarray(x, np.float64)
    n = max(1, int(ACTIVE_FRAME_S * sr))
    frames = x[: x.size // n * n].reshape(-1, n)
    if frames.size == 0:
        return 0.0
    power = (frames**2).mean(axis=1)
    if not np.any(power > 0):
        return 0.0
    db = 10.0 * np.log10(power + 1e-30)
    active = power[db >= np.percentile(db, 95) - ACTIVE_RANGE_DB]
    return float(active.mean())


def pink_noise(n: int, seed: int) -> np.ndarray:
    """Unit-power pink (1/f power) noise of ``n`` samples from a seeded generator."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(f), n)
    noise -= noise.mean()
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-30)


def add_noise(x: np.ndarray, snr_db: float, seed: int = NOISE_SEED, colour: str = "pink",
              sr: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Add stationary noise at ``snr_db`` below the active speech level, over the whole signal.

    Args:
        x: mono audio.
        snr_db: speech-to-noise ratio in dB (speech power from :func:`active_power`).
        seed: noise generator seed.
        colour: ``pink`` or ``white``.
        sr: sample rate in Hz.

    Returns:
        ``x`` plus noise (float32, not clipped).

    Raises:
        ValueError: unknown colour.
    """
    x = np.asarray(x, np.float32)
    if colour == "pink":
        noise = pink_noise(x.size, seed)
    elif colour == "white":
        noise = np.random.default_rng(seed).standard_normal(x.size)
    else:
        raise ValueError(f"noise colour is pink or white, not {colour!r}")
    power = active_power(x, sr)
    scale = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (x + scale * noise).astype(np.float32)


Transform = Callable[[np.ndarray, int], np.ndarray]

TRANSFORMS: dict[str, Transform] = {
    "clean": lambda x, seed: np.asarray(x, np.float32),
    "telephone": lambda x, seed: telephone(x),
    "gain-20": lambda x, seed: gain(x, -20.0),
    "gain+10": lambda x, seed: gain(x, 10.0),
    "snr20": lambda x, seed: add_noise(x, 20.0, seed),
    "snr10": lambda x, seed: add_noise(x, 10.0, seed),
}
"""Name -> ``f(samples_16k, seed) -> samples_16k``."""


def parse_transforms(spec: str) -> list[str]:
    """``all`` or a comma-separated list of transform names, ``clean`` always first.

    Raises:
        ValueError: an unknown name.
    """
    names = list(TRANSFORMS) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown transform {', '.join(unknown)} (choose from all, {', '.join(TRANSFORMS)})")
    return ["clean", *[n for n in names if n != "clean"]]


def apply(name: str, x: np.ndarray, seed: int = NOISE_SEED) -> np.ndarray:
    """Apply the named transform to 16 kHz mono audio."""
    return TRANSFORMS[name](x, seed)
