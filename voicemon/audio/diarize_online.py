"""Online two-speaker tracking of a live mono call (DESIGN.md §11, issue 11 item 5).

The offline path (:func:`voicemon.audio.diarize.diarize`) clusters the whole call at once. A live
call cannot wait for its end, so :class:`OnlineSpeakerTracker` does the same steps as the audio
arrives, with the same speech detector, front end, embedders, clustering and one-voice test:

1. **warm-up** — every 0.8 s window of speech (hop ``window_stride_s``) is embedded as soon as
   its audio is in. Chunks pass through unchanged as ``mixed``: the call has one meter for both
   voices.
2. **split** — once ``live_warmup_s`` of speech has been embedded, and again after every further
   ``LIVE_CHECK_S`` of speech, the windows so far are split two ways and put to the offline
   test, stricter (coherence >= ``live_min_coherence``, smaller cluster >=
   :data:`LIVE_MIN_SHARE`, and :data:`CONFIRM_CHECKS` tests in a row). Then the two centroids
   are seeded, speaker 0 being whoever spoke first. A single voice (voicemail, IVR) does not
   pass and the call stays ``mixed`` to the end.
3. **routing** — after the split the tracker holds audio back ``live_delay_s`` (so the 0.8 s
   window centred on a frame is in before the frame is labelled), scores each 10 ms frame by
   the mean similarity difference to the two centroids of the windows covering it, and smooths
   the score with a causal two-state filter: the log-odds are clipped at ``switch_penalty``, so
   a change of speaker needs that much evidence (the online counterpart of the offline Viterbi
   pass). Pauses stay with the last speaker. Each released span becomes one chunk per role with
   the other speaker's samples zeroed, exactly as :class:`~voicemon.audio.diarize.SpeakerRouter`
   does offline. Centroids adapt slowly to confidently assigned windows.

Nothing already released is relabelled: history is never rewritten. The stage is synchronous,
clock-free and I/O-free; media time is the sample count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from voicemon.audio.diarize import (
    FRAME_SAMPLES,
    FRAME_S,
    MIN_SPEECH_IN_WINDOW,
    SCORE_GAIN,
    WINDOW_FRAMES,
    _normalise,
    cluster_coherence,
    two_way_clusters,
)
from voicemon.audio.segmenter import UtteranceSegmenter
from voicemon.config import DiarizationOptions, SegmenterOptions
from voicemon.events import SAMPLE_RATE_HZ, AudioChunk, SpeakersChanged, SpeechEnded, SpeechStarted

MIXED_MESSAGE = "one channel: one meter for both voices until two voices are told apart"

LIVE_CHECK_S = 2.0
"""Speech embedded between two split tests after the warm-up."""
LIVE_MIN_SHARE = 0.2
"""The smaller cluster's least share of the warm-up windows for a live split (offline:
``min_speaker_share``). A single real voice split live at a share of 0.16; the real and
fixture two-voice mixes split at 0.23-0.37 (docs/diarization.md)."""
CONFIRM_CHECKS = 3
"""A split is taken only when this many split tests in a row pass: over a few dozen windows a
single voice can look like two for one test (a drift in level or line), never for three
(measured on the real calls' single channels; docs/diarization.md)."""
MAX_CLUSTER_WINDOWS = 600
"""The split test uses at most this many latest windows (4 min of speech at a 0.4 s hop)."""
CENTROID_MEMORY = 200
"""A centroid is the running mean of its seed and at most this many later windows."""
ADAPT_MARGIN = 0.1
"""A window updates a centroid only when it is this much closer to it than to the other."""
FEATURE_OVERLAP = 400 - FRAME_SAMPLES
"""Samples a 25 ms feature frame reaches past its 10 ms hop."""


def mixed_speakers_event() -> SpeakersChanged:
    """The ``speakers`` event that opens every one-channel call, live or offline."""
    return SpeakersChanged(t=0.0, roles=("mixed",), state="mixed", message=MIXED_MESSAGE)


@dataclass
class SplitDecision:
    """When and how a live mono call was split into two speakers.

    Attributes:
        t: media time of the split (everything before it was scored as ``mixed``).
        coherence: chance-corrected window agreement at the split (see ``cluster_coherence``).
        minority_share: the smaller cluster's share of the warm-up windows.
        centroid_cos: cosine similarity of the two seeded centroids.
        windows: warm-up windows the split was decided on.
        window_labels: speaker (0/1) of each warm-up window, by its start frame.
    """

    t: float
    coherence: float
    minority_share: float
    centroid_cos: float
    windows: int
    window_labels: dict[int, int] = field(default_factory=dict, repr=False)

    def speaker_at(self, t_s: float) -> int | None:
        """Speaker of the warm-up window centred nearest ``t_s`` (``None``: no window within 0.8 s)."""
        if not self.window_labels:
            return None
        frame = t_s / FRAME_S - WINDOW_FRAMES / 2
        start = min(self.window_labels, key=lambda s: abs(s - frame))
        return self.window_labels[start] if abs(start - frame) <= WINDOW_FRAMES else None


class _Features:
    """Incremental 40-band log-mel frames (the embedders' front end) of a growing signal."""

    def __init__(self) -> None:
        self._samples = np.zeros(0, np.float32)
        self._first_sample = 0  # stream sample index of self._samples[0]
        self.frames = np.zeros((0, 40), np.float32)
        self.first_frame = 0  # frame index of self.frames[0]

    @property
    def end_frame(self) -> int:
        return self.first_frame + len(self.frames)

    def add(self, samples: np.ndarray) -> None:
        from voicemon.audio.embedders import log_mel

        self._samples = np.concatenate([self._samples, samples.astype(np.float32, copy=False)])
        new = log_mel(self._samples)
        if len(new):
            self.frames = np.concatenate([self.frames, new])
            used = len(new) * FRAME_SAMPLES
            self._samples = self._samples[used:]
            self._first_sample += used

    def window(self, start: int) -> np.ndarray:
        return self.frames[start - self.first_frame:start - self.first_frame + WINDOW_FRAMES]

    def trim(self, keep_from: int) -> None:
        drop = max(0, keep_from - self.first_frame)
        if drop:
            self.frames = self.frames[drop:]
            self.first_frame += drop


class _WindowEmbedder:
    """Per-window embeddings like the offline embedders, with the MFCC part standardised by
    statistics of the warm-up (frozen at the split), not of the whole call."""

    def __init__(self, name: str) -> None:
        from voicemon.audio.embedders import EMBEDDERS, get_embedder

        if name not in EMBEDDERS:
            raise ValueError(f"unknown embedder {name!r} ({', '.join(EMBEDDERS)})")
        self.name = name
        self.dvector = get_embedder("dvector") if "dvector" in name else None
        self.use_mfcc = "mfcc" in name
        self._mfcc_mean: np.ndarray | None = None
        self._mfcc_std: np.ndarray | None = None

    def raw(self, windows: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(d-vectors, raw MFCC statistics)`` of ``(n, 80, 40)`` windows."""
        from voicemon.audio.embedders import mfcc_stats

        dvec = mfcc = None
        if self.dvector is not None:
            dvec = _normalise(self.dvector.embed(windows.reshape(-1, 40), np.arange(len(windows)) * WINDOW_FRAMES,
                                                 WINDOW_FRAMES))
        if self.use_mfcc:
            mfcc = mfcc_stats(windows.reshape(-1, 40), np.arange(len(windows)) * WINDOW_FRAMES, WINDOW_FRAMES)
        return dvec, mfcc

    def freeze(self, mfcc: np.ndarray | None) -> None:
        """Fix the MFCC standardisation to these windows' statistics."""
        if mfcc is not None and len(mfcc):
            self._mfcc_mean, self._mfcc_std = mfcc.mean(0), mfcc.std(0) + 1e-9

    def combine(self, dvec: np.ndarray | None, mfcc: np.ndarray | None) -> np.ndarray:
        """Unit-length embeddings from raw parts (standardising MFCC by the frozen statistics,
        or by the given windows' own before the split, as the offline embedder does)."""
        parts = []
        if dvec is not None:
            parts.append(dvec)
        if mfcc is not None:
            mean = self._mfcc_mean if self._mfcc_mean is not None else mfcc.mean(0)
            std = self._mfcc_std if self._mfcc_std is not None else mfcc.std(0) + 1e-9
            parts.append(_normalise((mfcc - mean) / std))
        return _normalise(np.concatenate(parts, axis=1))


class OnlineSpeakerTracker:
    """Track two speakers on a live mono stream; a synchronous, clock-free stage.

    ``feed(mixed_chunk)`` returns the chunks to pass on: the same ``mixed`` chunk until the
    split, then (delayed by ``live_delay_s``) one chunk per role of the released span. After
    the split :attr:`split` says when and how; :attr:`roles` are the roles of speaker 0 and 1,
    which the driver sets once (from the words heard in the warm-up) before routing starts.

    Args:
        options: embedder, window hop, one-voice test, warm-up and delay.
        segmenter: thresholds of the speech detector (the same one the offline step uses).
    """

    def __init__(self, options: DiarizationOptions, segmenter: SegmenterOptions) -> None:
        self.opt = options
        self.stride = max(1, int(round(options.window_stride_s / FRAME_S)))
        self.delay_frames = max(0, int(round(options.live_delay_s / FRAME_S)))
        self.embedder = _WindowEmbedder(options.embedder)
        self.roles: tuple[str, str] = ("agent", "customer")
        self.split: SplitDecision | None = None
        self._vad = UtteranceSegmenter("mixed", segmenter)
        self._speech = bytearray()  # per 10 ms frame, 1 = speech (tentative while a turn is open)
        self._open_from: int | None = None
        self._features = _Features()
        self._next_window = 0
        self._win_starts: list[int] = []
        self._win_dvec: list[np.ndarray] = []
        self._win_mfcc: list[np.ndarray] = []
        self._next_check = max(1, int(round(options.live_warmup_s / options.window_stride_s)))
        self._centroids: np.ndarray | None = None
        self._passes = 0
        self._counts = np.zeros(2)
        # frame evidence after the split: sum and count of window diffs covering each frame
        self._acc: dict[int, float] = {}
        self._cnt: dict[int, int] = {}
        self._log_odds = 0.0
        self._current = 0
        self._decided_upto = 0
        self._held: list[np.ndarray] = []
        self._held_start = 0  # sample index of the first held sample
        self._end_sample = 0

    # -- input -----------------------------------------------------------------------------

    def feed(self, chunk: AudioChunk) -> list[AudioChunk]:
        """Take the next ``mixed`` chunk; return the chunks to pass on (see the class doc)."""
        self._end_sample = chunk.start_sample + len(chunk.samples)
        self._mark_speech(chunk)
        self._features.add(chunk.samples)
        split_before = self.split is not None
        self._embed_ready()
        if not split_before:
            if self.split is not None:  # split at the end of this chunk: routing starts here
                self._held_start = self._end_sample
            return [chunk]
        self._held.append(chunk.samples)
        return self._release(self._features.end_frame - self.delay_frames)

    def flush(self) -> list[AudioChunk]:
        """End of the call: release everything still held back."""
        if self.split is None:
            return []
        return self._release(None)

    # -- speech activity --------------------------------------------------------------------

    def _mark_speech(self, chunk: AudioChunk) -> None:
        events, _ = self._vad.feed(chunk)
        end = self._end_sample // FRAME_SAMPLES
        if len(self._speech) < end:
            self._speech.extend(b"\x00" * (end - len(self._speech)))
        for e in events:
            if isinstance(e, SpeechStarted):
                self._open_from = int(e.t / FRAME_S)
            elif isinstance(e, SpeechEnded):
                a, b = int(e.start / FRAME_S), int(math.ceil(e.t / FRAME_S))
                self._speech[a:b] = b"\x01" * max(0, b - a)
                self._speech[b:end] = b"\x00" * max(0, end - b)
                self._open_from = None
        if self._open_from is not None:
            a = max(0, min(self._open_from, end))
            self._speech[a:end] = b"\x01" * (end - a)

    # -- embeddings --------------------------------------------------------------------------

    def _embed_ready(self) -> None:
        starts = []
        while self._next_window + WINDOW_FRAMES <= min(self._features.end_frame, len(self._speech)):
            s = self._next_window
            if sum(self._speech[s:s + WINDOW_FRAMES]) >= MIN_SPEECH_IN_WINDOW * WINDOW_FRAMES:
                starts.append(s)
            self._next_window += self.stride
        if starts:
            windows = np.stack([self._features.window(s) for s in starts]).astype(np.float32)
            dvec, mfcc = self.embedder.raw(windows)
            if self.split is None:
                self._warm_up(starts, dvec, mfcc)
            else:
                self._track(starts, self.embedder.combine(dvec, mfcc))
        self._features.trim(self._next_window)

    def _warm_up(self, starts: list[int], dvec, mfcc) -> None:
        for i, s in enumerate(starts):
            self._win_starts.append(s)
            self._win_dvec.append(dvec[i] if dvec is not None else None)
            self._win_mfcc.append(mfcc[i] if mfcc is not None else None)
        excess = len(self._win_starts) - MAX_CLUSTER_WINDOWS
        if excess > 0:
            del self._win_starts[:excess], self._win_dvec[:excess], self._win_mfcc[:excess]
        if len(self._win_starts) < self._next_check:
            return
        self._next_check = len(self._win_starts) + max(1, int(round(LIVE_CHECK_S / self.opt.window_stride_s)))
        if len(self._win_starts) > MAX_CLUSTER_WINDOWS - 1:
            self._next_check = len(self._win_starts)  # full: test again after every batch
        self._try_split()

    def _try_split(self) -> None:
        dvec = np.stack(self._win_dvec) if self.embedder.dvector is not None else None
        mfcc = np.stack(self._win_mfcc) if self.embedder.use_mfcc else None
        emb = self.embedder.combine(dvec, mfcc)
        starts = np.array(self._win_starts)
        labels = two_way_clusters(emb)
        share = float(min(np.mean(labels == 0), np.mean(labels == 1)))
        if share == 0.0 or share < max(self.opt.min_speaker_share, LIVE_MIN_SHARE):
            self._passes = 0
            return
        coherence = cluster_coherence(labels, starts)
        if coherence < self.opt.live_min_coherence:
            self._passes = 0
            return
        self._passes += 1
        if self._passes < CONFIRM_CHECKS:
            return
        if labels[0] == 1:  # speaker 0 spoke first
            labels = 1 - labels
        self.embedder.freeze(mfcc)
        emb = self.embedder.combine(dvec, mfcc)
        cents = _normalise(np.stack([emb[labels == k].mean(0) for k in (0, 1)]))
        self._centroids = cents
        self._counts = np.array([float(np.sum(labels == 0)), float(np.sum(labels == 1))])
        self._counts = np.minimum(self._counts, CENTROID_MEMORY)
        self._current = int(labels[-1])
        self._log_odds = self.opt.switch_penalty * (1 if self._current == 1 else -1)
        self.split = SplitDecision(
            t=round(self._end_sample / SAMPLE_RATE_HZ, 3), coherence=coherence, minority_share=share,
            centroid_cos=float(cents[0] @ cents[1]), windows=len(starts),
            window_labels={int(s): int(k) for s, k in zip(starts, labels)})
        self._win_dvec, self._win_mfcc = [], []

    def _track(self, starts: list[int], emb: np.ndarray) -> None:
        cents = self._centroids
        sims = emb @ cents.T
        for s, e, (s0, s1) in zip(starts, emb, sims):
            diff = float(s1 - s0)
            for f in range(s, s + WINDOW_FRAMES):
                self._acc[f] = self._acc.get(f, 0.0) + diff
                self._cnt[f] = self._cnt.get(f, 0) + 1
            if abs(diff) >= ADAPT_MARGIN:
                k = int(diff > 0)
                n = self._counts[k]
                cents[k] = _normalise(((cents[k] * n + e) / (n + 1))[None, :])[0]
                self._counts[k] = min(n + 1, CENTROID_MEMORY)

    # -- routing -----------------------------------------------------------------------------

    def _release(self, upto_frame: int | None) -> list[AudioChunk]:
        held_end = self._held_start + sum(len(h) for h in self._held)
        end = held_end if upto_frame is None else min(held_end, max(self._held_start, upto_frame * FRAME_SAMPLES))
        if end <= self._held_start:
            return []
        data = np.concatenate(self._held)
        n = end - self._held_start
        out, rest = data[:n], data[n:]
        first_frame = self._held_start // FRAME_SAMPLES
        last_frame = (end - 1) // FRAME_SAMPLES + 1
        labels = np.array([self._decide(f) for f in range(first_frame, last_frame)], int)
        per_sample = np.repeat(labels, FRAME_SAMPLES)
        offset = self._held_start - first_frame * FRAME_SAMPLES
        per_sample = per_sample[offset:offset + n]
        chunks = [AudioChunk(samples=np.where(per_sample == k, out, 0.0).astype(np.float32),
                             start_sample=self._held_start, role=role) for k, role in enumerate(self.roles)]
        self._held = [rest] if len(rest) else []
        self._held_start = end
        return chunks

    def _decide(self, frame: int) -> int:
        """Speaker of one frame (frames are decided once each, in order)."""
        if frame < self._decided_upto:
            return self._current
        cnt = self._cnt.pop(frame, 0)
        acc = self._acc.pop(frame, 0.0)
        if cnt and frame < len(self._speech) and self._speech[frame]:
            p = self.opt.switch_penalty
            self._log_odds = float(np.clip(self._log_odds + SCORE_GAIN * acc / cnt, -p, p))
            if self._log_odds != 0.0:
                self._current = int(self._log_odds > 0)
        self._decided_upto = frame + 1
        return self._current

    # -- reporting ---------------------------------------------------------------------------

    def summary(self) -> dict:
        """JSON-ready description (the report's ``diarization`` block of a live mono call)."""
        out: dict = {"method": self.embedder.name, "mode": "live", "speakers": 2 if self.split else 1,
                     "windows": len(self._win_starts) if self.split is None else self.split.windows}
        if self.split is not None:
            out.update({"split_at_s": self.split.t, "coherence": round(self.split.coherence, 3),
                        "minority_share": round(self.split.minority_share, 3),
                        "centroid_cos": round(self.split.centroid_cos, 3), "delay_s": self.opt.live_delay_s})
        return out


def track_file(samples: np.ndarray, options: DiarizationOptions, segmenter: SegmenterOptions,
               chunk_samples: int = 1600) -> tuple[OnlineSpeakerTracker, np.ndarray]:
    """Fold the tracker over a whole signal, as a live call would feed it (for measurement).

    Args:
        samples: 16 kHz mono audio.
        options: diarization options.
        segmenter: speech detector thresholds.
        chunk_samples: chunk length fed at a time.

    Returns:
        The tracker after the call, and the speaker (0/1) it routed each 10 ms frame to, where
        a frame of one speaker is a frame whose samples went to that speaker's role; -1 before
        the split and for silent (all-zero) frames.
    """
    tracker = OnlineSpeakerTracker(options, segmenter)
    tracker.roles = ("speaker0", "speaker1")
    labels = np.full(len(samples) // FRAME_SAMPLES, -1, int)
    out: list[AudioChunk] = []
    for start in range(0, len(samples), chunk_samples):
        out += tracker.feed(AudioChunk(samples=samples[start:start + chunk_samples].astype(np.float32),
                                       start_sample=start, role="mixed"))
    out += tracker.flush()
    for chunk in out:
        if chunk.role == "mixed":
            continue
        first = chunk.start_sample // FRAME_SAMPLES
        whole = (len(chunk.samples) // FRAME_SAMPLES) * FRAME_SAMPLES
        if chunk.start_sample % FRAME_SAMPLES or not whole:
            continue
        active = np.any(chunk.samples[:whole].reshape(-1, FRAME_SAMPLES) != 0, axis=1)
        span = labels[first:first + len(active)]
        span[active[:len(span)]] = 0 if chunk.role == "speaker0" else 1
    return tracker, labels
