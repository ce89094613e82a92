"""Restart after a crash: calls whose event logs were left unfinished get their reports.

A served call's ``<stem>.events.jsonl`` ends with ``call_ended`` once the call is finished. A
log without it belongs to a call the server was running when it died (SIGKILL, power loss,
OOM): at the next start its report is built from the log — everything up to the last flush,
at most ``log_flush_s`` before the crash — marked ``interrupted``, and ``call_ended`` is
appended so the call is recovered once.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from voicemon.config import Config
from voicemon.errors import EventFormatError
from voicemon.events import CallEnded, CallStarted, Envelope
from voicemon.server.eventlog import EVENTS_SUFFIX, read_log

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"


def recover_unfinished(out_dir: Path, config: Config, model_name: str) -> list[str]:
    """Write a report for every unfinished call log in ``out_dir``.

    Args:
        out_dir: the server's output folder.
        config: options (the meter parameters; recorded in the report).
        model_name: the speech model's name (recorded in the report).

    Returns:
        The stems of the calls recovered.
    """
    recovered = []
    for path in sorted(Path(out_dir).glob(f"*{EVENTS_SUFFIX}")):
        stem = path.name[:-len(EVENTS_SUFFIX)]
        try:
            if recover_one(path, stem, config, model_name):
                recovered.append(stem)
        except Exception as exc:  # noqa: BLE001 — one broken log must not stop the server
            log.error("could not recover the call log %r: %s: %s", path.name, type(exc).__name__, exc)
    if recovered:
        log.warning("recovered %d call(s) left unfinished by a crash: %s", len(recovered), ", ".join(recovered))
    return recovered


def recover_one(path: Path, stem: str, config: Config, model_name: str) -> bool:
    """Recover one log if it is unfinished; returns whether it was."""
    from voicemon.escalation.meter import load_meter_params
    from voicemon.report.writers import write_call_outputs
    from voicemon.report.model import build_report

    if _ends_with_call_ended(path):  # the common case, decided from the file's last bytes
        return False
    events, unreadable = read_log(path)
    if not events or isinstance(events[-1].event, CallEnded):
        return False
    started = next((e.event for e in events if isinstance(e.event, CallStarted)), None)
    call_id = events[0].call_id
    roles = list(started.roles if started is not None and started.roles else ["mixed"])
    duration_s = round(max((float(e.event.t) for e in events), default=0.0), 3)
    summary = {"duration_s": duration_s, "peak_level": "calm", "peak_score": 0.0, "prompts_fired": 0,
               "reason": INTERRUPTED, "report": None}
    json_path = path.with_name(f"{stem}.json")
    if json_path.exists():  # the crash came after the report was written
        summary["report"] = str(path.with_name(f"{stem}.html"))
    else:
        meta = {"source": started.source if started is not None else call_id, "call_id": call_id, "duration_s": duration_s,
                "roles": roles, "audio": {}, "model": {"name": model_name}, "config": config.to_dict(),
                "interrupted": True,
                "warnings": ["the server stopped without finishing this call: this report was written from its "
                             f"event log at the next start ({len(events)} events, {unreadable} unreadable line(s))"]}
        report = build_report(events, meta, load_meter_params(config.meter.params))
        caller = report["stats"]["per_role"].get(report["caller_role"], {})
        summary.update(peak_level=caller.get("peak_level", "calm"), peak_score=caller.get("peak_score", 0.0),
                       prompts_fired=report["stats"]["prompts_fired"])
        summary["report"] = write_call_outputs(report, path.parent, stem, events=False)["html"]
    ended = Envelope.of(CallEnded(t=duration_s, summary=summary), call_id, events[-1].seq + 1, time.time())
    _append_line(path, ended.json())
    log.info("call %s (%s) recovered from its log: %d events", call_id, stem, len(events))
    return True


TAIL_BYTES = 65536


def _ends_with_call_ended(path: Path) -> bool:
    """Whether the log's last line is a ``call_ended`` envelope (reads only the file's end)."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - TAIL_BYTES))
        lines = fh.read().rstrip(b"\n").rsplit(b"\n", 1)
    try:
        return isinstance(Envelope.from_json(lines[-1]).event, CallEnded)
    except EventFormatError:
        return False


def _append_line(path: Path, line: str) -> None:
    """Append one JSON line, first cutting a torn last line left by the crash."""
    with open(path, "r+b") as fh:
        data_end = fh.seek(0, 2)
        if data_end:
            fh.seek(max(0, data_end - 1))
            if fh.read(1) != b"\n":
                fh.seek(0)
                whole = fh.read().rfind(b"\n") + 1
                fh.truncate(whole)
                fh.seek(whole)
        fh.write(line.encode("utf-8") + b"\n")
