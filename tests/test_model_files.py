"""Model files are read once (issue 15 item 3): lexicon and playbook per process and file
version, the meter parameters once per analysed call."""

from __future__ import annotations

import dataclasses
from importlib import resources

import pytest
import soundfile as sf

from conftest import FIXTURES
from voicemon.errors import ConfigError
from voicemon.escalation import model_files as mf


@pytest.fixture
def counted(monkeypatch):
    """Count the parses of the lexicon and the playbook, starting from an empty cache."""
    calls = {"lexicon": 0, "playbook": 0}

    def counting(kind, real):
        def load(path=None):
            calls[kind] += 1
            return real(path)
        return load

    monkeypatch.setattr(mf, "_CACHE", {})
    monkeypatch.setattr(mf, "load_lexicon", counting("lexicon", mf.load_lexicon))
    monkeypatch.setattr(mf, "load_playbook", counting("playbook", mf.load_playbook))
    return calls


def test_many_calls_and_folds_parse_the_lexicon_and_playbook_once(config, counted):
    from voicemon.eval.pipeline import SignalRun, interpret
    from voicemon.session import CallSession, InterpretStages

    for _ in range(3):
        InterpretStages(("agent", "customer"), config, CallSession(("agent", "customer"), config).params)
    for _ in range(2):
        CallSession(("mixed",), config)
    interpret(SignalRun(("agent", "customer"), [], {}, 0.0, 0.0, 0.0), config, CallSession(("mixed",), config).params)
    assert counted == {"lexicon": 1, "playbook": 1}
    stages = InterpretStages(("agent", "customer"), config, CallSession(("mixed",), config).params)
    assert stages.text_cues.lexicon and stages.coach.rules  # the shared files are really used


def test_a_changed_file_is_read_again_and_a_bad_one_is_never_cached(config, counted, tmp_path):
    lexicon = tmp_path / "lexicon.toml"
    lexicon.write_bytes(resources.files("voicemon.models").joinpath("lexicon.toml").read_bytes())
    custom = dataclasses.replace(config, cues=dataclasses.replace(config.cues, lexicon=str(lexicon)))
    first = mf.model_files(custom)
    assert mf.model_files(custom) is first and counted["lexicon"] == 1
    lexicon.write_bytes(lexicon.read_bytes() + b"\n# edited\n")
    assert mf.model_files(custom) is not first and counted["lexicon"] == 2
    bad = dataclasses.replace(config, coach=dataclasses.replace(config.coach, playbook=str(tmp_path / "none.toml")))
    for _ in range(2):
        with pytest.raises(ConfigError, match="cannot read playbook"):
            mf.model_files(bad)
    assert counted["playbook"] == 4  # bundled, bundled again (new lexicon key), the missing file twice


def test_meter_params_are_read_once_per_analysed_file(config, transcriber, tmp_path, monkeypatch, counted):
    from voicemon import offline

    data, rate = sf.read(FIXTURES / "angry_from_start_call.wav", dtype="float32", always_2d=True)
    short = tmp_path / "short.wav"
    sf.write(short, data[: 4 * rate], rate, subtype="PCM_16")
    reads = []
    real = offline.load_meter_params
    monkeypatch.setattr(offline, "load_meter_params", lambda *a, **k: reads.append(a) or real(*a, **k))
    report = offline.analyze_file(short, config, transcriber)
    assert len(reads) == 1 and report["duration_s"] == pytest.approx(4.0, abs=0.01)
    assert counted == {"lexicon": 1, "playbook": 1}
