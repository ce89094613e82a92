"""Command line: parse, load the configuration, make one library call, return an exit code.

Heavy modules (faster-whisper, librosa, numpy stages) are imported inside the commands so that
``voicemon --help`` is instant.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import sys
import time
from pathlib import Path

from voicemon import __version__
from voicemon.errors import VoicemonError

log = logging.getLogger("voicemon")

AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".webm", ".au", ".aiff", ".aif", ".caf"}


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(logging.DEBUG, level), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faster_whisper").setLevel(max(logging.WARNING, level))


def expand_inputs(paths: list[str]) -> list[Path]:
    """Files, directories (their audio files, recursively) and globs, in order, without repeats."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS:
                    add(f)
        elif not p.exists() and any(ch in raw for ch in "*?["):
            matches = sorted(glob.glob(raw, recursive=True))
            for m in matches:
                if Path(m).is_file():
                    add(Path(m))
            if not matches:
                add(p)  # reported as missing
        else:
            add(p)
    return out


class ProgressBar:
    """A one-line progress bar on stderr (silent when stderr is not a terminal unless forced)."""

    def __init__(self, enabled: bool, width: int = 28) -> None:
        self.enabled = enabled
        self.width = width
        self._last = 0.0

    def update(self, prefix: str, fraction: float, phase: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1 and fraction < 1.0:
            return
        self._last = now
        filled = int(round(self.width * max(0.0, min(1.0, fraction))))
        bar = "█" * filled + "░" * (self.width - filled)
        sys.stderr.write(f"\r{prefix} {bar} {fraction * 100:5.1f}% {phase:<13}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _config_from_args(args: argparse.Namespace):
    from voicemon import config as cfg

    overrides = {
        "asr": {"model": getattr(args, "model", None), "beam_size": getattr(args, "beam_size", None)},
        "audio": {"channels": getattr(args, "channels", None)},
        "diarization": {"agent_speaker": getattr(args, "agent_speaker", None)},
    }
    return cfg.load(getattr(args, "config", None), overrides)


MAX_STEM_CHARS = 200
"""Report names are cut to this many characters, so ``<stem>.events.jsonl.tmp`` fits in 255 bytes."""


def _writable_out_dir(out_dir: Path) -> Path:
    """``--out``: created if missing; a file or an unwritable folder is a clear error (exit 2)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise VoicemonError(f"--out {str(out_dir)!r} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VoicemonError(f"--out {str(out_dir)!r} cannot be created: {exc.strerror or exc}") from None
    return out_dir


def _unique_stem(stem: str, used: set[str]) -> str:
    """A report name no earlier file of the batch has (``a``, ``a-2``… never an existing name)."""
    stem = stem.encode("utf-8")[:MAX_STEM_CHARS].decode("utf-8", "ignore") or "call"
    candidate, n = stem, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem}-{n}"
    used.add(candidate.lower())
    return candidate


def cmd_analyze(args: argparse.Namespace) -> int:
    """``voicemon analyze``: reports for recorded calls."""
    from voicemon.asr.transcriber import parallel_transcriber
    from voicemon.offline import analyze_file, report_stem
    from voicemon.report import writers

    config = _config_from_args(args)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in writers.FORMATS]
    if bad:
        raise VoicemonError(f"unknown --format {','.join(bad)} (choose from {','.join(writers.FORMATS)})")
    files = expand_inputs(args.paths)
    if not files:
        raise VoicemonError("no input files")
    out_dir = _writable_out_dir(Path(args.out))
    transcriber, workers = parallel_transcriber(config.asr, args.workers)
    bar = ProgressBar(enabled=not args.quiet and (sys.stderr.isatty() or args.progress))
    rows = []
    failures = 0
    stems: set[str] = set()
    for i, path in enumerate(files, start=1):
        prefix = f"[{i}/{len(files)}] {path.name[:32]}"
        started = time.monotonic()
        try:
            report = analyze_file(path, config, transcriber, asr_workers=workers,
                                  progress=lambda f, phase: bar.update(prefix, f, phase))
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
        outputs: dict[str, str] = {}
        try:
            writers.write_events(report["events"], out_dir / f"{stem}.events.jsonl")
            if "json" in formats:
                outputs["json"] = str(writers.write_json(report, out_dir / f"{stem}.json"))
            if "html" in formats:
                outputs["html"] = str(writers.write_html(report, out_dir / f"{stem}.html"))
        except Exception as exc:  # a write error is this file's failure, not the batch's
            failures += 1
            log.debug("writing the reports of %s failed", path, exc_info=True)
            print(f"error: {path}: could not write its report: {type(exc).__name__}: {exc}", file=sys.stderr)
            rows.append(writers.csv_row(None, str(path), error=f"writing the report: {type(exc).__name__}: {exc}"))
            continue
        rows.append(writers.csv_row(report, str(path), outputs=outputs))
        caller = report["stats"]["per_role"][report["caller_role"]]
        elapsed = time.monotonic() - started
        print(
            f"{path}: {report['duration_s']:.0f} s, peak {caller['peak_level']} ({caller['peak_score']:.0f}), "
            f"{report['stats']['prompts_fired']} prompts, {elapsed:.1f} s "
            f"({report['duration_s'] / max(elapsed, 1e-6):.0f}x real time) -> "
            + (outputs.get("html") or outputs.get("json") or str(out_dir / f"{stem}.events.jsonl"))
        )
    if "csv" in formats:
        try:
            csv_path = writers.write_csv(rows, out_dir / "summary.csv")
            print(f"summary: {csv_path}")
        except OSError as exc:
            failures += 1
            print(f"error: could not write {out_dir / 'summary.csv'}: {exc}", file=sys.stderr)
    if failures:
        print(f"{failures} of {len(files)} file(s) failed", file=sys.stderr)
        return 1
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    """``voicemon replay`` / ``voicemon listen`` (see :mod:`voicemon.live.commands`)."""
    return args.live_command(args, _config_from_args(args))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="voicemon", description="Voice-call de-escalation monitor: transcripts, prosody, an escalation meter and coaching prompts.")
    parser.add_argument("--version", action="version", version=f"voicemon {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="TOML configuration file (see docs/configuration.md)")
    common.add_argument("--model", metavar="PATH|NAME", help="Whisper model directory or faster-whisper name (default: bundled tiny.en)")
    common.add_argument("--beam-size", type=int, metavar="N", help="Whisper beam size (default 1)")
    common.add_argument("--channels", metavar="ROLES", help="roles of a stereo file's channels, left first (default agent,customer)")

    p = sub.add_parser("analyze", parents=[common], help="analyse recorded calls into JSON/HTML reports and a CSV summary")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files, directories or globs")
    p.add_argument("--out", default="voicemon-reports", metavar="DIR", help="output directory (default ./voicemon-reports)")
    p.add_argument("--format", default="json,html,csv", help="comma-separated: json,html,csv (default all)")
    p.add_argument("--workers", type=int, default=0, metavar="N", help="utterances transcribed at once (default: one per core)")
    p.add_argument("--agent-speaker", choices=("auto", "first", "second"),
                   help="on a mono call split into two speakers: which one is the agent (default auto: from the words)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_analyze)

    from voicemon.live.commands import add_live_parsers

    add_live_parsers(sub, common)
    from voicemon.server.command import add_serve_parser

    add_serve_parser(sub, common)
    from voicemon.eval.command import add_eval_parser

    add_eval_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``voicemon`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "live_command", None):
        args.func = cmd_live
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "voicemon" / "numba"))
    try:
        return args.func(args)
    except VoicemonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
