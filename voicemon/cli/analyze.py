"""``voicemon analyze``: reports for recorded calls."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from voicemon.batch.inputs import expand_inputs
from voicemon.batch.run import unique_stem as _unique_stem
from voicemon.cli.batch import add_engine_args
from voicemon.cli.common import DEFAULT_REPORT_DIR, add_workers_arg
from voicemon.cli.progress import ProgressBar
from voicemon.errors import VoicemonError

if TYPE_CHECKING:
    from voicemon.config import Config

log = logging.getLogger("voicemon")

EXAMPLES = """examples:
  voicemon analyze calls/ --out qa/                 # every audio file under calls/, then open qa/index.html
  voicemon analyze calls/*.wav --channels customer,agent
  voicemon analyze calls/ --format csv              # only qa's summary.csv (no reports, no event logs)
  voicemon analyze call.wav --agent-speaker second  # a mono call: the second voice is the agent
"""

SUMMARY_LIMIT = 15
"""The end-of-batch summary lists at most this many calls (worst first)."""


def add_analyze_parser(sub, common: argparse.ArgumentParser) -> None:
    """Register ``analyze`` on the CLI's subparsers."""
    p = sub.add_parser("analyze", parents=[common], help="analyse recorded calls into JSON/HTML reports and a CSV summary",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files, directories or globs")
    p.add_argument("--out", default=DEFAULT_REPORT_DIR, metavar="DIR",
                   help=f"output directory (default ./{DEFAULT_REPORT_DIR}); summary.csv and index.html cover every run into it")
    p.add_argument("--format", default="json,html,csv,events",
                   help="comma-separated: json,html,csv,events (default all; html also writes the batch's index.html, "
                        "events the per-call event log)")
    p.add_argument("--channels", metavar="ROLES",
                   help="roles of a two-channel file's channels, left first (default agent,customer)")
    add_workers_arg(p)
    p.add_argument("--agent-speaker", choices=("auto", "first", "second"),
                   help="on a mono call split into two speakers: which one is the agent (default auto: from the words)")
    p.add_argument("--redact-audio", action="store_true",
                   help="also write DIR/<name>.redacted.wav: the call audio with every redacted span muted "
                        "(docs/redaction.md)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_engine_args(p)
    p.set_defaults(func=cmd_analyze)


def _writable_out_dir(out_dir: Path) -> Path:
    """``--out``: created if missing; a file or an unwritable folder is a clear error (exit 2)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise VoicemonError(f"--out {str(out_dir)!r} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VoicemonError(f"--out {str(out_dir)!r} cannot be created: {exc.strerror or exc}") from None
    return out_dir


def cmd_analyze(args: argparse.Namespace, config: Config) -> int:
    """``voicemon analyze``: reports for recorded calls."""
    from voicemon.asr.transcriber import parallel_transcriber
    from voicemon.offline import analyze_file, report_stem
    from voicemon.report import writers

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in writers.FORMATS]
    if bad:
        raise VoicemonError(f"unknown --format {','.join(bad)} (choose from {','.join(writers.FORMATS)})")
    redact_audio = bool(getattr(args, "redact_audio", False))
    if redact_audio and not config.redact.enabled:
        raise VoicemonError("--redact-audio needs redaction on ([redact] enabled = true)")
    if redact_audio and getattr(args, "engine", None):
        raise VoicemonError("--redact-audio is not available with --engine yet")
    if args.engine:  # resumable, on this machine or a Ray cluster (voicemon.batch)
        from voicemon.cli.batch import cmd_batch

        return cmd_batch(args, config, formats)
    files = expand_inputs(args.paths)
    if not files:
        raise VoicemonError("no input files")
    out_dir = _writable_out_dir(Path(args.out))
    transcriber, workers = parallel_transcriber(config.asr, model_origin=config.origins.get("asr.model"))
    bar = ProgressBar(enabled=not args.quiet and (sys.stderr.isatty() or args.progress))
    rows = []
    failures = 0
    stems: set[str] = set()
    for i, path in enumerate(files, start=1):
        prefix = f"[{i}/{len(files)}] {path.name[:32]}"
        started = time.monotonic()
        try:
            report = analyze_file(path, config, transcriber, asr_workers=workers,
                                  progress=lambda f, phase, prefix=prefix: bar.update(prefix, f, phase))
        except VoicemonError as exc:
            bar.done()
            failures += 1
            print(f"error: {path}: {exc}".replace(f"{path}: {path}:", f"{path}:"), file=sys.stderr)
            rows.append(writers.csv_row(None, str(path), error=str(exc)))
            continue
        except Exception as exc:  # keep the batch going; say what broke
            bar.done()
            failures += 1
            log.debug("analysis of %s failed", path, exc_info=True)
            print(f"error: {path}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
            rows.append(writers.csv_row(None, str(path), error=f"{type(exc).__name__}: {exc}"))
            continue
        bar.done()
        stem = _unique_stem(report_stem(path), stems)
        try:
            if redact_audio:
                from voicemon.redact.audio import write_redacted_audio

                report["redaction"]["audio"] = write_redacted_audio(
                    path, report["events"], out_dir / f"{stem}.redacted.wav", config.redact.audio_pad_ms)
            written = writers.write_call_outputs(report, out_dir, stem, formats, events="events" in formats)
        except Exception as exc:  # a write error is this file's failure, not the batch's
            failures += 1
            log.debug("writing the reports of %s failed", path, exc_info=True)
            print(f"error: {path}: could not write its report: {type(exc).__name__}: {exc}", file=sys.stderr)
            rows.append(writers.csv_row(None, str(path), error=f"writing the report: {type(exc).__name__}: {exc}"))
            continue
        outputs = {kind: p for kind, p in written.items() if kind != "events"}
        rows.append({**writers.csv_row(report, str(path), outputs=outputs), "transcript": report["transcript"]})
        caller = report["stats"]["per_role"][report["caller_role"]]
        elapsed = time.monotonic() - started
        print(
            f"{path}: {report['duration_s']:.0f} s, peak {caller['peak_level']} ({caller['peak_score']:.0f}), "
            f"{report['stats']['prompts_fired']} prompts, {elapsed:.1f} s "
            f"({report['duration_s'] / max(elapsed, 1e-6):.0f}x real time) -> "
            + (outputs.get("html") or outputs.get("json") or written.get("events") or "summary only")
        )
    failures += _finish_batch(rows, out_dir, formats)
    if failures:
        print(f"{failures} of {len(files)} file(s) failed", file=sys.stderr)
        return 1
    return 0


def _finish_batch(rows: list[dict], out_dir: Path, formats: list[str]) -> int:
    """Write summary.csv / index.html over the folder and print this run's calls worst first.

    Returns:
        1 if a batch file could not be written, else 0.
    """
    from voicemon.report.batch_index import write_batch_outputs
    from voicemon.report.summary import worst_first_lines

    if not rows or not ({"csv", "html"} & set(formats)):
        return 0
    print()
    for line in worst_first_lines(rows, limit=SUMMARY_LIMIT):
        print(line)
    try:
        result = write_batch_outputs(rows, out_dir, csv="csv" in formats, index="html" in formats)
    except OSError as exc:
        print(f"error: could not write the batch summary in {out_dir}: {exc}", file=sys.stderr)
        return 1
    if result["index"]:
        print(f"index: {result['index']}")
    if result["summary"]:
        print(f"summary: {result['summary']}")
    return 0
