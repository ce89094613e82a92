"""Command line: parse, load the configuration, make one library call, return an exit code.

One module per command (:mod:`~voicemon.cli.analyze`, :mod:`~voicemon.cli.live` for ``replay``
and ``listen``, :mod:`~voicemon.cli.serve`, :mod:`~voicemon.cli.evaluate`); every handler takes
``(args, config)``. Library packages never import this package (``tests/test_import_graph.py``).

Heavy modules (faster-whisper, librosa, numpy stages) are imported inside the commands so that
``voicemon --help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from voicemon import __version__
from voicemon.cli.common import common_parser, config_from_args
from voicemon.errors import VoicemonError


LIBRARY_LOGGERS = ("websockets", "asyncio", "numba", "urllib3", "filelock", "redis", "ray")
"""Libraries whose INFO lines (a websocket handshake per connection…) would drown voicemon's own:
they log one ``-v`` step quieter than voicemon."""


def setup_logging(verbose: int, command: str | None = None) -> None:
    """Configure logging (the only place that does).

    ``voicemon serve`` logs one INFO line per call (start and end, from ``voicemon.server``)
    without ``-v``. ``-v`` is voicemon's INFO, ``-vv`` voicemon's DEBUG and the libraries' INFO,
    ``-vvv`` everything; faster-whisper's per-utterance lines never show below ``WARNING``.
    """
    level = max(logging.DEBUG, logging.WARNING - 10 * verbose)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    logging.getLogger("voicemon").setLevel(level)
    libraries = max(logging.DEBUG, logging.WARNING - 10 * max(0, verbose - 1))
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(libraries)
    logging.getLogger("faster_whisper").setLevel(logging.WARNING if verbose < 3 else logging.DEBUG)
    logging.getLogger("voicemon.server").setLevel(min(level, logging.INFO) if command == "serve" else logging.NOTSET)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from voicemon.cli.analyze import add_analyze_parser
    from voicemon.cli.evaluate import add_eval_parser
    from voicemon.cli.live import add_live_parsers
    from voicemon.cli.serve import add_serve_parser

    parser = argparse.ArgumentParser(prog="voicemon", description="Voice-call de-escalation monitor: transcripts, prosody, an escalation meter and coaching prompts.")
    parser.add_argument("--version", action="version", version=f"voicemon {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output: -v voicemon's INFO, -vv its DEBUG and the libraries' INFO, -vvv everything")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_parser()
    add_analyze_parser(sub, common)
    add_live_parsers(sub, common)
    add_serve_parser(sub, common)
    add_eval_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``voicemon`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.command)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "voicemon" / "numba"))
    try:
        return args.func(args, config_from_args(args))
    except VoicemonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
