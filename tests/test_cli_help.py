"""The command line as a user meets it (issue 14 L2): --help examples, --channels only where it
means something, one default report folder, and serve's logging levels. Pure: no model loads."""

from __future__ import annotations

import logging

import pytest

from voicemon.cli import build_parser, setup_logging
from voicemon.cli.common import DEFAULT_REPORT_DIR
from voicemon.config import ServerOptions


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[command].format_help()


@pytest.mark.parametrize("command", ["analyze", "replay", "listen", "serve"])
def test_every_command_help_ends_with_examples(command):
    text = _help(command)
    examples = text.split("examples:", 1)[1]
    assert f"voicemon {command}" in examples and examples.count("\n  voicemon ") >= 3


def test_channels_says_what_it_means_per_command():
    assert "two-channel file's channels" in _help("analyze") and "two-channel file's channels" in _help("replay")
    listen = " ".join(_help("listen").split())
    assert "device's two input channels" in listen and "stereo file" not in listen
    assert "--channels" not in _help("serve")  # a served call's roles come from its start message
    args = build_parser().parse_args(["listen", "--input-channels", "2", "--channels", "customer,agent"])
    assert args.channels == "customer,agent"


def test_one_default_report_folder():
    parser = build_parser()
    assert parser.parse_args(["analyze", "x.wav"]).out == DEFAULT_REPORT_DIR
    for argv in (["replay", "x.wav"], ["listen"]):  # unset --report: the configuration's folder, else the default
        assert parser.parse_args(argv).report in (None, DEFAULT_REPORT_DIR)
        assert f"default ./{DEFAULT_REPORT_DIR}" in " ".join(_help(argv[0]).split())
    assert ServerOptions().out_dir == DEFAULT_REPORT_DIR
    assert parser.parse_args(["replay", "x.wav", "--lockstep"]).lockstep


@pytest.fixture
def restore_levels():
    names = ["", "voicemon", "voicemon.server", "websockets", "faster_whisper"]
    saved = {n: logging.getLogger(n).level for n in names}
    yield
    for n, level in saved.items():
        logging.getLogger(n).setLevel(level)


def test_serve_logs_each_call_by_default_and_v_does_not_flood(restore_levels):
    def level(name: str) -> int:
        return logging.getLogger(name).getEffectiveLevel()

    setup_logging(0, "serve")
    assert level("voicemon.server.app") == logging.INFO and level("voicemon.live") == logging.WARNING
    setup_logging(1, "serve")
    assert level("voicemon.live") == logging.INFO
    assert level("websockets.server") == logging.WARNING and level("faster_whisper") == logging.WARNING
    setup_logging(2, "serve")
    assert level("voicemon.live") == logging.DEBUG and level("websockets.server") == logging.INFO
    setup_logging(0, "analyze")
    assert level("voicemon.server.app") == logging.WARNING
