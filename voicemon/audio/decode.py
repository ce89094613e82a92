"""Decode any audio file into 16 kHz float32 mono signals, one per call role.

libsndfile (via soundfile) reads WAV (PCM, float, mu-law, a-law), FLAC, OGG and MP3; anything
else goes through PyAV (FFmpeg), which faster-whisper already depends on. Two channels map to
roles (``agent``/``customer`` in the configured order); one channel is role ``mixed``, and so is
a *dual-mono* file: two channels holding the same audio (see :func:`channel_correlation`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicemon.audio.stream_edge import Chunker, resample
from voicemon.errors import AudioFormatError
from voicemon.events import SAMPLE_RATE_HZ

log = logging.getLogger(__name__)

DUAL_MONO_CORRELATION = 0.97
"""Two channels correlating at least this much over active audio are one mono signal."""
ACTIVE_FRAME_S = 0.02
MIN_RATE_HZ = 8000
MAX_RATE_HZ = 192000


@dataclass(frozen=True)
class DecodedAudio:
    """A call's audio, resampled to 16 kHz.

    Attributes:
        signals: role -> float32 mono samples at 16 kHz (all the same length).
        source_rate_hz: sample rate of the file.
        source_channels: channel count of the file.
        source_format: short description of the container/encoding.
    """

    signals: dict[str, np.ndarray]
    source_rate_hz: int
    source_channels: int
    source_format: str
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        """Length of the call in seconds."""
        first = next(iter(self.signals.values()))
        return len(first) / SAMPLE_RATE_HZ


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C libraries (libmpg123 prints "Note: Illegal Audio-MPEG-Header" to fd 2)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _read_soundfile(path: Path) -> tuple[np.ndarray, int, str]:
    import soundfile as sf

    with _quiet_stderr():
        info = sf.info(str(path))
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data, int(rate), f"{info.format}/{info.subtype}"


def wav_truncation(path: Path, frames_read: int, rate_hz: int) -> str | None:
    """A warning if a RIFF/WAVE header declares more audio than the file holds.

    Args:
        path: the file (anything but WAV is ignored).
        frames_read: sample frames actually decoded.
        rate_hz: its sample rate.

    Returns:
        The warning text, or ``None``.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, block_align, declared = 12, 0, None
    while pos + 8 <= len(head):
        chunk_id, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if chunk_id == b"fmt " and pos + 22 <= len(head):
            block_align = struct.unpack("<H", head[pos + 20:pos + 22])[0]
        if chunk_id == b"data":
            declared = size
            break
        pos += 8 + size + (size & 1)
    if declared is None or not block_align or declared == 0xFFFFFFFF:
        return None
    declared_frames = declared // block_align
    if declared_frames > frames_read + rate_hz // 100:
        return (f"truncated: the header declares {declared_frames / rate_hz:.1f} s but the file holds "
                f"{frames_read / rate_hz:.1f} s; analysed what is there")
    return None


def _read_pyav(path: Path) -> tuple[np.ndarray, int, str]:
    import av

    with av.open(str(path), mode="r", metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise AudioFormatError(f"{path}: no audio stream in this file")
        stream = container.streams.audio[0]
        rate = stream.rate or stream.codec_context.sample_rate
        channels = stream.codec_context.channels or 1
        fmt = f"{container.format.name}/{stream.codec_context.name}"
        resampler = av.AudioResampler(format="flt", layout="stereo" if channels >= 2 else "mono", rate=rate)
        parts = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1, 2 if channels >= 2 else 1))
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(-1, 2 if channels >= 2 else 1))
    data = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
    return data.astype(np.float32), int(rate), fmt


def channel_correlation(left: np.ndarray, right: np.ndarray, rate_hz: int) -> float:
    """Pearson correlation of two channels over their active audio.

    Active audio is the 20 ms frames whose louder channel is in the upper half of the call's
    frame levels and above -60 dBFS, so long silences (where line noise is uncorrelated even on
    a copied channel) do not hide a dual-mono file. Correlation ignores gain, so a copy at a
    different level still scores near 1; a real two-party recording, where each channel
    carries one voice, scores near 0.

    Args:
        left: first channel.
        right: second channel, same length.
        rate_hz: their sample rate.

    Returns:
        The correlation in [-1, 1]; 0 when either channel is silent.
    """
    frame = max(1, int(rate_hz * ACTIVE_FRAME_S))
    n = min(len(left), len(right)) // frame
    if n == 0:
        return 0.0
    a = left[: n * frame].astype(np.float64).reshape(n, frame)
    b = right[: n * frame].astype(np.float64).reshape(n, frame)
    level = np.maximum((a * a).mean(1), (b * b).mean(1))
    active = (level >= np.median(level)) & (level > 1e-6)
    if not np.any(active):
        return 0.0
    x, y = a[active].ravel(), b[active].ravel()
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else 0.0


def read_samples(path: Path) -> tuple[np.ndarray, int, str]:
    """A file's samples as recorded: ``(frames x channels float32, rate_hz, format)``.

    Raises:
        AudioFormatError: neither libsndfile nor FFmpeg can read it.
    """
    try:
        return _read_soundfile(path)
    except Exception as sf_exc:  # libsndfile refused it: try FFmpeg
        log.debug("soundfile could not read %s (%s); trying PyAV", path, sf_exc)
        try:
            return _read_pyav(path)
        except AudioFormatError:
            raise
        except Exception as av_exc:
            log.debug("PyAV could not read %s either: %s", path, av_exc)
            raise AudioFormatError(f"{path}: not a readable audio file (neither libsndfile nor FFmpeg "
                                   "recognises it: unknown format or damaged data)") from av_exc


def load_call_audio(path: str | os.PathLike[str], channel_roles: tuple[str, ...] = ("agent", "customer"),
                    dual_mono_correlation: float = DUAL_MONO_CORRELATION) -> DecodedAudio:
    """Read a call recording into per-role 16 kHz mono signals.

    Args:
        path: any file libsndfile or FFmpeg can read.
        channel_roles: roles of a two-channel file, left channel first.
        dual_mono_correlation: a two-channel file whose channels correlate at least this much
            (:func:`channel_correlation`) is one mono signal (role ``mixed``, with a warning).

    Returns:
        The decoded call.

    Raises:
        AudioFormatError: the file is missing, empty, not audio, truncated beyond reading, has an
            unsupported rate or more than two channels, or holds no samples.
    """
    p = Path(path)
    if not p.exists():
        raise AudioFormatError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFormatError(f"{p}: is a directory")
    if p.stat().st_size == 0:
        raise AudioFormatError(f"{p}: empty file (0 bytes)")
    data, rate, fmt = read_samples(p)
    if data.shape[0] == 0:
        raise AudioFormatError(f"{p}: holds no audio samples (zero length)")
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise AudioFormatError(f"{p}: sample rate {rate} Hz is outside {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz")
    channels = data.shape[1]
    if channels > 2:
        raise AudioFormatError(f"{p}: {channels} channels; voicemon takes mono (mixed) or two channels (agent, customer)")
    if not np.all(np.isfinite(data)):
        raise AudioFormatError(f"{p}: contains NaN or infinite samples")
    warnings: list[str] = []
    file_channels = channels
    if channels == 2:
        corr = channel_correlation(data[:, 0], data[:, 1], rate)
        if corr >= dual_mono_correlation:
            warnings.append(f"dual-mono: both channels carry the same audio (correlation {corr:.3f} over active "
                            "audio); analysed as one mono channel")
            log.warning("%s: %s", p, warnings[-1])
            data = data.mean(axis=1, keepdims=True)
            channels = 1
    if channels == 1:
        signals = {"mixed": resample(np.ascontiguousarray(data[:, 0]), rate)}
    else:
        signals = {role: resample(np.ascontiguousarray(data[:, i]), rate) for i, role in enumerate(channel_roles)}
    warning = wav_truncation(p, data.shape[0], rate)
    if warning:
        log.warning("%s: %s", p, warning)
        warnings.append(warning)
    return DecodedAudio(signals=signals, source_rate_hz=rate, source_channels=file_channels, source_format=fmt,
                        warnings=tuple(warnings))


def iter_chunks(audio: DecodedAudio, chunk_ms: int):
    """Yield :class:`~voicemon.events.AudioChunk` objects, all roles interleaved in time order.

    The chunks are cut by :class:`~voicemon.audio.stream_edge.Chunker`, the chunker of every
    live source too, so a file and a stream of the same audio give the same chunks.

    Args:
        audio: a decoded call.
        chunk_ms: chunk length in milliseconds.

    Yields:
        Chunks of every role for one time span, then the next span.
    """
    chunker = Chunker(tuple(audio.signals), chunk_ms)
    for role, signal in audio.signals.items():
        chunker.push(role, signal)
    yield from chunker.flush()
