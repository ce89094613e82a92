"""What several commands share: the common flags, ``--workers``, configuration from the flags."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicemon.config import Config


DEFAULT_REPORT_DIR = "voicemon-reports"
"""Where every command writes reports unless told otherwise (``analyze --out``, ``replay`` /
``listen --report``, ``serve --out`` and ``[server] out_dir``)."""


def common_parser() -> argparse.ArgumentParser:
    """The flags every command takes (a parent parser). ``--channels`` is not one of them: its
    meaning differs per command (a file's channels, a sound device's), so each command that
    takes it says what it means; ``serve`` takes roles from each call's ``start`` message."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="TOML configuration file (see docs/configuration.md)")
    common.add_argument("--model", metavar="PATH|NAME", help="Whisper model directory or faster-whisper name; 'base' = the Whisper base model of the "
                        "voicemon[base-model] extra, for QA batches (default: bundled tiny.en)")
    common.add_argument("--beam-size", type=int, metavar="N", help="Whisper beam size (default 1)")
    return common


def add_workers_arg(p: argparse.ArgumentParser, what: str = "utterances transcribed at once") -> None:
    """``--workers N``: Whisper workers (the one definition every command that transcribes uses)."""
    p.add_argument("--workers", type=int, metavar="N", help=f"{what} (asr.workers; default: one per core)")


def config_from_args(args: argparse.Namespace) -> Config:
    """The effective configuration: defaults < ``--config`` file < environment < flags.

    Every flag that sets an option goes through here (and so through the validation of
    :func:`voicemon.config.load`): the shared ones below, and a command's own from the
    ``config_flags(args) -> {section: {option: value}}`` it registers with ``set_defaults``.
    An unset flag (``None``) overrides nothing.
    """
    from voicemon import config as cfg

    overrides: dict[str, dict] = {
        "asr": {"model": getattr(args, "model", None), "beam_size": getattr(args, "beam_size", None),
                "workers": getattr(args, "workers", None)},
        "audio": {"channels": getattr(args, "channels", None)},
        "diarization": {"agent_speaker": getattr(args, "agent_speaker", None)},
    }
    own = getattr(args, "config_flags", None)
    for section, values in (own(args) if own else {}).items():
        overrides.setdefault(section, {}).update(values)
    return cfg.load(getattr(args, "config", None), overrides)
