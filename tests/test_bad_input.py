"""Bad files through the real CLI: one clear line each, the batch goes on, nothing is lost."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, ROOT


def run_cli(*args, timeout=600):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    return subprocess.run([sys.executable, "-m", "voicemon", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A folder of good, silent and broken files, and the CLI's answer to analysing it."""
    d = tmp_path_factory.mktemp("batch")
    data, rate = sf.read(FIXTURES / "escalating_call_stereo.wav", dtype="int16")
    sf.write(d / "good.wav", data[: 10 * rate], rate, subtype="PCM_16")
    raw = (d / "good.wav").read_bytes()
    (d / "truncated.wav").write_bytes(raw[: len(raw) // 2])
    (d / "corrupt.wav").write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "zero_length.wav", np.zeros((0, 2), np.int16), 16000, subtype="PCM_16")
    (d / "not_audio.mp3").write_text("this is a text file, not an mp3\n")
    sf.write(d / "silent.wav", np.zeros((5 * 16000, 2), np.int16), 16000, subtype="PCM_16")
    noise = (np.random.default_rng(2).standard_normal((5 * 16000, 2)) * 30).astype(np.int16)
    sf.write(d / "line_noise.wav", noise, 16000, subtype="PCM_16")
    sf.write(d / "three_channels.wav", np.zeros((16000, 3), np.int16), 16000, subtype="PCM_16")
    out = d / "out"
    result = run_cli("analyze", str(d), str(d / "missing.wav"), "--out", str(out), "-q")
    return d, out, result


BROKEN = {
    "corrupt.wav": "not a readable audio file",
    "empty.wav": "empty file",
    "zero_length.wav": "no audio samples",
    "not_audio.mp3": "not a readable audio file",
    "three_channels.wav": "3 channels",
    "missing.wav": "no such file",
}


def test_each_broken_file_gets_one_clear_line_and_exit_code_1(batch):
    d, out, result = batch
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Note:" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(BROKEN)
    for name, reason in BROKEN.items():
        lines = [line for line in errors if name in line]
        assert len(lines) == 1 and reason in lines[0], (name, lines)
    assert f"{len(BROKEN)} of {len(BROKEN) + 4} file(s) failed" in result.stderr


def test_good_silent_and_truncated_files_still_get_reports(batch):
    d, out, result = batch
    for stem in ("good", "silent", "line_noise", "truncated"):
        report = json.loads((out / f"{stem}.json").read_text())
        assert report["readings"], stem
    assert json.loads((out / "silent.json").read_text())["transcript"] == []
    assert json.loads((out / "line_noise.json").read_text())["transcript"] == []
    truncated = json.loads((out / "truncated.json").read_text())
    assert truncated["duration_s"] == pytest.approx(5.0, abs=0.1)
    assert "truncated" in truncated["warnings"][0] and "truncated" in result.stderr
    assert json.loads((out / "good.json").read_text())["transcript"]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == len(BROKEN) + 4
    assert sum(1 for r in rows if r["error"]) == len(BROKEN)


def test_globs_and_usage_errors(tmp_path):
    data, rate = sf.read(FIXTURES / "calm_call_stereo.wav", dtype="int16")
    for name in ("a.wav", "b.wav"):
        sf.write(tmp_path / name, data[: 4 * rate], rate, subtype="PCM_16")
    result = run_cli("analyze", str(tmp_path / "*.wav"), "--out", str(tmp_path / "out"), "--format", "json", "-q")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["a.json", "b.json"]
    result = run_cli("analyze", str(tmp_path / "a.wav"), "--format", "pdf")
    assert result.returncode == 2 and "unknown --format pdf" in result.stderr
    result = run_cli("analyze", str(tmp_path / "a.wav"), "--model", str(tmp_path / "no-such-model"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no-such-model" in result.stderr
