"""Shared test fixtures: paths, the real Whisper transcriber, and analysed fixture calls."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "audio_fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))


@pytest.fixture(scope="session")
def labels() -> dict:
    """The fixture labels (escalation intervals, expected prompts, turns)."""
    return json.loads((FIXTURES / "labels.json").read_text())


@pytest.fixture(scope="session")
def config():
    """Default configuration (ignores the developer's VOICEMON_* environment)."""
    from voicemon import config as cfg

    return cfg.load(environ={})


@pytest.fixture(scope="session")
def transcriber(config):
    """The real faster-whisper model (bundled tiny.en), loaded once for the session."""
    from voicemon.asr.transcriber import WhisperTranscriber

    t = WhisperTranscriber(config.asr, num_workers=2)
    t.load()
    return t


@pytest.fixture(scope="session")
def analysed(config, transcriber):
    """Analyse a file once per session: ``analysed(path) -> report``."""
    from voicemon.offline import analyze_file

    cache: dict[str, dict] = {}

    def run(path: Path) -> dict:
        key = str(path)
        if key not in cache:
            cache[key] = analyze_file(path, config, transcriber, asr_workers=2)
        return cache[key]

    return run
