"""Stateless prosody features for short windows of mono speech (librosa style).

Functions take a float waveform (16 kHz by default; 8 kHz phone audio works) and
return numbers or arrays: no I/O, no state, so a per-speaker tracker can call them
on ~1 s windows every 0.25 s. Frame-wise outputs share one grid: centred frames
every ``hop_s`` seconds, ``1 + len(x) // hop`` of them. Spectral measures stay in
the 300-3400 Hz telephone band so phone and wideband audio give comparable values.
librosa is imported lazily.
"""

from __future__ import annotations

import numpy as np

RMS_FLOOR_DB = -100.0  # dBFS given to digital silence
_ABS_FLOOR_DB = -55.0  # frames quieter than this (dBFS) are never voiced,
_REL_FLOOR_DB = 30.0  # nor frames this far below the window's 95th-percentile level
# Voiced frames need periodicity (normalised correlation at the YIN period) >= 0.5 and
# < 3500 zero crossings/s (fricatives, hiss and line noise cross more often) or, for
# bright (e.g. shouted) voices, periodicity >= 0.7 and < 6000 crossings/s.
_VOICING_NCCF_ZCR = ((0.5, 3500.0), (0.7, 6000.0))
_MIN_RUN_FRAMES = 3  # shorter voiced runs are dropped
_MEDIAN_FRAMES = 9  # running median used against local octave jumps
_MIN_PITCH_FRAMES = 5
_PITCH_SR = 16000  # pitch analysis runs at >= this rate
_TILT_BANDS_HZ = ((300.0, 1000.0), (1000.0, 3000.0))
_HAMMARBERG_BANDS_HZ = ((300.0, 2000.0), (2000.0, 3400.0))
_RATE_BAND_HZ = (300.0, 2500.0)
_MIN_SPEECH_S = 0.3  # syllable rate needs this much speech,
_MAX_PAUSE_S = 0.3  # counting unvoiced gaps up to this long as speech
FEATURE_KEYS = ("loudness_db", "pitch_st", "pitch_hz", "pitch_range_st", "voiced_ratio",
                "rate_syl_s", "tilt_db", "hammarberg_db", "harmonicity_db")


def _prep(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    return x - x.mean() if x.size else x


def _frames(x: np.ndarray, frame_len: int, hop: int) -> np.ndarray:
    """Centred, zero-padded frames (a view), shape ``(1 + len(x) // hop, frame_len)``."""
    xp = np.pad(x, (frame_len // 2, frame_len - frame_len // 2))
    return np.lib.stride_tricks.sliding_window_view(xp, frame_len)[: x.size + 1 : hop]


def frame_rms_db(
    x: np.ndarray, sr: int = 16000, frame_s: float = 0.02, hop_s: float = 0.01
) -> np.ndarray:
    """Per-frame RMS level in dBFS (a full-scale sine reads -3 dB), floored at -100 dB.

    Args:
        x: Mono waveform, floats in [-1, 1].
        sr: Sample rate in Hz.
        frame_s: Frame length in seconds.
        hop_s: Hop in seconds.

    Returns:
        ``1 + len(x) // hop`` levels in dBFS; empty for empty input.
    """
    x = _prep(x)
    if x.size == 0:
        return np.zeros(0)
    f = _frames(x, max(1, round(frame_s * sr)), max(1, round(hop_s * sr)))
    ms = np.einsum("ij,ij->i", f, f, dtype=np.float64) / f.shape[1]
    return np.maximum(10.0 * np.log10(ms + 1e-30), RMS_FLOOR_DB)


def _yin_frame_len(sr: int, fmin_hz: float) -> int:
    # librosa 0.11 correlates the whole frame, so at lag T only N - T samples overlap;
    # N >= 3 * (sr / fmin) keeps >= 2 periods overlapping at the longest period. That is
    # 1024 (64 ms) at 16 kHz / 65 Hz: 512 would leave ~1 period for low male voices,
    # 2048 would smear 128 ms of intonation and double the cost.
    return int(2 ** np.ceil(np.log2(3 * sr / fmin_hz)))


def _nccf(xp, starts, period, n, t_max) -> np.ndarray:
    """Normalised correlation of the frames at ``starts`` in ``xp`` with one period on.

    Taken at the three integer lags around ``period`` over a fixed window and refined
    by parabolic interpolation, so fractional periods are not penalised.
    """
    w = n - t_max - 1
    lag = np.clip(np.rint(period), 2, t_max - 1).astype(np.intp)
    a = np.lib.stride_tricks.sliding_window_view(xp, w)[starts]
    blk = np.lib.stride_tricks.sliding_window_view(xp, w + 2)[starts + lag - 1]
    ea = np.einsum("ij,ij->i", a, a).astype(np.float64)
    num = np.stack([np.einsum("ij,ij->i", a, blk[:, k : k + w]) for k in range(3)])
    mid = np.einsum("ij,ij->i", blk[:, 2:w], blk[:, 2:w]).astype(np.float64)
    sq = blk[:, [0, 1, w, w + 1]].astype(np.float64) ** 2
    eb = mid + np.stack([sq[:, 0] + sq[:, 1], sq[:, 1] + sq[:, 2], sq[:, 2] + sq[:, 3]])
    r = num / np.sqrt(ea * eb + 1e-20)
    curv = r[0] - 2.0 * r[1] + r[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        peak = np.where(curv < 0, r[1] - (r[2] - r[0]) ** 2 / (8.0 * curv), r[1])
    return np.clip(np.maximum(peak, r.max(axis=0)), 0.0, 1.0)


def _fix_octaves(f0, voiced, nccf, nccf_at, sr, fmin_hz, fmax_hz) -> None:
    """In place: repair YIN octave errors, unvoicing frames that stay implausible.

    YIN falls back to its global minimum, often twice the period, when no trough is
    deep enough (bright voices); it may also stop at a half-period trough on
    band-limited voices. 1) A frame takes half its period if that is about as
    periodic (within 0.05) and a quarter period is not; if both are, the correlation
    merely decays with lag (low-pass noise, rumble) and the frame is unvoiced.
    2) A frame 8-16 semitones off the window's median takes the other octave if that
    is within 0.02; frames still > 14 semitones off are unvoiced. 3) Frames an
    octave off a 9-frame running median are moved back; other jumps of > 6 semitones
    are unvoiced.
    """
    c = np.flatnonzero(voiced)
    r = nccf_at(c, sr / f0[c] / 2.0)
    half_ok = r >= nccf[c] - 0.05
    c, r = c[half_ok], r[half_ok]
    ok = f0[c] * 2.0 <= fmax_hz
    ok[ok] = nccf_at(c[ok], sr / f0[c[ok]] / 4.0) < r[ok] - 0.05
    f0[c[ok]] *= 2.0
    nccf[c[ok]] = r[ok]
    voiced[c[~ok]] = False  # correlation falls smoothly with lag: low-pass noise, not voice
    idx = np.flatnonzero(voiced)
    if idx.size < _MIN_PITCH_FRAMES:
        return
    dev = 12.0 * np.log2(f0[idx] / np.median(f0[idx]))
    for sign, ok in ((1, f0[idx] / 2.0 >= fmin_hz), (-1, f0[idx] * 2.0 <= fmax_hz)):
        c = idx[(np.abs(sign * dev - 12.0) < 4.0) & ok]
        if c.size:
            r = nccf_at(c, sr / f0[c] * 2.0**sign)
            flip = r >= nccf[c] - 0.02
            f0[c[flip]] *= 2.0**-sign
            nccf[c[flip]] = r[flip]
    st = 12.0 * np.log2(f0[idx] / np.median(f0[idx]))
    k = min(_MEDIAN_FRAMES, idx.size | 1)
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(st, k // 2, mode="edge"), k)
    dev = st - np.median(windows, axis=1)
    f0[idx[np.abs(dev - 12.0) < 3.0]] /= 2.0
    f0[idx[np.abs(dev + 12.0) < 3.0]] *= 2.0
    dev = np.where(np.abs(np.abs(dev) - 12.0) < 3.0, 0.0, dev)
    voiced[idx[(np.abs(dev) > 6.0) | (np.abs(st) > 14.0)]] = False


def _analyse(x, sr, fmin_hz, fmax_hz, hop_s):
    """Shared YIN + voicing analysis: (f0_hz, voiced, nccf, rms_db, hop)."""
    import librosa

    x = _prep(x)
    hop = max(1, round(hop_s * sr))
    if x.size == 0:
        return np.zeros(0), np.zeros(0, bool), np.zeros(0), np.zeros(0), hop
    rms_db = frame_rms_db(x, sr, hop_s=hop_s)
    f = _frames(x, max(2, round(0.02 * sr)), hop)
    zcr_hz = np.count_nonzero(np.diff(np.signbit(f), axis=1), axis=1) / (f.shape[1] / sr)
    loud = rms_db > max(_ABS_FLOOR_DB, np.percentile(rms_db, 95) - _REL_FLOOR_DB)
    if not np.any(loud & (zcr_hz < _VOICING_NCCF_ZCR[-1][1])):  # silence or hiss: no YIN
        none = np.zeros(rms_db.size)
        return none + np.nan, none.astype(bool), none, rms_db, hop
    psr, y = sr, x  # below 16 kHz periods fall too far between samples (130 Hz -> 65)
    if sr < _PITCH_SR:
        psr, y = _PITCH_SR, librosa.resample(x, orig_sr=sr, target_sr=_PITCH_SR,
                                             res_type="soxr_qq")
    phop, n = round(hop * psr / sr), _yin_frame_len(psr, fmin_hz)
    f0 = librosa.yin(y, fmin=fmin_hz, fmax=fmax_hz, sr=psr, frame_length=n, hop_length=phop)
    f0 = f0.astype(np.float64)
    yp = np.pad(y, (n // 2, n - n // 2))
    t_max = int(np.ceil(psr / fmin_hz)) + 1
    starts = np.arange(f0.size) * phop
    nccf = _nccf(yp, starts, psr / f0, n, t_max)
    if f0.size != rms_db.size:  # resampled grid may differ by a frame
        i = np.minimum(np.arange(rms_db.size), f0.size - 1)
        f0, nccf, starts = f0[i], nccf[i], starts[i]
    voiced = np.zeros(f0.size, bool)
    for min_nccf, max_zcr_hz in _VOICING_NCCF_ZCR:
        voiced |= (nccf >= min_nccf) & (zcr_hz < max_zcr_hz)
    voiced &= loud & (f0 >= fmin_hz) & (f0 <= fmax_hz)
    _fix_octaves(f0, voiced, nccf, lambda c, p: _nccf(yp, starts[c], p, n, t_max),
                 psr, fmin_hz, fmax_hz)
    edges = np.diff(np.r_[0, voiced.astype(np.int8), 0])
    for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if e - s < _MIN_RUN_FRAMES:
            voiced[s:e] = False
    f0[~voiced] = np.nan
    return f0, voiced, nccf, rms_db, hop


def pitch_track_hz(
    x: np.ndarray, sr: int = 16000, fmin_hz: float = 65.0, fmax_hz: float = 450.0,
    hop_s: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """F0 per frame (``librosa.yin``, 64 ms frames at 16 kHz) with a voicing decision.

    A frame is voiced when its 20 ms level is above -55 dBFS and within 30 dB of the
    window's 95th-percentile level; its normalised correlation at the YIN period is
    >= 0.5 with < 3500 zero crossings/s, or >= 0.7 with < 6000/s; it survives the
    octave checks of ``_fix_octaves``; and it lies in a voiced run of >= 30 ms.
    Inputs below 16 kHz are upsampled for this analysis.

    Args:
        x: Mono waveform.
        sr: Sample rate in Hz.
        fmin_hz: Lowest F0 searched.
        fmax_hz: Highest F0 searched.
        hop_s: Hop in seconds.

    Returns:
        ``(f0_hz, voiced)``: F0 per frame (NaN where unvoiced) and a bool mask.
    """
    f0, voiced, *_ = _analyse(x, sr, fmin_hz, fmax_hz, hop_s)
    return f0, voiced


def pitch_summary_st(f0_hz: np.ndarray, voiced: np.ndarray) -> tuple[float | None, float | None]:
    """Median pitch and robust pitch range in semitones.

    Args:
        f0_hz: F0 per frame in Hz.
        voiced: Voicing mask aligned with ``f0_hz``.

    Returns:
        ``(median_st, range_st)``: median in semitones re 100 Hz (``12 log2(f / 100)``)
        and the 90th - 10th percentile span; ``(None, None)`` with < 5 voiced frames.
    """
    f0_hz, voiced = np.asarray(f0_hz, float), np.asarray(voiced, bool)
    v = f0_hz[voiced & np.isfinite(f0_hz) & (f0_hz > 0)]
    if v.size < _MIN_PITCH_FRAMES:
        return None, None
    p10, p50, p90 = np.percentile(12.0 * np.log2(v / 100.0), [10, 50, 90])
    return float(p50), float(p90 - p10)


def _power_spec(x: np.ndarray, sr: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed ~32 ms power spectra on the shared frame grid, and bin freqs."""
    from scipy.fft import rfft  # float32-native, unlike numpy.fft

    n_fft = int(2 ** np.ceil(np.log2(0.032 * sr)))
    spec = rfft(_frames(x, n_fft, hop) * np.hanning(n_fft).astype(np.float32), axis=1)
    return spec.real**2 + spec.imag**2, np.fft.rfftfreq(n_fft, 1.0 / sr)


def _bands(freqs, bands):
    return [(freqs >= lo) & (freqs < hi) for lo, hi in bands]


def _tilt_hammarberg(power, freqs, voiced) -> tuple[float | None, float | None]:
    m = min(len(voiced), len(power))
    if not np.any(voiced[:m]):
        return None, None
    ltas = power[:m][voiced[:m]].mean(axis=0) + 1e-20  # mean voiced power spectrum
    lo, hi = (ltas[b].sum() for b in _bands(freqs, _TILT_BANDS_HZ))
    h_lo, h_hi = (ltas[b].max() for b in _bands(freqs, _HAMMARBERG_BANDS_HZ))
    return float(10.0 * np.log10(hi / lo)), float(10.0 * np.log10(h_lo / h_hi))


def _rate_from_spec(power, freqs, voiced, hop_s) -> float | None:
    from scipy.signal import find_peaks

    m = min(len(voiced), len(power))
    idx = np.flatnonzero(voiced[:m])
    gaps = np.diff(idx) - 1
    dur_s = (idx.size + gaps[gaps <= round(_MAX_PAUSE_S / hop_s)].sum()) * hop_s
    if dur_s < _MIN_SPEECH_S:
        return None
    (band,) = _bands(freqs, [_RATE_BAND_HZ])
    env = 10.0 * np.log10(power[:m, band].sum(axis=1) + 1e-20)
    env = np.convolve(np.pad(env, 2, mode="edge"), np.array([1, 2, 3, 2, 1]) / 9.0, "valid")
    # Dips are sought only within +-0.2 s, so a flat stretch never counts as a nucleus.
    peaks, _ = find_peaks(env, prominence=2.0, distance=max(1, round(0.1 / hop_s)),
                          wlen=round(0.4 / hop_s) | 1)
    return float(np.count_nonzero(voiced[peaks]) / dur_s)


def _spectrum_and_mask(x, sr, voiced_mask, hop_s):
    x = _prep(x)
    if x.size == 0:
        return None
    if voiced_mask is None:
        voiced_mask = pitch_track_hz(x, sr, hop_s=hop_s)[1]
    return (*_power_spec(x, sr, max(1, round(hop_s * sr))), np.asarray(voiced_mask, bool))


def spectral_tilt_db(
    x: np.ndarray, sr: int = 16000, voiced_mask: np.ndarray | None = None, hop_s: float = 0.01
) -> float | None:
    """Telephone-band alpha ratio: voiced energy in 1-3 kHz over 0.3-1 kHz, in dB.

    A loudness-independent vocal-effort cue: louder or shouted speech raises it.

    Args:
        x: Mono waveform.
        sr: Sample rate in Hz (>= 6800 Hz for the full band).
        voiced_mask: Mask on the ``hop_s`` grid (from :func:`pitch_track_hz`); computed
            when None.
        hop_s: Hop in seconds.

    Returns:
        The band ratio of the mean voiced power spectrum, or None if nothing is voiced.
    """
    spec = _spectrum_and_mask(x, sr, voiced_mask, hop_s)
    return None if spec is None else _tilt_hammarberg(*spec)[0]


def hammarberg_db(
    x: np.ndarray, sr: int = 16000, voiced_mask: np.ndarray | None = None, hop_s: float = 0.01
) -> float | None:
    """Telephone-band Hammarberg index: peak level in 0.3-2 kHz minus peak in 2-3.4 kHz.

    Args:
        x: Mono waveform.
        sr: Sample rate in Hz.
        voiced_mask: Mask on the ``hop_s`` grid; computed when None.
        hop_s: Hop in seconds.

    Returns:
        Level difference in dB of the mean voiced spectrum (lower means more vocal
        effort), or None if nothing is voiced.
    """
    spec = _spectrum_and_mask(x, sr, voiced_mask, hop_s)
    return None if spec is None else _tilt_hammarberg(*spec)[1]


def syllable_rate_hz(
    x: np.ndarray, sr: int = 16000, voiced_mask: np.ndarray | None = None, hop_s: float = 0.01
) -> float | None:
    """Speaking rate from syllable nuclei, in syllables per second.

    Nuclei are peaks of the smoothed 300-2500 Hz intensity envelope that stand >= 2 dB
    above the dips on both sides, lie >= 100 ms apart and fall on voiced frames. The
    count is divided by the speech time (voiced frames plus pauses <= 0.3 s between
    them), not by the whole window.

    Args:
        x: Mono waveform.
        sr: Sample rate in Hz.
        voiced_mask: Mask on the ``hop_s`` grid; computed when None.
        hop_s: Hop in seconds.

    Returns:
        Syllables per second, or None with < 0.3 s of speech.
    """
    spec = _spectrum_and_mask(x, sr, voiced_mask, hop_s)
    return None if spec is None else _rate_from_spec(*spec, hop_s)


def _hnr_db(nccf: np.ndarray, voiced: np.ndarray) -> float | None:
    r = np.clip(nccf[voiced], 1e-3, 0.999)
    return float(np.median(10.0 * np.log10(r / (1.0 - r)))) if r.size else None


def harmonicity_db(
    x: np.ndarray, sr: int = 16000, fmin_hz: float = 65.0, fmax_hz: float = 450.0,
    hop_s: float = 0.01,
) -> float | None:
    """Median harmonics-to-noise ratio of the voiced frames, in dB (capped at 30 dB).

    HNR = 10 log10(r / (1 - r)) with r the normalised correlation at the pitch period
    (Boersma's autocorrelation HNR), a by-product of :func:`pitch_track_hz`.

    Args:
        x: Mono waveform.
        sr: Sample rate in Hz.
        fmin_hz: Lowest F0 searched.
        fmax_hz: Highest F0 searched.
        hop_s: Hop in seconds.

    Returns:
        Median HNR in dB, or None if nothing is voiced.
    """
    _, voiced, nccf, *_ = _analyse(x, sr, fmin_hz, fmax_hz, hop_s)
    return _hnr_db(nccf, voiced)


def window_features(
    x: np.ndarray, sr: int = 16000, fmin_hz: float = 65.0, fmax_hz: float = 450.0
) -> dict[str, float | None]:
    """All features of one window (hop 10 ms), sharing the YIN and spectrum work.

    Args:
        x: Mono waveform, typically ~1 s.
        sr: Sample rate in Hz.
        fmin_hz: Lowest F0 searched.
        fmax_hz: Highest F0 searched.

    Returns:
        Dict with the keys of ``FEATURE_KEYS``: ``loudness_db`` (mean dBFS of voiced
        frames, else of non-silent frames: the active level, not diluted by
        silence), ``pitch_st``, ``pitch_hz``, ``pitch_range_st``, ``voiced_ratio``,
        ``rate_syl_s``, ``tilt_db``, ``hammarberg_db``, ``harmonicity_db``; None
        where undefined.
    """
    hop_s = 0.01
    x = _prep(x)
    out: dict[str, float | None] = dict.fromkeys(FEATURE_KEYS)
    if x.size == 0:
        return out
    f0, voiced, nccf, rms_db, hop = _analyse(x, sr, fmin_hz, fmax_hz, hop_s)
    active = rms_db[voiced] if voiced.any() else rms_db[rms_db > RMS_FLOOR_DB]
    out["loudness_db"] = float(active.mean()) if active.size else None
    out["pitch_st"], out["pitch_range_st"] = pitch_summary_st(f0, voiced)
    if out["pitch_st"] is not None:
        out["pitch_hz"] = float(100.0 * 2.0 ** (out["pitch_st"] / 12.0))
    out["voiced_ratio"] = float(voiced.mean())
    power, freqs = _power_spec(x, sr, hop)
    out["rate_syl_s"] = _rate_from_spec(power, freqs, voiced, hop_s)
    out["tilt_db"], out["hammarberg_db"] = _tilt_hammarberg(power, freqs, voiced)
    out["harmonicity_db"] = _hnr_db(nccf, voiced)
    return out
