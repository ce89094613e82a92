"""Evaluation inputs: labelled-clip and labelled-call CSV files, and pseudo-calls built from clips.

A **clip corpus** CSV has a header with at least ``path,label,speaker`` (other columns are
ignored); paths are relative to the CSV's folder. Labels are compared in lower case: ``angry``
clips should alarm, ``neutral`` clips form each speaker's calm opening, every other label
(calm, happy, fearful, sad, ...) is an "other emotion".

A **labelled calls** CSV has a header with at least ``path``, and optionally ``start_s``,
``end_s`` (one escalation interval per row; leave both empty for a call with none; several rows
may name the same call) and ``role`` (whose meter is judged: ``customer``, ``agent`` or
``mixed``; default the caller: ``customer`` on a two-channel call, ``mixed`` on a mono one).

A **pseudo-call** strings one speaker's clips together with silent gaps, so the real streaming
pipeline sees a call whose opening is the speaker's neutral speech (see :func:`build_pseudo_calls`).
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from voicemon.errors import VoicemonError

SAMPLE_RATE_HZ = 16000
POSITIVE_LABEL = "angry"
NEUTRAL_LABEL = "neutral"
ROLES = ("customer", "agent", "mixed")


@dataclass(frozen=True)
class Clip:
    """One labelled clip.

    Attributes:
        line: line number in the CSV (the header is line 1).
        path: audio file.
        label: lower-case label.
        speaker: speaker id.
    """

    line: int
    path: Path
    label: str
    speaker: str


@dataclass(frozen=True)
class LabelledCall:
    """A recorded call with its escalation intervals.

    Attributes:
        path: audio file.
        intervals: escalation intervals in seconds, sorted.
        role: whose meter is judged (None = the caller).
        line: first CSV line that named the call.
    """

    path: Path
    intervals: tuple[tuple[float, float], ...]
    role: str | None
    line: int


def _rows(csv_path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    if not csv_path.is_file():
        raise VoicemonError(f"{csv_path}: no such CSV file")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in required if c not in header]
            if missing:
                raise VoicemonError(f"{csv_path}: header needs column(s) {', '.join(missing)} (has {', '.join(header) or 'nothing'})")
            reader.fieldnames = header
            rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise VoicemonError(f"{csv_path}: cannot read CSV: {exc}") from exc
    return [(line, row) for line, row in rows if any(row.values())]


def _audio_path(csv_path: Path, line: int, raw: str) -> Path:
    if not raw:
        raise VoicemonError(f"{csv_path}:{line}: empty path")
    p = Path(raw)
    p = p if p.is_absolute() else csv_path.parent / p
    if not p.is_file():
        raise VoicemonError(f"{csv_path}:{line}: audio file {raw!r} not found ({p})")
    return p


def read_clips_csv(csv_path: str | Path) -> list[Clip]:
    """Read a clip corpus CSV.

    Raises:
        VoicemonError: the file, a column, a path, a label or a speaker is missing; the message
            names the CSV line.
    """
    csv_path = Path(csv_path)
    clips = []
    for line, row in _rows(csv_path, ("path", "label", "speaker")):
        path = _audio_path(csv_path, line, row.get("path", ""))
        label, speaker = row.get("label", "").lower(), row.get("speaker", "")
        if not label or not speaker:
            raise VoicemonError(f"{csv_path}:{line}: label and speaker must not be empty")
        clips.append(Clip(line=line, path=path, label=label, speaker=speaker))
    if not clips:
        raise VoicemonError(f"{csv_path}: no clips listed")
    return clips


def _seconds(csv_path: Path, line: int, name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise VoicemonError(f"{csv_path}:{line}: {name} must be seconds, not {raw!r}") from None
    if not np.isfinite(value) or value < 0:
        raise VoicemonError(f"{csv_path}:{line}: {name} must be >= 0, not {raw!r}")
    return value


def read_calls_csv(csv_path: str | Path) -> list[LabelledCall]:
    """Read a labelled calls CSV (rows of one call are merged, in first-seen order).

    Raises:
        VoicemonError: a bad path, time, interval or role; the message names the CSV line.
    """
    csv_path = Path(csv_path)
    calls: dict[Path, dict] = {}
    for line, row in _rows(csv_path, ("path",)):
        path = _audio_path(csv_path, line, row.get("path", ""))
        start, end, role = row.get("start_s", ""), row.get("end_s", ""), row.get("role", "") or None
        if role is not None and role not in ROLES:
            raise VoicemonError(f"{csv_path}:{line}: role must be one of {', '.join(ROLES)}, not {role!r}")
        entry = calls.setdefault(path, {"intervals": [], "role": role, "line": line})
        if entry["role"] != role:
            raise VoicemonError(f"{csv_path}:{line}: call {path.name} was given role {entry['role']!r} on line {entry['line']}")
        if bool(start) != bool(end):
            raise VoicemonError(f"{csv_path}:{line}: give both start_s and end_s, or neither")
        if start:
            s, e = _seconds(csv_path, line, "start_s", start), _seconds(csv_path, line, "end_s", end)
            if e <= s:
                raise VoicemonError(f"{csv_path}:{line}: end_s ({e}) must be after start_s ({s})")
            entry["intervals"].append((s, e))
    if not calls:
        raise VoicemonError(f"{csv_path}: no calls listed")
    return [LabelledCall(path=p, intervals=tuple(sorted(d["intervals"])), role=d["role"], line=d["line"])
            for p, d in calls.items()]


@dataclass(frozen=True)
class Segment:
    """Where a clip sits in a pseudo-call.

    Attributes:
        clip: the clip.
        start_s: its first sample, in call time.
        end_s: its end.
        span_end_s: end of the time it owns (the next clip's start, or the call's end).
        phase: ``opening`` (baseline speech) or ``body`` (scored against the baseline).
    """

    clip: Clip
    start_s: float
    end_s: float
    span_end_s: float
    phase: str


@dataclass
class PseudoCall:
    """One speaker's clips strung into a mono call.

    Attributes:
        name: ``<speaker>#<fold>``.
        speaker: the speaker.
        samples: 16 kHz float32 audio.
        segments: the clips in call order.
    """

    name: str
    speaker: str
    samples: np.ndarray
    segments: list[Segment] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.size / SAMPLE_RATE_HZ


def _rng(speaker: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(speaker.encode("utf-8"))])


def _split(clips: list[Clip], folds: int, rng: np.random.Generator) -> list[list[Clip]]:
    """Shuffle and deal clips round-robin into ``folds`` parts, label by label (stratified)."""
    parts: list[list[Clip]] = [[] for _ in range(folds)]
    k = 0
    for label in sorted({c.label for c in clips}):
        group = sorted((c for c in clips if c.label == label), key=lambda c: str(c.path))
        for i in rng.permutation(len(group)):
            parts[k % folds].append(group[i])
            k += 1
    return parts


def plan_pseudo_calls(clips: list[Clip], folds: int = 2, seed: int = 0) -> list[tuple[str, str, list[Clip], list[Clip]]]:
    """Decide, per speaker, which clips open each pseudo-call and in which order the rest follow.

    With ``folds`` = 1 a speaker gets one call: all neutral clips, then all other clips in a
    seeded shuffled order (neutral clips are then only heard in the opening). With ``folds``
    = k > 1 the speaker's neutral and other clips are each dealt into k parts (stratified by
    label); call j opens with the neutral clips *not* in part j and then plays part j (its
    neutral and other clips, shuffled), so every clip is scored exactly once after a baseline
    that did not hear it.

    Returns:
        ``(name, speaker, opening, body)`` per pseudo-call.
    """
    if folds < 1:
        raise ValueError("folds must be >= 1")
    plans = []
    for speaker in sorted({c.speaker for c in clips}):
        rng = _rng(speaker, seed)
        mine = [c for c in clips if c.speaker == speaker]
        neutral = [c for c in mine if c.label == NEUTRAL_LABEL]
        other = [c for c in mine if c.label != NEUTRAL_LABEL]
        if folds == 1:
            n_parts, o_parts = [[]], [other]
            openings = [_split(neutral, 1, rng)[0]]
        else:
            n_parts, o_parts = _split(neutral, folds, rng), _split(other, folds, rng)
            openings = [[c for i, part in enumerate(n_parts) if i != j for c in part] for j in range(folds)]
        for j in range(folds):
            body = n_parts[j] + o_parts[j]
            body = [body[i] for i in rng.permutation(len(body))]
            if body:
                plans.append((f"{speaker}#{j + 1}", speaker, openings[j], body))
    return plans


def build_pseudo_call(name: str, speaker: str, opening: list[Clip], body: list[Clip],
                      load: Callable[[Clip], np.ndarray], gap_s: float, lead_s: float = 0.5) -> PseudoCall:
    """Concatenate clips with ``gap_s`` of digital silence between them (and after the last).

    Args:
        name: call name.
        speaker: speaker id.
        opening: clips played first, in order.
        body: clips played next, in order.
        load: reads a clip as 16 kHz float32 mono.
        gap_s: silence after every clip.
        lead_s: silence before the first clip.

    Returns:
        The call with each clip's position.
    """
    pieces = [np.zeros(int(lead_s * SAMPLE_RATE_HZ), np.float32)]
    gap = np.zeros(int(round(gap_s * SAMPLE_RATE_HZ)), np.float32)
    placed = []
    pos = pieces[0].size
    for phase, group in (("opening", opening), ("body", body)):
        for clip in group:
            x = np.asarray(load(clip), np.float32)
            placed.append((clip, pos, pos + x.size, phase))
            pieces += [x, gap]
            pos += x.size + gap.size
    segments = []
    for i, (clip, a, b, phase) in enumerate(placed):
        span_end = placed[i + 1][1] if i + 1 < len(placed) else pos
        segments.append(Segment(clip, a / SAMPLE_RATE_HZ, b / SAMPLE_RATE_HZ, span_end / SAMPLE_RATE_HZ, phase))
    return PseudoCall(name=name, speaker=speaker, samples=np.concatenate(pieces), segments=segments)


def load_clip_mono(path: Path) -> np.ndarray:
    """Decode a clip to 16 kHz mono (two channels are averaged).

    Raises:
        AudioFormatError: unreadable audio.
    """
    from voicemon.audio.decode import load_call_audio

    audio = load_call_audio(path)
    signals = list(audio.signals.values())
    return signals[0] if len(signals) == 1 else (signals[0] + signals[1]) / 2.0


def cached_clip_loader(csv_path: str | Path) -> Callable[[Clip], np.ndarray]:
    """A clip reader that decodes each file once and names the CSV line of an unreadable one.

    Raises (when called):
        VoicemonError: ``<csv>:<line>: <why>``.
    """
    cache: dict[Path, np.ndarray] = {}

    def load(clip: Clip) -> np.ndarray:
        if clip.path not in cache:
            try:
                cache[clip.path] = load_clip_mono(clip.path)
            except VoicemonError as exc:
                raise VoicemonError(f"{csv_path}:{clip.line}: {exc}") from exc
        return cache[clip.path]

    return load
