"""Labelled-call evaluation: the meter's alarm time line against escalation intervals.

Each call of a labelled-calls CSV (:func:`voicemon.eval.corpus.read_calls_csv`) runs through the
real pipeline under each channel condition: every channel is passed through the transform, the
signal stages and (unless disabled) Whisper run, and the interpreting stages fold the result
with the meter's parameters. The *baseline* detector (loudness relative to the speaker's own
opening, nothing else; :func:`voicemon.eval.pipeline.baseline_params`) runs on the same signal.

Figures per system and transform: detection latency of each labelled escalation (first time at
heated or above inside it, up to ``grace_s`` after its end), time-weighted precision and recall
of the alarm time, false-alarm episodes per hour (alarm episodes touching no escalation, per
hour of audio), and seconds at heated or above on calls with no escalation.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from voicemon.config import Config
from voicemon.escalation.meter import PREVIOUS_METER, MeterParams, load_meter_params
from voicemon.eval import metrics, transforms
from voicemon.eval.corpus import LabelledCall, read_calls_csv
from voicemon.events import caller_role
from voicemon.eval.pipeline import bare_meter, baseline_params, interpret, readings_of, run_signal

log = logging.getLogger(__name__)

GRACE_S = 10.0
"""After an escalation ends the meter may still be releasing: alarms this long after it count as hits."""
SYSTEMS = ("meter", "meter_v2", "baseline")
"""The meter under test, the previous bundled meter (models/meter_v2.toml) and loudness only."""
HEATED = metrics.level_rank("heated")

ProgressFn = Callable[[int, int, str], None]


def judged_role(call: LabelledCall, roles: tuple[str, ...]) -> str:
    """Whose meter a call is judged on: the CSV's role, else the caller (``mixed`` on a mono call
    that diarization split into two speakers means its customer)."""
    if call.role == "mixed" and "customer" in roles:
        return "customer"
    if call.role is not None:
        if call.role not in roles:
            from voicemon.errors import VoicemonError

            raise VoicemonError(f"{call.path}: role {call.role!r} is not in this call (it has {', '.join(roles)})")
        return call.role
    return caller_role(roles)


def call_figures(intervals, times_s, levels, period_s: float, duration_s: float, grace_s: float = GRACE_S) -> dict:
    """Figures of one call's readings against its labelled intervals."""
    alarms = metrics.alarm_intervals(times_s, levels, period_s)
    precision, recall = metrics.time_precision_recall(intervals, alarms, grace_s)
    latencies = metrics.detection_latencies(intervals, alarms, grace_s)
    return {
        "alarm_s": round(metrics.total_length(alarms), 2),
        "alarms": [[round(a, 2), round(b, 2)] for a, b in alarms],
        "latencies_s": [None if x is None else round(x, 2) for x in latencies],
        "precision": None if precision is None else round(precision, 4),
        "recall": None if recall is None else round(recall, 4),
        "false_alarm_episodes": metrics.false_alarm_episodes(intervals, alarms, grace_s),
        "duration_s": round(duration_s, 2),
    }


def totals(rows: list[dict], grace_s: float = GRACE_S) -> dict:
    """Pooled figures over calls (time-weighted; latencies of every labelled escalation)."""
    label_s = sum(metrics.total_length(r["intervals"]) for r in rows)
    alarm_s = sum(r["alarm_s"] for r in rows)
    hit_s = sum(metrics.overlap_length([tuple(a) for a in r["alarms"]], r["intervals"]) for r in rows)
    in_grace_s = sum(metrics.overlap_length([tuple(a) for a in r["alarms"]], [(s, e + grace_s) for s, e in r["intervals"]])
                     for r in rows)
    latencies = [x for r in rows for x in r["latencies_s"]]
    found = [x for x in latencies if x is not None]
    hours_s = sum(r["duration_s"] for r in rows)
    civil = [r for r in rows if not r["intervals"]]
    out = {
        "calls": len(rows),
        "escalations": len(latencies),
        "detected": len(found),
        "median_latency_s": round(sorted(found)[len(found) // 2], 2) if found else None,
        "max_latency_s": round(max(found), 2) if found else None,
        "precision": round(in_grace_s / alarm_s, 4) if alarm_s > 0 else None,
        "recall": round(hit_s / label_s, 4) if label_s > 0 else None,
        "false_alarm_episodes_per_hour": _r(metrics.per_hour(sum(r["false_alarm_episodes"] for r in rows), hours_s)),
        "civil_calls": len(civil),
        "civil_heated_s": round(sum(r["alarm_s"] for r in civil), 2),
    }
    if all("heated_s_by_party" in r for r in rows):
        out["civil_heated_s_any_party"] = round(sum(s for r in civil for s in r["heated_s_by_party"].values()), 2)
    return out


def _r(x):
    return None if x is None else round(x, 3)


def evaluate_calls(csv_path: str | Path, config: Config, params: MeterParams, *, transform_names=("clean",),
                   transcriber=None, asr_workers: int = 1, progress: ProgressFn | None = None) -> dict:
    """Run every labelled call under every transform and score the meter and the baseline.

    Args:
        csv_path: labelled-calls CSV.
        config: options (``audio.channels`` maps stereo channels to roles).
        params: the meter's parameters.
        transform_names: channel conditions (see :mod:`voicemon.eval.transforms`).
        transcriber: Whisper transcriber, or None for prosody and conversation cues only.
        asr_workers: utterances transcribed at once.
        progress: ``f(done, total, what)``.

    Returns:
        ``{transform: {"meter": totals, "meter_v2": totals, "baseline": totals, "calls": [per-call rows]}}``.

    Raises:
        VoicemonError: a bad CSV or an unreadable call (named).
    """
    from voicemon.audio.decode import load_call_audio
    from voicemon.errors import VoicemonError

    calls = read_calls_csv(csv_path)
    previous = load_meter_params(bundled=PREVIOUS_METER)
    root = Path(csv_path).resolve().parent
    period_s = 1.0 / config.meter.readings_hz
    out: dict = {}
    total, done = len(calls) * len(transform_names), 0
    for t_name in transform_names:
        rows = []
        for i, call in enumerate(calls):
            try:
                audio = load_call_audio(call.path, config.audio.channels, config.diarization.dual_mono_correlation)
            except VoicemonError as exc:
                raise VoicemonError(f"{csv_path}:{call.line}: {exc}") from exc
            signals = {role: transforms.apply(t_name, x, seed=transforms.NOISE_SEED + i) for role, x in audio.signals.items()}
            run = run_signal(signals, config, params, transcriber, asr_workers, diarize=True)
            role = judged_role(call, run.roles)
            events = interpret(run, config, params)
            events_v2 = interpret(run, config, previous)
            readings = {
                "meter": readings_of(events, role),
                "meter_v2": readings_of(events_v2, role),
                "baseline": [r for r in bare_meter(run, baseline_params(params), config.meter.readings_hz) if r.role == role],
            }
            resolved = call.path.resolve()
            path = resolved.relative_to(root) if resolved.is_relative_to(root) else os.path.normpath(call.path)
            row = {"path": str(path), "role": role, "intervals": [list(iv) for iv in call.intervals],
                   "diarized": run.diarized}
            for system, rs in readings.items():
                row[system] = call_figures(call.intervals, [r.t for r in rs], [r.level for r in rs], period_s, run.duration_s)
                row[system]["peak_score"] = round(max((r.score for r in rs), default=0.0), 2)
            for system, evs in (("meter", events), ("meter_v2", events_v2)):
                row[system]["heated_s_by_party"] = {
                    r: round(sum(period_s for x in readings_of(evs, r) if metrics.level_rank(x.level) >= HEATED), 2)
                    for r in run.roles}
            rows.append(row)
            done += 1
            if progress:
                progress(done, total, f"{t_name} {call.path.name}")
        out[t_name] = {system: totals([{**r[system], "intervals": [tuple(iv) for iv in r["intervals"]]} for r in rows])
                       for system in SYSTEMS}
        out[t_name]["calls"] = rows
    return out


def civil_runs(csv_path: str | Path, config: Config, params: MeterParams) -> list:
    """Signal runs (clean audio, no ASR) of the calls in a labelled-calls CSV that have no
    escalation: the calibration's "every party stays below heated" constraint."""
    from voicemon.audio.decode import load_call_audio

    return [run_signal(load_call_audio(call.path, config.audio.channels, config.diarization.dual_mono_correlation).signals, config, params, diarize=True)
            for call in read_calls_csv(csv_path) if not call.intervals]
