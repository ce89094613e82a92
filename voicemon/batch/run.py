"""The batch driver: decide what is left to do, dispatch it to an engine, write each result once.

The driver is the only process that writes a batch's files. Workers send back reports; the
driver writes a call's event log, JSON and HTML (each atomically: a temporary file renamed into
place, :mod:`voicemon.report.writers`) and only then records the call ``done`` in the manifest.
A re-run therefore never writes a finished call again, and a run killed between the two steps
redoes just that call, replacing its files whole.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from voicemon import __version__
from voicemon.batch import manifest as mf
from voicemon.batch.inputs import BatchItem
from voicemon.batch.work import CallResult

log = logging.getLogger(__name__)

MAX_STEM_CHARS = 200
"""Report names are cut to this many characters, so ``<stem>.events.jsonl.tmp`` fits in 255 bytes."""


@dataclass
class BatchOutcome:
    """What a batch run did.

    Attributes:
        total: calls in the batch.
        analysed: calls analysed by this run (done or failed).
        skipped: calls left as they were (done before with the same audio and configuration).
        failed: calls whose final state is failed (this run's and earlier final failures).
        audio_s: media seconds analysed by this run.
        wall_s: this run's wall time from the first dispatch.
        cpu_s: CPU seconds the workers spent on this run's calls.
        records: the batch's manifest records, in input order.
    """

    total: int = 0
    analysed: int = 0
    skipped: int = 0
    failed: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    records: list[dict] = field(default_factory=list)


def unique_stem(stem: str, used: set[str]) -> str:
    """A report name no other call of the folder has (``a``, ``a-2``…)."""
    stem = stem.encode("utf-8")[:MAX_STEM_CHARS].decode("utf-8", "ignore") or "call"
    candidate, n = stem, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem}-{n}"
    used.add(candidate.lower())
    return candidate


def wanted_files(formats: list[str]) -> set[str]:
    """The kinds of per-call file a run with these formats writes."""
    from voicemon.report import writers

    events = "events" in formats or "events" not in writers.FORMATS
    return {k for k in ("json", "html") if k in formats} | ({"events"} if events else set())


def write_outputs(report: dict, out_dir: Path, stem: str, formats: list[str]) -> dict[str, str]:
    """A call's files, exactly as ``voicemon analyze`` writes them (each written atomically)."""
    from voicemon.report import writers

    events = "events" in formats or "events" not in writers.FORMATS  # the event log is always written where
    return writers.write_call_outputs(report, out_dir, stem, formats, events=events)  # it is not a format


def plan(items: list[BatchItem], manifest: mf.Manifest, cfg_hash: str, max_attempts: int,
         wanted: Iterable[str] = ()) -> list[tuple[BatchItem, str, dict]]:
    """Per call: ``(item, decision, fields)`` with its source identity and report stem.

    A call keeps the stem its manifest record has; a new call gets the first free one.
    """
    used = {str(r["stem"]).lower() for r in manifest.records.values() if r.get("stem")}
    out = []
    for item in items:
        record = manifest.get(item.key)
        stat = mf.FileStat.of(item.key)
        src = mf.known_hash(record, stat)
        if src is None and stat is not None and record is not None:  # a new call is hashed by its worker
            try:
                src = mf.source_hash(item.key)
            except OSError:
                src = None
        decision = mf.decide(record, src, cfg_hash, max_attempts, manifest.out_dir, wanted)
        stem = (record or {}).get("stem") or unique_stem(Path(item.source).stem, used)
        same = record is not None and record.get("source_hash") == src and record.get("config_hash") == cfg_hash
        fields = {"source": item.source, "stem": stem, "source_hash": src, "config_hash": cfg_hash,
                  "size": stat.size if stat else None, "mtime_ns": stat.mtime_ns if stat else None,
                  "metadata": item.metadata,
                  "attempts": int(record.get("attempts", 0)) if same and record.get("status") == mf.FAILED else 0}
        out.append((item, decision, fields))
    return out


def run_batch(items: list[BatchItem], out_dir: Path, config, formats: list[str], engine,
              say: Callable[[str], None] = print, warn: Callable[[str], None] = print) -> BatchOutcome:
    """Analyse a batch into ``out_dir``, resuming what an earlier run of it left.

    Args:
        items: the calls.
        out_dir: where reports, ``summary.csv`` and ``manifest.jsonl`` go.
        config: options (``config.batch.max_attempts``).
        formats: ``json``, ``html``, ``csv``.
        engine: a :class:`~voicemon.batch.engine_local.LocalEngine` or
            :class:`~voicemon.batch.engine_ray.RayEngine`.
        say: prints progress lines.
        warn: prints error lines.

    Returns:
        What the run did.

    Raises:
        BatchError: the manifest is locked by another run or cannot be written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcome = BatchOutcome(total=len(items))
    cfg_hash = mf.config_hash(config.to_dict(), __version__)
    with mf.Manifest.open(out_dir) as manifest:
        if manifest.torn_lines:
            warn(f"note: {manifest.path} had {manifest.torn_lines} torn line(s) from a killed run (ignored)")
        planned = plan(items, manifest, cfg_hash, config.batch.max_attempts, wanted_files(formats))
        todo = {item.key: (item, fields) for item, decision, fields in planned if decision == mf.RUN}
        outcome.skipped = len(planned) - len(todo)
        if outcome.skipped:
            final = sum(1 for _, d, _ in planned if d == mf.SKIP_FAILED)
            say(f"resuming: {outcome.skipped - final} of {len(items)} call(s) already done"
                + (f", {final} failed {config.batch.max_attempts} time(s) (not retried)" if final else "")
                + f"; {len(todo)} to analyse")
        if todo:
            engine.prepare(len(todo))
            say(f"analysing {len(todo)} call(s) on {engine.describe()}")
        started = time.monotonic()

        def dispatched(key: str, where: str) -> None:
            _, fields = todo[key]
            manifest.update(key, **fields, status=mf.RUNNING, worker=where, started_at=round(time.time(), 3))

        done = 0
        for result in engine.results([(key, item.source) for key, (item, _) in todo.items()], dispatched):
            item, fields = todo[result.key]
            done += 1
            record = _record_result(manifest, result, item, fields, out_dir, formats)
            outcome.analysed += 1
            outcome.cpu_s += result.cpu_s
            elapsed = time.monotonic() - started
            if record["status"] == mf.DONE:
                outcome.audio_s += float(record.get("duration_s") or 0.0)
                rate = outcome.audio_s / max(elapsed, 1e-6)
                left = (len(todo) - done) * elapsed / done
                say(f"[{done}/{len(todo)}] {item.source}: {record['duration_s']:.0f} s, {record['summary']}, "
                    f"{result.elapsed_s:.1f} s on {result.worker}; batch {rate:.0f}x real time, ~{left:.0f} s left -> "
                    + (record["reports"].get("html") or record["reports"].get("json") or record["reports"]["events"]))
            else:
                warn(f"error: {record['error']}")
        outcome.wall_s = time.monotonic() - started
        manifest.compact()
        outcome.records = [manifest.get(item.key) for item in items]
    outcome.failed = sum(1 for r in outcome.records if r.get("status") != mf.DONE)
    if "csv" in formats or "html" in formats:
        _write_summary(outcome, out_dir, formats, say, warn)
    return outcome


def _write_summary(outcome: BatchOutcome, out_dir: Path, formats: list[str], say, warn) -> None:
    """``summary.csv`` and the triage page ``index.html`` from the manifest's records (over every
    call analysed into the folder, as :func:`voicemon.report.batch_index.write_batch_outputs` does)."""
    from voicemon.report import batch_index, summary

    rows = [r["row"] if r.get("status") == mf.DONE and r.get("row") else
            summary.error_row(r["source"], r.get("error") or "not analysed") for r in outcome.records]
    try:
        written = batch_index.write_batch_outputs(rows, out_dir, csv="csv" in formats, index="html" in formats)
    except OSError as exc:
        outcome.failed += 1
        warn(f"error: could not write the batch summary in {out_dir}: {exc}")
        return
    for kind in ("summary", "index"):
        if written.get(kind):
            say(f"{kind}: {written[kind]}")


def summary_row(report: dict, item: BatchItem, outputs: dict[str, str]) -> dict:
    """A call's ``summary.csv`` row; a call list's ``agent`` and ``queue`` fill the row's gaps."""
    from voicemon.report import summary

    row = summary.summary_row(report, item.source, outputs)
    for column, keys in (("agent_id", ("agent_id", "agent")), ("agent_name", ("agent_name",)), ("queue", ("queue",)),
                         ("call_id", ("call_id",))):
        value = next((item.metadata[k] for k in keys if item.metadata.get(k)), "")
        if value and not row.get(column):
            row[column] = value
    return row


def _record_result(manifest: mf.Manifest, result: CallResult, item: BatchItem, fields: dict, out_dir: Path,
                   formats: list[str]) -> dict:
    """Write one finished call's files, then record it (done or failed) in the manifest."""
    common = {"elapsed_s": result.elapsed_s, "cpu_s": result.cpu_s, "worker": result.worker,
              "finished_at": round(time.time(), 3), "source_hash": result.source_hash or fields["source_hash"]}
    report = result.report
    if report is not None:
        try:
            paths = write_outputs(report, out_dir, fields["stem"], formats)
        except Exception as exc:  # noqa: BLE001 — a write error is this call's failure, not the batch's
            log.debug("writing the reports of %s failed", item.source, exc_info=True)
            result.error = f"{item.source}: could not write its report: {type(exc).__name__}: {exc}"
        else:
            outputs = {k: v for k, v in paths.items() if k != "events"}
            caller = report["stats"]["per_role"][report["caller_role"]]
            return manifest.update(item.key, **common, status=mf.DONE, error=None, reports=paths,
                                   duration_s=report["duration_s"],
                                   summary=f"peak {caller['peak_level']} ({caller['peak_score']:.0f}), "
                                           f"{report['stats']['prompts_fired']} prompts",
                                   row=summary_row(report, item, outputs))
    return manifest.update(item.key, **common, status=mf.FAILED, error=result.error, reports={},
                           attempts=fields["attempts"] + 1, row=None)
