"""Finished calls on disk: the history behind ``/api/calls?ended=1``, ``/api/calls/<id>/report``
and ``/reports/<file>``.

The hub forgets an ended call after ``keep_ended_s``; its files in ``--out`` stay. Each served
call's ``<stem>.events.jsonl`` opens with ``call_started`` (its metadata) and ends with
``call_ended`` (its summary), so a call is listed by reading two lines of its log, never the
whole file. Every name that comes from a URL is checked to be one flat file name inside the
output folder (no path, no link out of it).
"""

from __future__ import annotations

import os
from pathlib import Path

from voicemon.errors import EventFormatError
from voicemon.events import CallEnded, CallStarted, Envelope
from voicemon.server.eventlog import EVENTS_SUFFIX
from voicemon.server.protocol import is_valid_call_id

REPORT_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json",
                ".jsonl": "application/x-ndjson", ".csv": "text/csv; charset=utf-8"}
"""The kinds of file ``/reports/`` serves, with their content types."""
TAIL_BYTES = 65536
"""How much of a log's end is read to find its ``call_ended`` line."""
MAX_LISTED = 500


def report_file(out_dir: Path, name: str) -> Path | None:
    """The file ``name`` directly inside ``out_dir``, if it is one ``/reports/`` serves.

    Args:
        out_dir: the server's output folder.
        name: the (URL-decoded) name asked for.

    Returns:
        Its path, or ``None`` for a name with a path in it, a hidden name, another kind of file,
        a file that does not exist, or a link that leads out of the folder.
    """
    if (not name or len(name) > 255 or "/" in name or "\\" in name or "\0" in name or name.startswith(".")
            or Path(name).suffix not in REPORT_TYPES):
        return None
    folder = Path(out_dir).resolve()
    path = folder / name
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return real if real.parent == folder and real.is_file() else None


def _stems(out_dir: Path, call_id: str) -> list[str]:
    """The stems the calls of this id were written under, oldest first (``id``, ``id~2``...)."""
    found = []
    for path in Path(out_dir).glob(f"{call_id}*{EVENTS_SUFFIX}"):
        stem = path.name[:-len(EVENTS_SUFFIX)]
        if stem == call_id:
            found.append((1, stem))
        elif stem.startswith(call_id + "~") and stem[len(call_id) + 1:].isdigit():
            found.append((int(stem[len(call_id) + 1:]), stem))
    return [stem for _, stem in sorted(found)]


def latest_report(out_dir: Path, call_id: str) -> Path | None:
    """The JSON report of the latest finished call with this id, or ``None``."""
    if not is_valid_call_id(call_id):
        return None
    for stem in reversed(_stems(out_dir, call_id)):
        path = Path(out_dir) / f"{stem}.json"
        if path.is_file():
            return path
    return None


def _first_and_last(path: Path) -> tuple[Envelope | None, Envelope | None]:
    """The first and last envelopes of a log (``None`` where a line is missing or not one)."""
    with open(path, "rb") as f:
        first_line = f.readline(TAIL_BYTES)
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - TAIL_BYTES))
        tail = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]

    def load(line: bytes) -> Envelope | None:
        try:
            return Envelope.from_json(line)
        except EventFormatError:
            return None

    return load(first_line), load(tail)


def ended_calls(out_dir: Path, limit: int = 100, agent_id: str | None = None, skip: frozenset[str] = frozenset()
                ) -> list[dict]:
    """Finished calls whose logs are in ``out_dir``, the most recently ended first.

    Args:
        out_dir: the server's output folder.
        limit: most calls listed (at most ``MAX_LISTED``).
        agent_id: only this agent's calls.
        skip: stems not to list (the ended calls the hub still holds).

    Returns:
        Entries shaped like ``/api/calls``'s (``ended`` true, with the call's metadata, its
        caller's peak from ``call_ended`` and the URLs of its report).
    """
    logs = []
    for path in Path(out_dir).glob(f"*{EVENTS_SUFFIX}"):
        try:
            logs.append((path.stat().st_mtime, path))
        except OSError:
            continue
    logs.sort(reverse=True)
    out: list[dict] = []
    for _, path in logs:
        if len(out) >= min(limit, MAX_LISTED):
            break
        stem = path.name[:-len(EVENTS_SUFFIX)]
        if stem in skip:
            continue
        try:
            first, last = _first_and_last(path)
        except OSError:
            continue
        if first is None or last is None:
            continue
        started, ended = first.event, last.event
        if not isinstance(started, CallStarted) or not isinstance(ended, CallEnded):
            continue
        if agent_id is not None and started.agent_id != agent_id:
            continue
        summary = ended.summary or {}
        html, js = Path(out_dir) / f"{stem}.html", Path(out_dir) / f"{stem}.json"
        out.append({
            "call_id": first.call_id, "stem": stem, "roles": list(started.roles),
            "started_wall": first.wall, "ended": True, "ended_wall": last.wall,
            "media_s": summary.get("duration_s", ended.t),
            **{k: getattr(started, k) for k in ("agent_id", "agent_name", "queue", "customer_ref")},
            "meta": started.meta or {},
            "summary": {k: summary.get(k) for k in ("duration_s", "peak_level", "peak_score", "prompts_fired", "reason")},
            "reason": summary.get("reason"),
            "report_url": f"/reports/{html.name}" if html.is_file() else None,
            "report_json_url": f"/reports/{js.name}" if js.is_file() else None,
        })
    return out
