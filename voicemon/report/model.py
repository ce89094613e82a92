"""The call report: built from a call's event log (the source of truth), written as JSON, HTML
and a CSV row. The format is documented in docs/report.md.

The log comes in typed (a live call's :class:`~voicemon.events.Envelope` objects, or the events
``analyze`` folds out of a file); the statistics and prompt outcomes are computed on the events'
dataclasses, with the values the log holds (as rounded on the wire), and the report document is
plain JSON: each event in it is its ``to_dict`` form.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Iterable

from voicemon import __version__
from voicemon.escalation.meter import MeterParams
from voicemon.events import (
    LEVELS,
    CoachingPrompt,
    Cue,
    Envelope,
    EscalationReading,
    Event,
    PromptAcknowledged,
    ProsodyFrame,
    SpeechEnded,
    StageError,
    TranscriptUpdate,
    caller_role,
    from_dict,
    level_rank,
    to_dict,
)
from voicemon.redact.stage import redaction_counts

REPORT_VERSION = 1
OUTCOME_AFTER_S = 30.0
OUTCOME_FALL_POINTS = 5.0
OUTCOME_STAY_BELOW = "heated"
LAG_NOTE_S = 2.0
"""A live report whose ASR lag (p90) is above this says how to get a QA-grade report."""


def _segments(events: list[Event]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        if isinstance(e, SpeechEnded):
            out.setdefault(e.role, []).append((e.start, e.t))
    return out


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _longest_silence(segments: dict[str, list[tuple[float, float]]]) -> float:
    spans = sorted(s for segs in segments.values() for s in segs)
    longest, end = 0.0, None
    for lo, hi in spans:
        if end is not None and lo > end:
            longest = max(longest, lo - end)
        end = hi if end is None else max(end, hi)
    return longest


def _score_at(readings: list[EscalationReading], t: float) -> float | None:
    best = None
    for r in readings:
        if r.t <= t + 1e-6:
            best = r.score
        else:
            break
    return best


def compute_stats(events: list[Event], roles: list[str], period_s: float) -> dict[str, Any]:
    """Summary statistics of a call from its event log."""
    readings = [e for e in events if isinstance(e, EscalationReading)]
    segments = _segments(events)
    per_role: dict[str, Any] = {}
    for role in roles:
        mine = [r for r in readings if r.role == role]
        peak = max(mine, key=lambda r: r.score, default=None)
        time_in = {lvl: 0.0 for lvl in LEVELS}
        for r in mine:
            time_in[r.level] += period_s
        rates = [e.rate_syl_s for e in events if isinstance(e, ProsodyFrame) and e.role == role and e.rate_syl_s and e.z]
        per_role[role] = {
            "peak_score": peak.score if peak else 0.0,
            "peak_t": peak.t if peak else 0.0,
            "peak_level": max((r.level for r in mine), key=level_rank, default="calm"),
            "time_in_level_s": {k: round(v, 2) for k, v in time_in.items()},
            "talk_time_s": round(sum(hi - lo for lo, hi in segments.get(role, [])), 2),
            "mean_rate_syl_s": round(sum(rates) / len(rates), 2) if rates else None,
        }
    stats: dict[str, Any] = {"per_role": per_role}
    if set(roles) == {"agent", "customer"}:
        a = per_role["agent"]["talk_time_s"]
        c = per_role["customer"]["talk_time_s"]
        stats["talk_ratio_agent"] = round(a / (a + c), 3) if a + c > 0 else None
        overlaps = _overlap(segments.get("agent", []), segments.get("customer", []))
        stats["overtalk_count"] = sum(1 for cue in events if isinstance(cue, Cue) and cue.kind == "overtalk")
        stats["overtalk_s"] = round(sum(hi - lo for lo, hi in overlaps), 2)
    else:
        stats["talk_ratio_agent"] = None
        stats["overtalk_count"] = None
        stats["overtalk_s"] = None
    stats["longest_silence_s"] = round(_longest_silence(segments), 2)
    stats["prompts_fired"] = sum(1 for e in events if isinstance(e, CoachingPrompt))
    return stats


def _reading_times(readings: list[EscalationReading], role: str) -> list[EscalationReading]:
    return [r for r in readings if r.role == role]


def prompt_outcome(prompt: CoachingPrompt, mine: list[EscalationReading], party: str, goal: str,
                   duration_s: float) -> dict | None:
    """What the judged party's meter did in the :data:`OUTCOME_AFTER_S` after a prompt.

    Only readings after the prompt count: the reference is the party's score at the prompt (the
    last reading at or before ``t``), so a fall that happened before it — the fall that fired a
    cooldown prompt — earns it nothing.

    Args:
        prompt: the prompt event.
        mine: the judged party's readings, in time order.
        party: ``"caller"`` or ``"agent"`` (for the wording).
        goal: ``"fall"`` (the meter should fall by :data:`OUTCOME_FALL_POINTS`) or ``"stay"``
            (a cooldown prompt: the meter should not climb back to the level it fell from,
            ``heated``, within the window).
        duration_s: the call's length.

    Returns:
        The outcome (docs/report.md, "Prompts"), or ``None`` without readings around the prompt.
    """
    t = prompt.t
    at = _score_at(mine, t)
    after_t = min(t + OUTCOME_AFTER_S, duration_s)
    after = _score_at(mine, after_t)
    if at is None or after is None or after_t <= t:
        return None
    window = [r for r in mine if t + 1e-6 < r.t <= after_t + 1e-6]
    peak = max((r.score for r in window), default=at)
    change = round(after - at, 2)
    fell = after <= at - OUTCOME_FALL_POINTS
    whose = "the agent's" if party == "agent" else "the caller's"
    span = f"{after_t - t:.0f} s"
    if goal == "stay":
        back = next((r for r in window if level_rank(r.level) >= level_rank(OUTCOME_STAY_BELOW)), None)
        success = back is None
        criterion = f"{whose} meter stays below {OUTCOME_STAY_BELOW} for {span} after the prompt"
        summary = (f"stayed below {OUTCOME_STAY_BELOW} for {span} (peak {peak:.0f})" if back is None else
                   f"back to {back.level} {back.t - t:.0f} s after the prompt (score {back.score:.0f})")
    else:
        success = fell
        criterion = f"{whose} meter falls at least {OUTCOME_FALL_POINTS:g} points within {span} of the prompt"
        if fell:
            summary = f"fell {at - after:.1f} points in {span} ({at:.1f} → {after:.1f})"
        elif change < 0:
            summary = (f"fell only {-change:.1f} points in {span} ({at:.1f} → {after:.1f}; "
                       f"{OUTCOME_FALL_POINTS:g} needed)")
        elif change > 0:
            summary = f"rose {change:.1f} points in {span} ({at:.1f} → {after:.1f})"
        else:
            summary = f"unchanged in {span} ({at:.1f})"
    return {"score_at": at, "score_after": after, "after_s": round(after_t - t, 2), "fell": fell,
            "role": party, "goal": goal, "change": change, "peak_after": peak, "success": success,
            "criterion": criterion, "summary": f"{whose.split()[1].capitalize()} meter {summary}"}


def _outcome_plan(meta: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """``kind -> (party, goal)`` for the prompts of the call's playbook (default: caller, fall)."""
    from voicemon.escalation.coach import outcome_plan

    path = ((meta.get("config") or {}).get("coach") or {}).get("playbook")
    try:
        return outcome_plan(path)
    except Exception:  # a playbook since moved or broken: judge every prompt on the caller
        try:
            return outcome_plan(None)
        except Exception:
            return {}


def _prompt_outcomes(prompts: list[tuple[CoachingPrompt, dict]], readings: list[EscalationReading], roles: list[str],
                     caller: str, duration_s: float, plan: dict[str, tuple[str, str]]) -> list[dict]:
    """Each prompt's record (its ``to_dict`` form) with its ``outcome``."""
    out = []
    for p, record in prompts:
        party, goal = plan.get(p.kind, ("caller", "fall"))
        role = "agent" if party == "agent" and "agent" in roles else caller
        party = "agent" if role == "agent" else "caller"
        out.append({**record, "outcome": prompt_outcome(p, _reading_times(readings, role), party, goal, duration_s)})
    return out


def asr_lag(events: Iterable[Event]) -> dict[str, Any]:
    """How long after the end of speech each final transcript arrived, in media time.

    ``t - end`` of every final, non-empty ``transcript`` event: in ``analyze`` (and a lockstep
    replay) this is only the segmenter's end-of-utterance wait; on a live call it adds the time
    Whisper took, so word cues and prompts that depend on them came this much later.

    Returns:
        ``{"count", "median", "p90", "max"}`` in seconds (``None`` values without transcripts).
    """
    lags = sorted(max(0.0, e.t - e.end) for e in events
                  if isinstance(e, TranscriptUpdate) and e.final and e.text and e.end is not None)
    if not lags:
        return {"count": 0, "median": None, "p90": None, "max": None}

    def q(p: float) -> float:
        return round(lags[min(len(lags) - 1, int(round(p * (len(lags) - 1))))], 2)

    return {"count": len(lags), "median": q(0.5), "p90": q(0.9), "max": round(lags[-1], 2)}


def log_records(log: Iterable[Envelope | Event]) -> tuple[list[Event], list[dict[str, Any]]]:
    """A call's log as events with the values the log holds, and as the records the report lists.

    Args:
        log: a live call's envelopes (their events are already as the wire rounds them), or the
            events of an ``analyze`` fold (rounded here the same way).

    Returns:
        ``(events, records)``: for each item, its event and its ``to_dict`` form (an envelope's
        with ``v``, ``call_id``, ``seq`` and ``wall``).
    """
    events: list[Event] = []
    records: list[dict[str, Any]] = []
    for item in log:
        if isinstance(item, Envelope):
            events.append(item.event)
            records.append(item.to_dict())
        else:
            record = to_dict(item)
            events.append(from_dict(record))
            records.append(record)
    return events, records


def build_report(log: Iterable[Envelope | Event], meta: dict[str, Any], params: MeterParams) -> dict[str, Any]:
    """Render a call report from its event log.

    Args:
        log: the call's envelopes (a live call) or events (``analyze``), in log order.
        meta: ``source``, ``duration_s``, ``roles``, ``audio``, ``model``, ``config``.
        params: the meter parameters used (for the level thresholds).

    Returns:
        The report dict (docs/report.md); the event log itself is under ``"events"``, as records.
    """
    events, records = log_records(log)
    roles = meta["roles"]
    caller = caller_role(roles)
    readings = [e for e in events if isinstance(e, EscalationReading)]
    period_s = 1.0 / meta["config"]["meter"]["readings_hz"]
    transcript = [
        {"role": e.role, "start": e.start, "end": e.end, "text": e.text, "utterance_id": e.utterance_id}
        for e in events if isinstance(e, TranscriptUpdate) and e.final and e.text
    ]
    transcript.sort(key=lambda s: (s["start"], s["role"]))
    prompts = _prompt_outcomes([(e, r) for e, r in zip(events, records) if isinstance(e, CoachingPrompt)], readings,
                               roles, caller, meta["duration_s"], _outcome_plan(meta))
    stats = compute_stats(events, roles, period_s)
    stats["prompts_followed_by_fall"] = sum(1 for p in prompts if p["outcome"] and p["outcome"]["goal"] == "fall"
                                            and p["outcome"]["fell"])
    stats["prompts_effective"] = sum(1 for p in prompts if p["outcome"] and p["outcome"]["success"])
    stats["asr_lag_s"] = asr_lag(events)
    return {
        "report_version": REPORT_VERSION,
        "voicemon_version": __version__,
        "generated_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **meta,
        "caller_role": caller,
        "levels": dict(params.thresholds),
        "transcript": transcript,
        "cues": [r for e, r in zip(events, records) if isinstance(e, Cue)],
        "prompts": prompts,
        "acknowledgements": [r for e, r in zip(events, records) if isinstance(e, PromptAcknowledged)],
        "readings": [{k: r[k] for k in ("t", "role", "score", "level", "contributions", "parts", "notes")}
                     for e, r in zip(events, records) if isinstance(e, EscalationReading)],
        "stats": stats,
        "redaction": {"enabled": bool(meta["config"].get("redact", {}).get("enabled", False)),
                      "counts": redaction_counts(records)},
        "errors": [r for e, r in zip(events, records) if isinstance(e, StageError)],
        "events": records,
    }
