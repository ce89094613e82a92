"""The live driver on the real model: parity with analyze, paced replay, the CLI stream."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT

ENVELOPE_KEYS = {"v", "call_id", "seq", "wall"}
ESCALATING = FIXTURES / "escalating_call_stereo.wav"


def strip(env: dict) -> dict:
    return {k: v for k, v in env.items() if k not in ENVELOPE_KEYS}


def live_replay(path, config, transcriber, speed, interim_s=0.0):
    from voicemon.audio.decode import load_call_audio
    from voicemon.live.asr_pool import AsrPool
    from voicemon.live.runner import LiveCall
    from voicemon.live.sources import replay

    audio = load_call_audio(path, config.audio.channels)
    config = dataclasses.replace(config, live=dataclasses.replace(config.live, interim_interval_s=interim_s))

    async def main():
        pool = AsrPool(transcriber, workers=2)
        call = LiveCall(Path(path).stem, tuple(audio.signals), config, pool,
                        lockstep=speed is None)
        await replay(call, audio, config.audio.chunk_ms, speed)
        report = await call.finish()
        pool.close()
        return call, report

    return asyncio.run(main())


@pytest.mark.parametrize("name", ["escalating_call_stereo.wav", "escalating_call_mulaw8k.wav"])
def test_lockstep_replay_equals_analyze(analysed, config, transcriber, name):
    offline = analysed(FIXTURES / name)
    call, report = live_replay(FIXTURES / name, config, transcriber, speed=None)
    live_events = [strip(e.to_dict()) for e in call.log]
    assert [e.seq for e in call.log] == list(range(1, len(call.log) + 1))
    for i, (a, b) in enumerate(zip(live_events, offline["events"])):
        assert a == b, f"event {i} differs:\nlive    {a}\nanalyze {b}"
    assert len(live_events) == len(offline["events"])
    assert report["readings"] == offline["readings"]
    assert report["transcript"] == offline["transcript"]
    assert [p["kind"] for p in report["prompts"]] == [p["kind"] for p in offline["prompts"]]


def test_paced_replay_streams_interim_then_final_text(config, transcriber, labels):
    """At 3x real time with interim text: the meter still climbs in the labelled interval and
    final text is sent once per utterance, after any interim text for it."""
    call, report = live_replay(ESCALATING, config, transcriber, speed=3.0, interim_s=1.0)
    log = [e.to_dict() for e in call.log]  # as a watcher receives it
    finals: dict[str, int] = {}
    for i, env in enumerate(log):
        if env["type"] != "transcript":
            continue
        uid = env["utterance_id"]
        assert uid not in finals, f"text of {uid} changed after its final was sent"
        if env["final"]:
            finals[uid] = i
    assert any(e["type"] == "transcript" and not e["final"] for e in log), "no interim text was streamed"
    lab = labels[ESCALATING.name]["escalation"][0]
    hot = [r for r in report["readings"] if r["role"] == "customer" and r["level"] in ("heated", "critical")]
    assert hot and lab["start_s"] <= hot[0]["t"] <= lab["end_s"] + 5
    readings = [e for e in log if e["type"] == "reading" and e["role"] == "customer"]
    assert [r["t"] for r in readings] == sorted(r["t"] for r in readings)
    assert {"no_hold", "repeat_back"} <= {p["kind"] for p in report["prompts"]}
    assert call.latency.meter_s and max(call.latency.meter_s) < 5.0
    assert len(call.latency.transcript_s) == len(finals)


def run_cli(*args, timeout=300, **kw):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    return subprocess.run([sys.executable, "-m", "voicemon", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=kw.get("cwd", ROOT))


@pytest.fixture(scope="module")
def short_call(tmp_path_factory):
    """The first 70 s of the escalating call (calm opening, then the customer's anger)."""
    import soundfile as sf

    data, rate = sf.read(ESCALATING, dtype="int16")
    path = tmp_path_factory.mktemp("live") / "short_call.wav"
    sf.write(path, data[: 70 * rate], rate, subtype="PCM_16")
    return path


def test_replay_cli_jsonl_stream_and_report(short_call, tmp_path):
    out = tmp_path / "events.jsonl"
    result = run_cli("replay", str(short_call), "--speed", "4", "--jsonl", str(out), "--report", str(tmp_path / "rep"))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"reading", "transcript", "prompt", "speech_started"} <= {e["type"] for e in events}
    walls = [e["wall"] for e in events if e["type"] == "reading"]
    # paced at 4x: 70 s of audio is streamed over ~17 s of wall time, not all at once
    assert walls[-1] - walls[0] > 10
    report = json.loads((tmp_path / "rep" / "short_call.json").read_text())
    assert report["duration_s"] == pytest.approx(70, abs=0.2)
    assert (tmp_path / "rep" / "short_call.html").exists()
    logged = (tmp_path / "rep" / "short_call.events.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in logged] == events


def test_replay_bad_speed_and_missing_file(tmp_path):
    result = run_cli("replay", str(ESCALATING), "--speed", "fast")
    assert result.returncode == 2 and "--speed" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("replay", str(tmp_path / "nope.wav"))
    assert result.returncode == 2 and "nope.wav" in result.stderr and "Traceback" not in result.stderr


def test_replay_terminal_view_in_a_pty(short_call, tmp_path):
    """The one-screen view draws meters, levels and transcript lines in a real terminal."""
    import pty
    import select

    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba"), "COLUMNS": "100", "LINES": "30"}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "voicemon", "replay", str(short_call), "--speed", "6",
                             "--report", str(tmp_path)], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT)
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        screen += data
    proc.wait(timeout=60)
    os.close(master)
    text = screen.decode("utf-8", "replace")
    assert proc.returncode == 0, text[-2000:]
    assert "Customer" in text and "Agent (you)" in text
    assert "\033[H\033[2J" in text and "█" in text
    assert "HEATED" in text or "CRITICAL" in text
    assert "already told you" in text.lower()
    assert "short_call.html" in text


def test_listen_without_portaudio_names_the_fix(tmp_path):
    """A machine without PortAudio gets one clear line, not a traceback."""
    fake = tmp_path / "sounddevice.py"
    fake.write_text("raise OSError('PortAudio library not found')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-m", "voicemon", "listen", "--list-devices"], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert "PortAudio" in result.stderr and "libportaudio2" in result.stderr
    assert "Traceback" not in result.stderr


def test_listen_with_no_input_device_is_a_clear_error():
    """On this test machine (no sound card) listen says so in one line, naming what to check."""
    result = run_cli("listen", "--report", "none", "--no-view", timeout=120)
    if result.returncode == 0:
        pytest.skip("this machine has a working input device")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: ")
    assert "Traceback" not in result.stderr


def test_replay_serve_prints_the_view_url_and_serves_the_call(short_call, tmp_path):
    """`replay --serve` runs the feed server in-process: the URL it prints serves the call."""
    import signal
    import urllib.request

    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    proc = subprocess.Popen([sys.executable, "-m", "voicemon", "replay", str(short_call), "--speed", "8", "--serve",
                             "--port", "0", "--no-view", "--report", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line.startswith("agent view: http://"), line + proc.stderr.read()
        url = line.split()[2]
        base = url.split("/?")[0]
        calls = json.load(urllib.request.urlopen(base + "/api/calls", timeout=10))["calls"]
        assert [c["call_id"] for c in calls] == ["short_call"] and not calls[0]["ended"]
        done = ""
        for _ in range(4):  # the summary, the view's URL repeated (issue 14 H5), then "the call has ended"
            done += proc.stdout.readline()
            if "the call has ended" in done:
                break
        assert "the call has ended" in done and "short_call.html" in done and "agent view: http://" in done
        calls = json.load(urllib.request.urlopen(base + "/api/calls", timeout=10))["calls"]
        assert calls[0]["ended"] and calls[0]["readings"]["customer"]["level"] in ("heated", "critical", "tense")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    events = [json.loads(x) for x in (tmp_path / "short_call.events.jsonl").read_text().splitlines()]
    assert events[0]["type"] == "call_started" and events[-1]["type"] == "call_ended"
