"""The :class:`Transcriber` protocol and its faster-whisper implementation.

A transcriber turns one utterance (float32 16 kHz mono) into words with times relative to the
start of that audio. It is stateless across calls: the same audio always gives the same words,
which is what lets the offline driver run utterances in parallel and still equal a live replay.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol, runtime_checkable

import numpy as np

from voicemon.asr.loops import cut_loops, find_loops
from voicemon.asr.model_resolution import ResolvedModel, resolve_model
from voicemon.config import AsrOptions
from voicemon.errors import ModelUnavailableError
from voicemon.events import SAMPLE_RATE_HZ, Word

log = logging.getLogger(__name__)

MIN_SPEECH_S = 0.2
FRAMES_PER_S = 100
TAIL_FRAMES = 100
FULL_WINDOW_FRAMES = 3000

_context = threading.local()
_patch_lock = threading.Lock()

PAD_OR_TRIM_TESTED = ("1.2",)
"""faster-whisper minor versions whose ``transcribe.py`` was read and measured with the patch
below: it imports ``pad_or_trim(array, length=3000, *, axis=-1)`` from ``faster_whisper.audio``
into its own namespace and calls it on each segment's features before the encoder. On any other
version the patch is not installed (full 30 s window, slower, same words) and a warning says so;
``tests/test_asr_patch.py`` fails so that the new version gets read before it is trusted."""


def short_context_unsupported(fwt) -> str | None:
    """Why the ``pad_or_trim`` patch must not be installed on this faster-whisper (``None``: it may).

    Args:
        fwt: the ``faster_whisper.transcribe`` module.
    """
    import inspect

    import faster_whisper

    version = str(getattr(faster_whisper, "__version__", "unknown"))
    if ".".join(version.split(".")[:2]) not in PAD_OR_TRIM_TESTED:
        return f"faster-whisper {version} is not a tested version ({', '.join(PAD_OR_TRIM_TESTED)})"
    original = getattr(fwt, "pad_or_trim", None)
    if original is None:
        return "faster_whisper.transcribe has no pad_or_trim"
    params = list(inspect.signature(original).parameters.values())
    if [(p.name, p.kind, p.default) for p in params] != [
            ("array", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
            ("length", inspect.Parameter.POSITIONAL_OR_KEYWORD, FULL_WINDOW_FRAMES),
            ("axis", inspect.Parameter.KEYWORD_ONLY, -1)]:
        return f"pad_or_trim{inspect.signature(original)} is not pad_or_trim(array, length=3000, *, axis=-1)"
    return None


def _install_short_context() -> bool:
    """Let faster-whisper encode less than its fixed 30 s window, per calling thread.

    faster-whisper pads every segment's features to 3000 frames with ``pad_or_trim`` before the
    encoder. CTranslate2 accepts shorter inputs, so inside :func:`_short_context` we pad only to
    ``max(min_frames, length + 1 s)``. Calls made outside it (any other user of faster-whisper in
    the process) keep the original behaviour. Returns False if this faster-whisper is not one
    the patch was checked against (:data:`PAD_OR_TRIM_TESTED`, :func:`short_context_unsupported`),
    in which case the full window is used.
    """
    try:
        import faster_whisper.transcribe as fwt
    except ImportError:  # pragma: no cover - faster-whisper is a dependency
        return False
    with _patch_lock:
        if getattr(fwt, "_voicemon_patched", False):
            return True
        reason = short_context_unsupported(fwt)
        if reason is not None:
            log.warning("%s: Whisper encodes every utterance in the full 30 s window (slower, same words)", reason)
            return False
        original = fwt.pad_or_trim

        def pad_or_trim(array, length: int = FULL_WINDOW_FRAMES, *, axis: int = -1):
            min_frames = getattr(_context, "min_frames", None)
            if min_frames and length == FULL_WINDOW_FRAMES:
                n = array.shape[axis]
                length = min(FULL_WINDOW_FRAMES, max(min_frames, -(-(n + TAIL_FRAMES) // FRAMES_PER_S) * FRAMES_PER_S))
            return original(array, length, axis=axis)

        fwt.pad_or_trim = pad_or_trim
        fwt._voicemon_patched = True
        return True
NO_SPEECH_PROB_MAX = 0.6
REDECODE_REPETITION_PENALTY = 1.3
LOGPROB_MIN = -1.0


@runtime_checkable
class Transcriber(Protocol):
    """Anything that turns an utterance into timed words."""

    name: str

    def transcribe(self, samples: np.ndarray) -> list[Word]:
        """Words of ``samples`` (16 kHz mono float32), times in seconds from its start."""
        ...


class WhisperTranscriber:
    """faster-whisper (CTranslate2) speech recognition with word timestamps.

    The model loads on first use (or :meth:`load`). Thread-safe: CTranslate2 models may be
    called from several threads; ``num_workers`` lets that many calls run in parallel.

    Args:
        options: model, compute type, beam size and threads.
        num_workers: concurrent calls the model accepts.
        allow_download: permit a model name that must be fetched from the hub.
        model_origin: who chose ``options.model`` (``Config.origins["asr.model"]``), for errors.
    """

    def __init__(self, options: AsrOptions | None = None, num_workers: int = 1, allow_download: bool = False,
                 model_origin: str | None = None) -> None:
        self.options = options or AsrOptions()
        self.num_workers = num_workers
        self.resolved: ResolvedModel = resolve_model(self.options.model, allow_download=allow_download,
                                                     origin=model_origin or "asr.model")
        self.name = self.resolved.name
        self._model = None
        self._lock = threading.Lock()
        self._short_context = bool(self.options.encoder_context_s) and _install_short_context()
        self.loops_found = 0
        """Utterances whose first decoding looped (see :mod:`voicemon.asr.loops`)."""

    def load(self):
        """Load the model now (otherwise it loads on the first transcription).

        Raises:
            ModelUnavailableError: CTranslate2 could not load the files.
        """
        with self._lock:
            if self._model is None:
                try:
                    from faster_whisper import WhisperModel

                    self._model = WhisperModel(
                        self.resolved.location,
                        device="cpu",
                        compute_type=self.options.compute_type,
                        cpu_threads=self.options.cpu_threads,
                        num_workers=self.num_workers,
                        local_files_only=not self.resolved.source == "download",
                    )
                except Exception as exc:  # CTranslate2/huggingface raise many types
                    raise ModelUnavailableError(
                        f"could not load Whisper model {self.resolved.name} from {self.resolved.location} "
                        f"(chosen by {self.resolved.source}): {exc}"
                    ) from exc
        return self._model

    def transcribe(self, samples: np.ndarray) -> list[Word]:
        """Transcribe one utterance.

        Args:
            samples: float32 16 kHz mono audio.

        Returns:
            Recognised words, times relative to ``samples[0]``; empty for silence or noise.
            With ``loop_guard`` on, a decoding that loops (:func:`~voicemon.asr.loops.find_loops`)
            is decoded again with a repetition penalty (``redecode``) and what still loops is cut
            to one copy (``redecode`` and ``cut``).
        """
        if len(samples) < MIN_SPEECH_S * SAMPLE_RATE_HZ or not np.any(samples):
            return []
        words = self._decode(samples)
        guard = self.options.loop_guard
        if guard != "off" and find_loops(words):
            self.loops_found += 1
            if guard == "redecode":
                # A deterministic second try: the same greedy decoding with a repetition penalty
                # (measured in benchmarks/transcripts.py), and cut whatever still loops.
                words = self._decode(samples, repetition_penalty=REDECODE_REPETITION_PENALTY)
            words = cut_loops(words)
        return words

    def _decode(self, samples: np.ndarray, repetition_penalty: float = 1.0) -> list[Word]:
        model = self.load()
        min_frames = int(self.options.encoder_context_s * FRAMES_PER_S) if self._short_context else 0
        _context.min_frames = min_frames
        try:
            segments, _info = model.transcribe(
                samples.astype(np.float32, copy=False),
                language=self.options.language,
                beam_size=self.options.beam_size,
                word_timestamps=True,
                condition_on_previous_text=False,
                # Greedy/beam decoding only: Whisper's temperature fallback samples at random, so
                # the same audio could give different text (and a different report) each run.
                temperature=0.0,
                repetition_penalty=repetition_penalty,
                vad_filter=False,
            )
            segments = list(segments)  # the generator does the work: run it inside the context
        finally:
            _context.min_frames = None
        words: list[Word] = []
        for seg in segments:
            # Whisper's own "this is not speech" test; drops hallucinations on noise.
            if seg.no_speech_prob > NO_SPEECH_PROB_MAX and seg.avg_logprob < LOGPROB_MIN:
                continue
            for w in seg.words or ():
                text = w.word.strip()
                if text:
                    words.append(Word(start=float(w.start), end=float(w.end), text=text, probability=float(w.probability)))
        return words


def transcribe_or_error(transcriber: Transcriber, job) -> list[Word] | Exception:
    """Words of an :class:`~voicemon.events.AsrJob`, or the exception its transcription raised
    (logged): one bad utterance must not lose the call."""
    try:
        return job.in_call_time(transcriber.transcribe(job.samples))
    except Exception as exc:
        log.warning("transcription of %s failed: %s", job.job_id, exc)
        return exc


def parallel_transcriber(options: AsrOptions, workers: int = 0,
                         model_origin: str | None = None) -> tuple[WhisperTranscriber, int]:
    """The Whisper model set up for many utterances at once (``analyze``, ``replay``, ``serve``).

    One worker per core with one CTranslate2 thread each: on 2 cores ``analyze`` then keeps up
    with bare faster-whisper on the same call (benchmarks/offline_speed.py) and the live pool holds
    16 two-party calls in real time (benchmarks/live_latency.py). An explicit
    ``asr.cpu_threads`` is kept.

    Args:
        options: model and decoding options (``options.workers``: utterances at once).
        workers: overrides ``options.workers`` when not 0 (0 = ``options.workers``, whose 0 is
            one per core).
        model_origin: who chose the model (``Config.origins["asr.model"]``), named in errors.

    Returns:
        ``(transcriber, workers)`` with the model loaded.

    Raises:
        ModelUnavailableError: the model cannot be loaded.
    """
    import dataclasses
    import os

    workers = workers or options.workers or os.cpu_count() or 1
    if not options.cpu_threads:
        options = dataclasses.replace(options, cpu_threads=1)
    transcriber = WhisperTranscriber(options, num_workers=workers, model_origin=model_origin)
    transcriber.load()
    return transcriber, workers
