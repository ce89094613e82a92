"""Clip-corpus evaluation: labelled emotional clips strung into per-speaker pseudo-calls.

For each speaker the harness builds pseudo-calls (:func:`voicemon.eval.corpus.plan_pseudo_calls`):
neutral clips first, the call's calm opening from which the tracker learns the speaker's
baseline, then the remaining clips in a seeded shuffled order, each followed by ``gap_s`` of
silence. The real stages run over it (a mono ``mixed`` call); with ``transcriber=None`` no ASR
runs at all, so the meter works from prosody alone.

**Per-clip score**: the highest meter score among the readings from the clip's first sample
to the next clip's first sample (the clip plus the silence after it, in which the meter's
smoothing catches up); the clip's level is the highest level in that span. Figures are computed
on *body* clips (heard after a baseline that did not contain them); opening clips are reported
on their own.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Callable

from voicemon.config import Config
from voicemon.escalation.meter import MeterParams
from voicemon.eval import metrics, transforms
from voicemon.eval.corpus import (
    NEUTRAL_LABEL, POSITIVE_LABEL, PseudoCall, build_pseudo_call, cached_clip_loader, plan_pseudo_calls,
    read_clips_csv,
)
from voicemon.eval.pipeline import SignalRun, bare_meter, baseline_params, interpret, readings_of, run_signal
from voicemon.events import EscalationReading, ProsodyFrame

log = logging.getLogger(__name__)

GAP_S = 20.0
"""Silence after every clip of a pseudo-call: long enough for the meter to settle (score release
and prosody fade leave under 4 % of a clip in the next), so each clip is scored on its own."""
FRAME_TAIL_S = 0.75
"""Prosody frames whose 1 s window ends up to this long after a clip still describe it."""
SYSTEMS = ("meter", "baseline")

ProgressFn = Callable[[int, int, str], None]


def clip_rows(call: PseudoCall, readings: dict[str, list[EscalationReading]], frames: list[ProsodyFrame],
              root: Path | None = None) -> list[dict]:
    """Per-clip scores of every system, and the clip's mean prosody z-scores.

    Args:
        call: the pseudo-call.
        readings: system name -> that system's readings of the call's role.
        frames: the call's prosody frames.
        root: paths are written relative to this folder when given.

    Returns:
        One row per clip, in call order.
    """
    rows = []
    for seg in call.segments:
        row: dict = {
            "path": _relative(seg.clip.path, root),
            "label": seg.clip.label, "speaker": call.speaker, "call": call.name, "phase": seg.phase,
            "start_s": round(seg.start_s, 3), "end_s": round(seg.end_s, 3),
        }
        for system, rs in readings.items():
            span = [r for r in rs if seg.start_s < r.t <= seg.span_end_s + 1e-9]
            peak = max(span, key=lambda r: r.score, default=None)
            level = max((r.level for r in span), key=metrics.level_rank, default="calm")
            row[system] = {"score": peak.score if peak else 0.0, "level": level}
        row["z"] = {k: round(v, 3) for k, v in clip_mean_z(frames, seg).items()}
        rows.append(row)
    return rows


def clip_mean_z(frames: list[ProsodyFrame], seg) -> dict[str, float]:
    """Mean of each prosody z-score over the frames that describe a clip (``seg``: a
    :class:`~voicemon.eval.corpus.Segment`)."""
    sums: dict[str, list[float]] = {}
    for f in frames:
        if f.z and seg.start_s < f.t <= seg.end_s + FRAME_TAIL_S:
            for k, v in f.z.items():
                sums.setdefault(k, []).append(v)
    return {k: sum(v) / len(v) for k, v in sums.items()}


def _relative(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` when it lies inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if root and resolved.is_relative_to(root) else os.path.normpath(path)


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def summarise(rows: list[dict], system: str) -> dict:
    """Figures of one system over some clips.

    Returns:
        ``auc_angry_vs_neutral``, ``auc_angry_vs_other``, ``recall_angry_heated``,
        ``false_alarm_neutral_heated``, ``false_alarm_other_heated`` (body clips), per-label
        shares at heated or above, ``false_alarm_opening_heated`` and clip counts.
    """
    body = [r for r in rows if r["phase"] == "body"]
    opening = [r for r in rows if r["phase"] == "opening"]

    def group(pred):
        return [r[system] for r in body if pred(r["label"])]

    pos = group(lambda lab: lab == POSITIVE_LABEL)
    neu = group(lambda lab: lab == NEUTRAL_LABEL)
    oth = group(lambda lab: lab not in (POSITIVE_LABEL, NEUTRAL_LABEL))
    score = [p["score"] for p in pos]
    return {
        "auc_angry_vs_neutral": _round(metrics.roc_auc(score, [n["score"] for n in neu])),
        "auc_angry_vs_other": _round(metrics.roc_auc(score, [o["score"] for o in oth])),
        "recall_angry_heated": _round(metrics.share_at_or_above(p["level"] for p in pos)),
        "recall_angry_tense": _round(metrics.share_at_or_above((p["level"] for p in pos), "tense")),
        "false_alarm_neutral_tense": _round(metrics.share_at_or_above((n["level"] for n in neu), "tense")),
        "false_alarm_neutral_heated": _round(metrics.share_at_or_above(n["level"] for n in neu)),
        "false_alarm_other_heated": _round(metrics.share_at_or_above(o["level"] for o in oth)),
        "false_alarm_opening_heated": _round(metrics.share_at_or_above(r[system]["level"] for r in opening)),
        "heated_share_by_label": {
            lab: _round(metrics.share_at_or_above(r[system]["level"] for r in body if r["label"] == lab))
            for lab in sorted({r["label"] for r in body})
        },
        "n": {"angry": len(pos), "neutral": len(neu), "other": len(oth), "opening": len(opening)},
    }


def summary_by_speaker(rows: list[dict], system: str) -> dict:
    """Overall figures, per-speaker figures and the mean of the per-speaker AUCs."""
    speakers = sorted({r["speaker"] for r in rows})
    per = {s: summarise([r for r in rows if r["speaker"] == s], system) for s in speakers}
    out = summarise(rows, system)
    for key in ("auc_angry_vs_neutral", "auc_angry_vs_other"):
        vals = [p[key] for p in per.values() if p[key] is not None]
        out[f"mean_speaker_{key}"] = _round(sum(vals) / len(vals)) if vals else None
    out["per_speaker"] = per
    return out


@dataclasses.dataclass
class PreparedCorpus:
    """Pseudo-calls and their signal runs under each transform.

    Attributes:
        calls: the pseudo-calls (clean audio).
        runs: transform -> one :class:`SignalRun` per call.
        root: folder of the CSV.
    """

    calls: list[PseudoCall]
    runs: dict[str, list[SignalRun]]
    root: Path


def prepare_corpus(csv_path: str | Path, config: Config, params: MeterParams, *, transform_names=("clean",),
                   folds: int = 2, gap_s: float = GAP_S, seed: int = 0, transcriber=None,
                   progress: ProgressFn | None = None) -> PreparedCorpus:
    """Read the CSV, build the pseudo-calls and run the signal stages under every transform.

    Raises:
        VoicemonError: a bad CSV row or unreadable clip (the message names the row).
    """
    clips = read_clips_csv(csv_path)
    load = cached_clip_loader(csv_path)
    calls = [build_pseudo_call(name, speaker, opening, body, load, gap_s)
             for name, speaker, opening, body in plan_pseudo_calls(clips, folds, seed)]
    missing_opening = sorted({c.speaker for c in calls if not any(s.phase == "opening" for s in c.segments)})
    if missing_opening:
        log.warning("speakers without neutral clips (scored against population priors): %s", ", ".join(missing_opening))
    runs: dict[str, list[SignalRun]] = {}
    total, done = len(calls) * len(transform_names), 0
    for t_name in transform_names:
        runs[t_name] = []
        for i, call in enumerate(calls):
            samples = transforms.apply(t_name, call.samples, seed=transforms.NOISE_SEED + i)
            runs[t_name].append(run_signal({"mixed": samples}, config, params, transcriber))
            done += 1
            if progress:
                progress(done, total, f"{t_name} {call.name}")
    return PreparedCorpus(calls=calls, runs=runs, root=Path(csv_path).resolve().parent)


def score_corpus(prepared: PreparedCorpus, config: Config, params_for: Callable[[str], MeterParams]) -> dict:
    """Per-clip rows and summaries of the meter and the baseline under every transform.

    Args:
        prepared: from :func:`prepare_corpus`.
        config: options.
        params_for: speaker -> meter parameters to score that speaker with (held-out
            parameters in cross-validation, else the same for all).

    Returns:
        transform -> ``{"meter": summary, "baseline": summary, "clips": rows}``.
    """
    out = {}
    for t_name, runs in prepared.runs.items():
        rows = []
        for call, run in zip(prepared.calls, runs):
            params = params_for(call.speaker)
            role = run.roles[0]
            readings = {
                "meter": readings_of(interpret(run, config, params), role),
                "baseline": [r for r in bare_meter(run, baseline_params(params), config.meter.readings_hz) if r.role == role],
            }
            rows.extend(clip_rows(call, readings, run.frames(), prepared.root))
        out[t_name] = {system: summary_by_speaker(rows, system) for system in SYSTEMS}
        out[t_name]["clips"] = rows
    return out


def signal_speed(prepared: PreparedCorpus) -> dict[str, float]:
    """Audio seconds per CPU second of the signal stages, per transform."""
    return {t: round(sum(r.duration_s for r in runs) / max(1e-9, sum(r.signal_cpu_s for r in runs)), 1)
            for t, runs in prepared.runs.items()}


def neutral_heated_share(prepared: PreparedCorpus, config: Config, params: MeterParams, speakers: set[str],
                         transform: str = "clean") -> float:
    """Share of the given speakers' neutral body clips whose meter level reaches heated."""
    hits = total = 0
    for call, run in zip(prepared.calls, prepared.runs[transform]):
        if call.speaker not in speakers:
            continue
        role = run.roles[0]
        rs = readings_of(interpret(run, config, params), role)
        for seg in call.segments:
            if seg.phase != "body" or seg.clip.label != NEUTRAL_LABEL:
                continue
            total += 1
            hits += any(metrics.level_rank(r.level) >= metrics.level_rank("heated")
                        for r in rs if seg.start_s < r.t <= seg.span_end_s + 1e-9)
    return hits / total if total else 0.0


def robustness(scored: dict) -> dict:
    """AUC angry-vs-neutral change of each transform against clean, per system."""
    clean = scored.get("clean")
    if clean is None:
        return {}
    out = {}
    for t_name, r in scored.items():
        if t_name == "clean":
            continue
        out[t_name] = {}
        for system in SYSTEMS:
            a, b = r[system]["auc_angry_vs_neutral"], clean[system]["auc_angry_vs_neutral"]
            out[t_name][system] = None if a is None or b is None else round(a - b, 4)
    return out
