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


# --- per-test wall and CPU time (opt-in) -------------------------------------------------------
# VOICEMON_TEST_TIMES=path.jsonl appends one JSON line per test: wall_s and cpu_s (user+system of
# this process, its threads and its waited-for children, via resource.getrusage) for setup + call
# + teardown. A test whose cpu_s is close to wall_s (or above it: worker threads) is CPU-bound
# (real Whisper inference); one with cpu_s far below wall_s waits (real-time streaming, sleeps,
# subprocess start-up, timeouts). Session fixtures are charged to the first test that uses them.
_TIMES_PATH = os.environ.get("VOICEMON_TEST_TIMES")


def _cpu_s() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


if _TIMES_PATH:

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        import time

        wall0, cpu0 = time.perf_counter(), _cpu_s()
        yield
        row = {
            "test": item.nodeid,
            "wall_s": round(time.perf_counter() - wall0, 3),
            "cpu_s": round(_cpu_s() - cpu0, 3),
            "load1": round(os.getloadavg()[0], 2),
        }
        with open(_TIMES_PATH, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
