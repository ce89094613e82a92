"""One summary row per analysed call, the batch's ``summary.csv``, and what needs a QA reviewer.

A *summary row* is a flat dict with the keys of :data:`SUMMARY_COLUMNS` (docs/report.md,
"summary.csv"). :func:`summary_row` makes one from a call report, :func:`error_row` one for a
file that could not be analysed. Rows read back from a CSV hold strings; every function here
accepts both forms, so a batch can be re-ranked (or its index page rebuilt) from the CSV alone.

``summary.csv`` accumulates over runs into the same folder: :func:`merge_rows` replaces the rows of
the calls a run analysed again and keeps the others (see :func:`write_summary`).
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping

from voicemon.events import LEVEL_RANK, LEVELS, caller_role  # noqa: F401 (LEVELS: batch_index imports it from here)

SUMMARY_COLUMNS: tuple[str, ...] = (
    "file", "status", "error", "needs_review", "review_reasons",
    "call_id", "agent_id", "agent_name", "queue",
    "duration_s", "roles",
    "caller_peak_score", "caller_peak_level", "caller_peak_t", "caller_heated_or_above_s",
    "agent_peak_score", "agent_peak_level", "agent_heated_or_above_s", "agent_above_caller",
    "talk_ratio_agent", "overtalk_count", "overtalk_s", "longest_silence_s",
    "prompts_fired", "prompts_followed_by_fall", "prompt_kinds", "prompt_counts",
    "cues_escalating", "cues_deescalating", "cue_counts",
    "error_count", "warning_count", "asr_lag_p90_s", "words",
    "report_json", "report_html",
)
"""Columns of ``summary.csv``, in order."""

REVIEW_CALLER_LEVEL = "heated"
"""A call needs review when the caller's meter reached this level or higher ..."""
REVIEW_AGENT_LEVEL = "tense"
"""... or the agent's own meter reached this level or higher (the agent escalated)."""

META_KEYS = ("call_id", "agent_id", "agent_name", "queue")


def _num(value: Any) -> float | None:
    """A float from a number or a CSV string; ``None`` when empty or not a number."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def level_rank(level: Any) -> int:
    """0 (calm) … 3 (critical); -1 for an empty or unknown level."""
    return LEVEL_RANK.get(level, -1) if isinstance(level, str) else -1


def _heated_s(role_stats: Mapping[str, Any]) -> float:
    t = role_stats.get("time_in_level_s") or {}
    return round(float(t.get("heated", 0) or 0) + float(t.get("critical", 0) or 0), 2)


def _counts(items: Iterable[str]) -> str:
    """``"anger:3 repetition:2"``: most frequent first, then by name."""
    c = Counter(items)
    return " ".join(f"{k}:{n}" for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def call_metadata(report: Mapping[str, Any]) -> dict[str, str]:
    """``call_id``, ``agent_id``, ``agent_name``, ``queue`` of a call, where the report has them.

    Looked up on the report itself, then under its ``call`` / ``meta`` objects, then on the
    ``call_started`` event of its log (top level or its ``meta`` object).
    """
    sources: list[Mapping[str, Any]] = [report]
    for key in ("call", "meta", "metadata"):
        if isinstance(report.get(key), Mapping):
            sources.append(report[key])
    for e in report.get("events") or ():
        if isinstance(e, Mapping) and e.get("type") == "call_started":
            sources.append(e)
            for key in ("meta", "metadata", "call"):
                if isinstance(e.get(key), Mapping):
                    sources.append(e[key])
            break
    out: dict[str, str] = {}
    for key in META_KEYS:
        for src in sources:
            value = src.get(key)
            if value not in (None, "") and not isinstance(value, (dict, list)):
                out[key] = str(value)
                break
    return out


def review(row: Mapping[str, Any]) -> list[str]:
    """Why a call needs a reviewer's attention (empty: it does not). Works on any summary row.

    Reasons, in this order: the analysis failed; the caller reached ``heated`` or higher; the
    agent's own meter reached ``tense`` or higher (and whether it peaked above the caller's);
    processing errors in the report.
    """
    if row.get("status") == "error":
        return [f"analysis failed: {row.get('error') or 'unknown error'}"]
    reasons = []
    caller_level = row.get("caller_peak_level")
    if level_rank(caller_level) >= level_rank(REVIEW_CALLER_LEVEL):
        reasons.append(f"caller reached {caller_level}")
    agent_level = row.get("agent_peak_level")
    if level_rank(agent_level) >= level_rank(REVIEW_AGENT_LEVEL):
        a, c = _num(row.get("agent_peak_score")), _num(row.get("caller_peak_score"))
        above = f", above the caller ({a:.0f} vs {c:.0f})" if agent_above_caller(row) and a is not None and c is not None else ""
        reasons.append(f"agent escalated: reached {agent_level}{above}")
    errors = _num(row.get("error_count")) or 0
    if errors:
        reasons.append(f"{errors:.0f} processing error(s)")
    return reasons


def agent_above_caller(row: Mapping[str, Any]) -> bool:
    """The agent's meter peaked higher than the caller's (two-party calls only)."""
    a, c = _num(row.get("agent_peak_score")), _num(row.get("caller_peak_score"))
    return a is not None and c is not None and a > c


def agent_escalated(row: Mapping[str, Any]) -> bool:
    """The agent's own meter reached :data:`REVIEW_AGENT_LEVEL` or higher."""
    return level_rank(row.get("agent_peak_level")) >= level_rank(REVIEW_AGENT_LEVEL)


def asr_lag_p90(report: Mapping[str, Any]) -> float | str:
    lag = (report.get("stats") or {}).get("asr_lag_s") or {}
    value = _num(lag.get("p90"))
    return "" if value is None else value


def summary_row(report: Mapping[str, Any], file: str, outputs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The summary row of an analysed call.

    Args:
        report: the call report (docs/report.md), with or without its ``events``.
        file: the input as given on the command line (or any name for the call).
        outputs: paths written for the call, by kind (``json``, ``html``).

    Returns:
        A dict with every key of :data:`SUMMARY_COLUMNS` (``""`` where not applicable).
    """
    row: dict[str, Any] = {c: "" for c in SUMMARY_COLUMNS}
    stats = report.get("stats") or {}
    per = stats.get("per_role") or {}
    caller = report.get("caller_role") or caller_role(report.get("roles"))
    c = per.get(caller, {})
    a = per.get("agent", {}) if caller != "agent" else {}
    cues = [x for x in report.get("cues") or () if isinstance(x, Mapping)]
    prompts = [x for x in report.get("prompts") or () if isinstance(x, Mapping)]

    def opt(value: Any) -> Any:
        return "" if value is None else value

    row.update(call_metadata(report))
    row.update({
        "file": file,
        "status": "ok",
        "duration_s": report.get("duration_s", ""),
        "roles": "+".join(report.get("roles") or ()),
        "caller_peak_score": c.get("peak_score", ""),
        "caller_peak_level": c.get("peak_level", ""),
        "caller_peak_t": c.get("peak_t", ""),
        "caller_heated_or_above_s": _heated_s(c) if c else "",
        "agent_peak_score": a.get("peak_score", ""),
        "agent_peak_level": a.get("peak_level", ""),
        "agent_heated_or_above_s": _heated_s(a) if a else "",
        "talk_ratio_agent": opt(stats.get("talk_ratio_agent")),
        "overtalk_count": opt(stats.get("overtalk_count")),
        "overtalk_s": opt(stats.get("overtalk_s")),
        "longest_silence_s": opt(stats.get("longest_silence_s")),
        "prompts_fired": stats.get("prompts_fired", len(prompts)),
        "prompts_followed_by_fall": stats.get("prompts_followed_by_fall", 0),
        "prompt_kinds": " ".join(str(p.get("kind", "")) for p in prompts),
        "prompt_counts": _counts(str(p.get("kind", "")) for p in prompts),
        "cues_escalating": sum(1 for x in cues if (_num(x.get("weight")) or 0) > 0),
        "cues_deescalating": sum(1 for x in cues if (_num(x.get("weight")) or 0) < 0),
        "cue_counts": _counts(str(x.get("kind", "")) for x in cues),
        "error_count": len(report.get("errors") or ()),
        "warning_count": len(report.get("warnings") or ()),
        "asr_lag_p90_s": asr_lag_p90(report),
        "words": sum(len(str(s.get("text", "")).split()) for s in report.get("transcript") or ()),
    })
    if a:
        row["agent_above_caller"] = "yes" if agent_above_caller(row) else "no"
    for key, value in (outputs or {}).items():
        if f"report_{key}" in row:
            row[f"report_{key}"] = value
    reasons = review(row)
    row["needs_review"] = "yes" if reasons else "no"
    row["review_reasons"] = "; ".join(reasons)
    return row


def error_row(file: str, error: str) -> dict[str, Any]:
    """The summary row of a file that could not be analysed (``status = error``)."""
    row: dict[str, Any] = {c: "" for c in SUMMARY_COLUMNS}
    row.update({"file": file, "status": "error", "error": error})
    row["needs_review"] = "yes"
    row["review_reasons"] = "; ".join(review(row))
    return row


def rank_key(row: Mapping[str, Any]) -> tuple:
    """Sort key, worst call first: analysed calls by caller peak score, then time at heated or
    above, then the agent's peak; failed files last (they have no meter)."""
    failed = row.get("status") == "error"
    return (failed, -(_num(row.get("caller_peak_score")) or 0.0), -(_num(row.get("caller_heated_or_above_s")) or 0.0),
            -(_num(row.get("agent_peak_score")) or 0.0), str(row.get("file", "")))


def rank_rows(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows worst first (see :func:`rank_key`)."""
    return sorted(rows, key=rank_key)


def _row_key(row: Mapping[str, Any]) -> str:
    return os.path.normcase(os.path.abspath(str(row.get("file", ""))))


def merge_rows(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of an earlier ``summary.csv`` updated with a new run's rows.

    A new row replaces an old one of the same input file (compared as absolute paths) or one
    whose report files the new run has overwritten; the other old rows are kept, in their
    order, before the new run's rows. Old rows gain the columns they lack (empty).
    """
    new = [dict(r) for r in new]
    keys = {_row_key(r) for r in new}
    written = {str(r.get(k)) for r in new for k in ("report_json", "report_html") if r.get(k)}
    kept = []
    for r in old:
        if _row_key(r) in keys or any(r.get(k) and str(r.get(k)) in written for k in ("report_json", "report_html")):
            continue
        kept.append({c: r.get(c, "") for c in SUMMARY_COLUMNS} | {k: v for k, v in r.items() if k not in SUMMARY_COLUMNS and k})
    return kept + new


def read_summary(path: Path) -> list[dict[str, str]]:
    """Rows of a ``summary.csv`` (empty when the file does not exist or cannot be parsed)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return [dict(r) for r in csv.DictReader(fh) if r.get("file")]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def write_summary(rows: Iterable[Mapping[str, Any]], path: Path, merge: bool = True) -> list[dict[str, Any]]:
    """Write ``summary.csv`` (whole or not at all).

    Args:
        rows: this run's rows.
        path: the CSV file.
        merge: keep the rows of earlier runs already in ``path`` (see :func:`merge_rows`);
            ``False`` writes this run's rows only.

    Returns:
        The rows written (earlier runs' rows first).
    """
    rows = merge_rows(read_summary(path), rows) if merge else [dict(r) for r in rows]
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return rows


def worst_first_lines(rows: Iterable[Mapping[str, Any]], limit: int = 15) -> list[str]:
    """The terminal's end-of-batch summary: a totals line, then one line per call, worst first
    (``!``: the agent's own meter escalated; ``▲``: it peaked above the caller's).

    Example::

        3 calls, 2 need review (1 critical, 0 heated, 1 agent escalated, 1 failed)
          1. critical  99  heated  48 s  agent calm    5 prompts  calls/a.wav
          2. tense     41  heated   0 s  agent tense! ▲  1 prompt   calls/b.wav   agent escalated: reached tense, above the caller (52 vs 41)
          3. failed                                                   calls/c.wav   analysis failed: empty file
    """
    ranked = rank_rows(rows)
    ok = [r for r in ranked if r.get("status") != "error"]
    by_level = Counter(r.get("caller_peak_level") for r in ok)
    review_n = sum(1 for r in ranked if review(r))
    head = (f"{len(ranked)} call{'s' if len(ranked) != 1 else ''}, {review_n} need{'s' if review_n == 1 else ''} review "
            f"({by_level.get('critical', 0)} critical, {by_level.get('heated', 0)} heated, "
            f"{sum(1 for r in ok if agent_escalated(r))} agent escalated, {len(ranked) - len(ok)} failed)")
    lines = [head]
    width = len(str(min(limit, len(ranked))))
    for i, r in enumerate(ranked[:limit], start=1):
        reasons = "; ".join(review(r))
        if r.get("status") == "error":
            lines.append(f"  {i:>{width}}. {'failed':<56} {r.get('file', '')}   {reasons}")
            continue
        score = _num(r.get("caller_peak_score")) or 0.0
        heated = _num(r.get("caller_heated_or_above_s")) or 0.0
        prompts = int(_num(r.get("prompts_fired")) or 0)
        agent_level = r.get("agent_peak_level") or ""
        agent = (f"agent {agent_level}{'!' if agent_escalated(r) else ''}{' ▲' if agent_above_caller(r) else ''}"
                 if agent_level else "one voice")
        lines.append(f"  {i:>{width}}. {str(r.get('caller_peak_level', '')):<9} {score:3.0f}  heated {heated:4.0f} s  "
                     f"{agent:<15} {prompts:2d} prompt{'s' if prompts != 1 else ' '}  {r.get('file', '')}"
                     + (f"   {reasons}" if reasons else ""))
    if len(ranked) > limit:
        lines.append(f"  … and {len(ranked) - limit} more (see the batch index)")
    return lines
