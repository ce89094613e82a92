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


def _memo_transcriber_class():
    """A :class:`WhisperTranscriber` that remembers the words of audio it has already heard.

    The transcriber is stateless and deterministic (the same samples always give the same words;
    ``analyze`` == lockstep replay depends on it), so the session's tests need to run the real
    model only once per distinct utterance: the offline analysis of a fixture, its lockstep replay,
    the server's lockstep stream of it, a dual-mono copy and an ``--agent-speaker`` re-analysis cut
    the same utterances. Audio never heard before (interim text, a live call's own batching, any
    other file) still goes to the real model. The key is the exact bytes of the samples; the
    words are frozen dataclasses, so no caller can change what a later hit returns.
    ``VOICEMON_TEST_ASR_MEMO=0`` turns the memo off (every utterance transcribed, as before).
    """
    import hashlib
    import threading

    import numpy as np

    from voicemon.asr.transcriber import WhisperTranscriber

    class MemoWhisperTranscriber(WhisperTranscriber):
        def __init__(self, *args, memo: bool = True, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.memo: dict[bytes, list] | None = {} if memo else None
            self.memo_hits = 0
            self._memo_lock = threading.Lock()

        def transcribe(self, samples):
            if self.memo is None:
                return super().transcribe(samples)
            x = np.ascontiguousarray(samples, dtype=np.float32)
            key = hashlib.blake2b(x.tobytes(), digest_size=20).digest() + str(x.shape).encode()
            with self._memo_lock:
                words = self.memo.get(key)
                if words is not None:
                    self.memo_hits += 1
                    return list(words)
            words = super().transcribe(samples)
            with self._memo_lock:
                self.memo[key] = list(words)
            return words

    return MemoWhisperTranscriber


@pytest.fixture(scope="session")
def transcriber(config):
    """The real faster-whisper model (bundled tiny.en), loaded once for the session.

    Utterances already transcribed in this session are answered from a memo (see
    :func:`_memo_transcriber_class`); use ``real_transcriber`` where every call must reach the model.
    """
    t = _memo_transcriber_class()(config.asr, num_workers=2, memo=os.environ.get("VOICEMON_TEST_ASR_MEMO", "1") != "0")
    t.load()
    return t


@pytest.fixture(scope="session")
def real_transcriber(config, transcriber):
    """The same loaded model without the memo: every utterance is decoded by Whisper (for the
    tests that check the model itself is deterministic across threads and drivers)."""
    t = _memo_transcriber_class()(config.asr, num_workers=2, memo=False)
    t._model = transcriber.load()  # share the loaded CTranslate2 model: no second load
    return t


@pytest.fixture(scope="session")
def whisper_with(transcriber):
    """``whisper_with(asr_options) -> WhisperTranscriber`` on the session's loaded model when the
    options load the same model (name, compute type, threads), else with its own: options that act
    after decoding (``loop_guard``, ``language``, ``beam_size``) need no second model load."""
    from voicemon.asr.transcriber import WhisperTranscriber

    def make(options) -> WhisperTranscriber:
        t = WhisperTranscriber(options)
        same = (options.model, options.compute_type, options.cpu_threads) == (
            transcriber.options.model, transcriber.options.compute_type, transcriber.options.cpu_threads)
        if same and t.resolved.location == transcriber.resolved.location:
            t._model = transcriber.load()
        return t

    return make


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


@pytest.fixture(scope="session")
def real_call_mix(config):
    """``real_call_mix(name) -> (audio, mix, diarization)`` for a two-channel call of
    ../shared/data/calls: its decoded channels, their mono mix and the offline diarization of the
    mix, computed once per session (the offline and the live diarization tests both need it)."""
    from voicemon.audio.decode import load_call_audio
    from voicemon.audio.diarize import diarize

    cache: dict[str, tuple] = {}

    def get(name: str) -> tuple:
        if name not in cache:
            audio = load_call_audio(SHARED_DATA / "calls" / name)
            mix = (audio.signals["agent"] + audio.signals["customer"]) / 2
            cache[name] = (audio, mix, diarize(mix, config.diarization, config.segmenter))
        return cache[name]

    return get


# --- the fast subset -----------------------------------------------------------------------------
MODEL_FIXTURES = {"transcriber", "real_transcriber", "whisper_with", "analysed"}
"""Fixtures that run the real Whisper model: a test using one is marked ``slow`` automatically."""


SLOW_SUBPROCESS_TESTS = (
    "test_browser.py::", "test_redact_e2e.py::",
    "test_bad_input.py::test_each_broken_file", "test_bad_input.py::test_good_silent", "test_bad_input.py::test_globs",
    "test_live.py::test_replay_cli_jsonl", "test_live.py::test_replay_terminal_view", "test_live.py::test_replay_serve",
    "test_server.py::test_sigterm", "test_server.py::test_documented_example_clients",
    "test_server_hardening.py::test_sigkill", "test_server_hardening.py::test_analyze_finishes_the_batch",
    "test_server_hardening.py::test_a_token_is_never_printed",
    "test_eval_harness.py::test_eval_clips_on_three", "test_eval_harness.py::test_eval_clips_two_party",
)
"""Tests that run the model (or minutes of real audio) in a ``voicemon`` subprocess, by node id
prefix; a test file may also mark its own tests ``@pytest.mark.slow``."""


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test that uses the real Whisper model in this process or in a
    ``voicemon`` subprocess, so ``-m "not slow"`` is the quick subset: pure stages, protocol,
    config, rendering, synthetic-signal and CLI-usage tests (a server test that needs the model
    loaded counts as slow)."""
    for item in items:
        name = item.nodeid.rsplit("/", 1)[-1]
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())) or name.startswith(SLOW_SUBPROCESS_TESTS):
            item.add_marker(pytest.mark.slow)


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
