"""Two-party clip evaluation: labelled clips strung into stereo calls with calm context.

A clip corpus (``path,label,speaker``) is turned into one call per speaker and fold: the speaker
is the customer, and the agent's channel is read by another speaker of the corpus (their neutral
clips). The call opens with agent and customer turns of neutral speech (the customer's baseline),
and then every scored clip comes after **calm context**: an agent turn (two neutral clips of the
agent's speaker) and a neutral customer turn (one of the customer's opening clips, cycled), so
the meter meets each emotional turn the way it meets it on a real call: straight after calm
conversation, with its history of the call intact, not after 20 s of silence.

Per scored clip and system: the highest score and level from the clip's start to the start of
the next context, and the **latency to heated**: the time from the clip's first sample to the
first reading at heated or above. Figures: AUC angry vs neutral and angry vs every other label,
recall of angry clips at heated, false alarms (neutral clips at heated; each other label's share
at heated, "high arousal" = happy + fearful + anything labelled excited/surprised), and the median
latency of the angry clips that reach heated.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from voicemon.config import Config
from voicemon.escalation.meter import MeterParams
from voicemon.eval import metrics, transforms
from voicemon.eval.corpus import (
    NEUTRAL_LABEL, POSITIVE_LABEL, Clip, Segment, cached_clip_loader, plan_pseudo_calls, read_clips_csv,
)
from voicemon.eval.pipeline import SignalRun, bare_meter, baseline_params, interpret, readings_of, run_signal

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
TURN_GAP_S = 0.6
"""Silence between turns (a brisk exchange)."""
SETTLE_S = 10.0
"""Silence after a scored clip before the next context: the meter releases (about two of its
6 s release time constants) so each clip is scored mostly on its own."""
HIGH_AROUSAL_LABELS = ("happy", "fearful", "fear", "excited", "surprised", "joy", "anxious")
ProgressFn = Callable[[int, int, str], None]


@dataclass
class TwoPartyCall:
    """A stereo call: agent (another speaker's neutral speech) and customer (the scored speaker).

    Attributes:
        name: ``<speaker>#<fold>``.
        speaker: the customer's speaker id.
        agent_speaker: whose clips the agent says.
        agent: 16 kHz float32 agent channel.
        customer: 16 kHz float32 customer channel.
        segments: the customer's clips (``opening``, ``context`` or ``body``), in call order.
    """

    name: str
    speaker: str
    agent_speaker: str
    agent: np.ndarray
    customer: np.ndarray
    segments: list[Segment] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.customer.size / SAMPLE_RATE_HZ


class _Timeline:
    def __init__(self) -> None:
        self.agent: list[np.ndarray] = []
        self.customer: list[np.ndarray] = []
        self.pos = 0

    def say(self, role: str, x: np.ndarray, gap_s: float = TURN_GAP_S) -> tuple[int, int]:
        gap = np.zeros(int(round(gap_s * SAMPLE_RATE_HZ)), np.float32)
        start = self.pos
        speech, silence = (self.agent, self.customer) if role == "agent" else (self.customer, self.agent)
        speech += [x, gap]
        silence.append(np.zeros(x.size + gap.size, np.float32))
        self.pos += x.size + gap.size
        return start, start + x.size

    def pause(self, seconds: float) -> None:
        n = int(round(seconds * SAMPLE_RATE_HZ))
        self.agent.append(np.zeros(n, np.float32))
        self.customer.append(np.zeros(n, np.float32))
        self.pos += n


def build_two_party_call(name: str, speaker: str, opening: list[Clip], body: list[Clip], agent_clips: list[Clip],
                         agent_speaker: str, load: Callable[[Clip], np.ndarray]) -> TwoPartyCall:
    """Lay out one two-party call (see the module docstring).

    Args:
        name: call name.
        speaker: the customer's speaker id.
        opening: the customer's neutral clips heard first (their baseline) and reused as context.
        body: the clips to score, in order.
        agent_clips: neutral clips of the agent's speaker (cycled).
        agent_speaker: their speaker id.
        load: reads a clip as 16 kHz float32 mono.
    """
    if not opening or not agent_clips:
        raise ValueError(f"{name}: a two-party call needs neutral clips of the customer and of an agent")
    tl = _Timeline()
    tl.pause(0.5)
    segments: list[tuple[Clip, int, int, str, int]] = []
    agent_i = 0

    def agent_turn(n: int) -> None:
        nonlocal agent_i
        for _ in range(n):
            tl.say("agent", load(agent_clips[agent_i % len(agent_clips)]), 0.2)
            agent_i += 1
        tl.pause(TURN_GAP_S - 0.2)

    for clip in opening:
        agent_turn(1)
        a, b = tl.say("customer", load(clip))
        segments.append((clip, a, b, "opening", b))
    for i, clip in enumerate(body):
        agent_turn(2)
        context = opening[i % len(opening)]
        a, b = tl.say("customer", load(context))
        segments.append((context, a, b, "context", b))
        a, b = tl.say("customer", load(clip))
        tl.pause(SETTLE_S)
        segments.append((clip, a, b, "body", tl.pos))  # a scored clip owns the time up to the next agent turn
    placed = [Segment(clip, a / SAMPLE_RATE_HZ, b / SAMPLE_RATE_HZ, end / SAMPLE_RATE_HZ, phase)
              for clip, a, b, phase, end in segments]
    return TwoPartyCall(name=name, speaker=speaker, agent_speaker=agent_speaker, agent=np.concatenate(tl.agent),
                        customer=np.concatenate(tl.customer), segments=placed)


@dataclass
class PreparedTwoParty:
    """Two-party calls and their signal runs under each transform."""

    calls: list[TwoPartyCall]
    runs: dict[str, list[SignalRun]]
    root: Path


def prepare_two_party(csv_path: str | Path, config: Config, params: MeterParams, *, transform_names=("clean",),
                      folds: int = 2, seed: int = 0, progress: ProgressFn | None = None) -> PreparedTwoParty:
    """Read the CSV, build the two-party calls and run the signal stages under every transform.

    Raises:
        VoicemonError: a bad CSV row or unreadable clip (the message names the row), or a corpus
            with fewer than two speakers that have neutral clips.
    """
    from voicemon.errors import VoicemonError

    clips = read_clips_csv(csv_path)
    load = cached_clip_loader(csv_path)

    speakers = sorted({c.speaker for c in clips if c.label == NEUTRAL_LABEL})
    if len(speakers) < 2:
        raise VoicemonError(f"{csv_path}: two-party calls need neutral clips of at least two speakers (found {len(speakers)})")
    calls = []
    for name, speaker, opening, body in plan_pseudo_calls(clips, folds, seed):
        if not opening:
            log.warning("%s: no neutral opening clips, skipped", name)
            continue
        agent_speaker = speakers[(speakers.index(speaker) + 1) % len(speakers)] if speaker in speakers else speakers[0]
        agent_clips = sorted((c for c in clips if c.speaker == agent_speaker and c.label == NEUTRAL_LABEL), key=lambda c: str(c.path))
        calls.append(build_two_party_call(name, speaker, opening, body, agent_clips, agent_speaker, load))
    runs: dict[str, list[SignalRun]] = {}
    total, done = len(calls) * len(transform_names), 0
    for t_name in transform_names:
        runs[t_name] = []
        for i, call in enumerate(calls):
            signals = {"agent": transforms.apply(t_name, call.agent, seed=transforms.NOISE_SEED + 2 * i),
                       "customer": transforms.apply(t_name, call.customer, seed=transforms.NOISE_SEED + 2 * i + 1)}
            runs[t_name].append(run_signal(signals, config, params))
            done += 1
            if progress:
                progress(done, total, f"{t_name} {call.name}")
    return PreparedTwoParty(calls=calls, runs=runs, root=Path(csv_path).resolve().parent)


def clip_rows(call: TwoPartyCall, readings: dict[str, list], root: Path | None = None) -> list[dict]:
    """Per body clip: each system's peak score, level and latency to heated."""
    heated = metrics.level_rank("heated")
    rows = []
    for seg in call.segments:
        if seg.phase != "body":
            continue
        path = seg.clip.path.resolve()
        row: dict = {"path": str(path.relative_to(root)) if root and path.is_relative_to(root) else str(seg.clip.path),
                     "label": seg.clip.label, "speaker": call.speaker, "call": call.name,
                     "start_s": round(seg.start_s, 3), "end_s": round(seg.end_s, 3)}
        for system, rs in readings.items():
            span = [r for r in rs if seg.start_s < r.t <= seg.span_end_s + 1e-9]
            peak = max(span, key=lambda r: r.score, default=None)
            level = max((r.level for r in span), key=metrics.level_rank, default="calm")
            first = next((r.t for r in span if metrics.level_rank(r.level) >= heated), None)
            row[system] = {"score": peak.score if peak else 0.0, "level": level,
                           "latency_s": None if first is None else round(first - seg.start_s, 2)}
        rows.append(row)
    return rows


def summarise(rows: list[dict], system: str) -> dict:
    """Figures of one system over body clips (see the module docstring)."""
    def of(pred):
        return [r[system] for r in rows if pred(r["label"])]

    pos = of(lambda lab: lab == POSITIVE_LABEL)
    neu = of(lambda lab: lab == NEUTRAL_LABEL)
    oth = of(lambda lab: lab not in (POSITIVE_LABEL, NEUTRAL_LABEL))
    high = of(lambda lab: lab in HIGH_AROUSAL_LABELS)
    lat = [p["latency_s"] for p in pos if p["latency_s"] is not None]

    def r4(x):
        return None if x is None else round(x, 4)

    return {
        "auc_angry_vs_neutral": r4(metrics.roc_auc([p["score"] for p in pos], [n["score"] for n in neu])),
        "auc_angry_vs_other": r4(metrics.roc_auc([p["score"] for p in pos], [o["score"] for o in oth])),
        "recall_angry_heated": r4(metrics.share_at_or_above(p["level"] for p in pos)),
        "false_alarm_neutral_heated": r4(metrics.share_at_or_above(n["level"] for n in neu)),
        "false_alarm_high_arousal_heated": r4(metrics.share_at_or_above(h["level"] for h in high)) if high else None,
        "false_alarm_other_heated": r4(metrics.share_at_or_above(o["level"] for o in oth)),
        "median_latency_to_heated_s": round(statistics.median(lat), 2) if lat else None,
        "heated_share_by_label": {lab: r4(metrics.share_at_or_above(r[system]["level"] for r in rows if r["label"] == lab))
                                  for lab in sorted({r["label"] for r in rows})},
        "n": {"angry": len(pos), "neutral": len(neu), "other": len(oth), "high_arousal": len(high)},
    }


def score_two_party(prepared: PreparedTwoParty, config: Config, systems: dict[str, MeterParams]) -> dict:
    """Rows and summaries of every system under every transform.

    Args:
        prepared: from :func:`prepare_two_party`.
        config: options.
        systems: system name -> meter parameters; ``baseline`` (loudness only, no cues) is added.

    Returns:
        transform -> ``{system: summary, ..., "clips": rows}``.
    """
    out = {}
    any_params = next(iter(systems.values()))
    for t_name, runs in prepared.runs.items():
        rows = []
        for call, run in zip(prepared.calls, runs):
            readings = {name: readings_of(interpret(run, config, p), "customer") for name, p in systems.items()}
            readings["baseline"] = [r for r in bare_meter(run, baseline_params(any_params), config.meter.readings_hz)
                                    if r.role == "customer"]
            rows.extend(clip_rows(call, readings, prepared.root))
        out[t_name] = {name: summarise(rows, name) for name in [*systems, "baseline"]}
        out[t_name]["clips"] = rows
    return out
