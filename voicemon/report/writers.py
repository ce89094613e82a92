"""Write call reports: JSON per call, the event log as JSONL, HTML per call, a CSV over a batch."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterable

FORMATS = ("json", "html", "csv")

CSV_COLUMNS = (
    "file", "status", "error", "duration_s", "roles", "caller_peak_score", "caller_peak_level",
    "caller_peak_t", "caller_heated_or_above_s", "agent_peak_score", "agent_peak_level",
    "talk_ratio_agent", "overtalk_count", "overtalk_s", "longest_silence_s", "prompts_fired",
    "prompts_followed_by_fall", "prompt_kinds", "words", "report_json", "report_html",
)


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (no ``.tmp`` is left behind on failure)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except (OSError, ValueError):
        pass


def write_json(report: dict[str, Any], path: Path) -> Path:
    """Write the report without its event log (that goes to :func:`write_events`)."""
    body = {k: v for k, v in report.items() if k != "events"}
    _atomic_write(path, json.dumps(body, indent=1, ensure_ascii=False) + "\n")
    return path


def write_events(events: Iterable[dict[str, Any]], path: Path) -> Path:
    """Write an event log as JSON Lines (one event per line)."""
    _atomic_write(path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    return path


def read_events(path: Path) -> list[dict[str, Any]]:
    """Read an event log written by :func:`write_events`."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_call_outputs(report: dict[str, Any], out_dir: Path, stem: str, formats: Iterable[str] = ("json", "html"),
                       events: bool = True) -> dict[str, str]:
    """Write a finished call's files: ``<stem>.events.jsonl``, ``<stem>.json``, ``<stem>.html``.

    The one writer of a call's outputs, used by ``analyze``, ``replay``/``listen``, the server
    and crash recovery.

    Args:
        report: the call report (with ``events``).
        out_dir: where to write (created if missing).
        stem: the files' name stem.
        formats: which reports to write besides the event log: ``json``, ``html``.
        events: also write the event log (the server has written it as the call ran).

    Returns:
        The paths written, by kind (``events``, ``json``, ``html``).

    Raises:
        OSError: a file could not be written (no partial file is left behind).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    formats = set(formats)
    paths: dict[str, str] = {}
    if events:
        paths["events"] = str(write_events(report["events"], out_dir / f"{stem}.events.jsonl"))
    if "json" in formats:
        paths["json"] = str(write_json(report, out_dir / f"{stem}.json"))
    if "html" in formats:
        paths["html"] = str(write_html(report, out_dir / f"{stem}.html"))
    return paths


def write_html(report: dict[str, Any], path: Path) -> Path:
    """Write the self-contained HTML report."""
    from voicemon.report.html import render_html

    _atomic_write(path, render_html(report))
    return path


def csv_row(report: dict[str, Any] | None, file: str, error: str | None = None,
            outputs: dict[str, str] | None = None) -> dict[str, Any]:
    """One CSV summary row for a call (or for a file that failed)."""
    row: dict[str, Any] = {c: "" for c in CSV_COLUMNS}
    row["file"] = file
    if report is None:
        row["status"] = "error"
        row["error"] = error or ""
        return row
    stats = report["stats"]
    caller = report["caller_role"]
    c = stats["per_role"].get(caller, {})
    a = stats["per_role"].get("agent", {})
    row.update({
        "status": "ok",
        "duration_s": report["duration_s"],
        "roles": "+".join(report["roles"]),
        "caller_peak_score": c.get("peak_score", ""),
        "caller_peak_level": c.get("peak_level", ""),
        "caller_peak_t": c.get("peak_t", ""),
        "caller_heated_or_above_s": round(c.get("time_in_level_s", {}).get("heated", 0) + c.get("time_in_level_s", {}).get("critical", 0), 2),
        "agent_peak_score": a.get("peak_score", ""),
        "agent_peak_level": a.get("peak_level", ""),
        "talk_ratio_agent": stats.get("talk_ratio_agent") if stats.get("talk_ratio_agent") is not None else "",
        "overtalk_count": stats.get("overtalk_count") if stats.get("overtalk_count") is not None else "",
        "overtalk_s": stats.get("overtalk_s") if stats.get("overtalk_s") is not None else "",
        "longest_silence_s": stats.get("longest_silence_s", ""),
        "prompts_fired": stats.get("prompts_fired", 0),
        "prompts_followed_by_fall": stats.get("prompts_followed_by_fall", 0),
        "prompt_kinds": " ".join(p["kind"] for p in report["prompts"]),
        "words": sum(len(s["text"].split()) for s in report["transcript"]),
    })
    for key, value in (outputs or {}).items():
        row[f"report_{key}"] = value
    return row


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write the batch summary CSV."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path
