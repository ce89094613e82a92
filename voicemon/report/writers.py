"""Write call reports: JSON per call, the event log as JSONL, HTML per call, summary.csv over a batch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from voicemon.report.summary import SUMMARY_COLUMNS, error_row, summary_row, write_summary

FORMATS = ("json", "html", "csv", "events")
"""What ``analyze --format`` can write: per call the JSON and HTML reports and the event log
(``events``), for the batch ``summary.csv`` (``csv``; ``html`` also writes the batch's ``index.html``)."""

CSV_COLUMNS = SUMMARY_COLUMNS


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


def write_html(report: dict[str, Any], path: Path, audio: bool = True) -> Path:
    """Write the self-contained HTML report.

    Args:
        report: the call report.
        path: the page to write.
        audio: link the call's recording (its ``source``, when that is a local file) by a path
            relative to the page, for the player (:func:`voicemon.report.html_audio.audio_link`).
    """
    from voicemon.report.html import render_html
    from voicemon.report.html_audio import audio_link

    src = audio_link(report.get("source"), path.parent) if audio else None
    _atomic_write(path, render_html(report, audio_src=src))
    return path


def csv_row(report: dict[str, Any] | None, file: str, error: str | None = None,
            outputs: dict[str, str] | None = None) -> dict[str, Any]:
    """One ``summary.csv`` row for a call, or for a file that failed (``report`` is ``None``);
    see :func:`voicemon.report.summary.summary_row`."""
    if report is None:
        return error_row(file, error or "")
    return summary_row(report, file, outputs)


def write_csv(rows: list[dict[str, Any]], path: Path, merge: bool = False) -> Path:
    """Write ``summary.csv`` (``merge``: keep earlier runs' rows, see
    :func:`voicemon.report.summary.write_summary`)."""
    write_summary(rows, path, merge=merge)
    return path
