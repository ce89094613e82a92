"""Issue 12: the feed server under hostile input, crashes, full disks and long calls.

Every test runs the real server on port 0 (in-process, or `voicemon serve` as a subprocess for
the crash tests) with real WebSocket or raw-socket clients. Each names the defect it covers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest
from pathlib import Path

from conftest import ROOT
from server_helpers import (
    collect,
    exchange,
    int16_frames,
    raw_http,
    running_server,
    server_config,
    silent_frames,
    start_message,
    stream_pcm,
    twilio_start,
)

SERVE_ENV = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


# -- D1, D2, D12: one call-id rule ------------------------------------------------------------

BAD_IDS = ["../escape", "/abs/path", "a\x00b", "x:y", "ok\n", ".", "..", "a/b", "a\\b", "", "x" * 129, "é", " x"]


def test_call_id_rule_is_one_plain_file_name():
    from voicemon.server.protocol import is_valid_call_id, safe_call_id

    for good in ["call-0042", "CA" + "0" * 32, "a.b_c-d", "...", ".hidden", "x" * 128, "x_y"]:
        assert is_valid_call_id(good), good
    for bad in BAD_IDS + [None, 7, ["a"]]:
        assert not is_valid_call_id(bad), bad
    assert safe_call_id("my call: 2.wav") == "my_call__2.wav" and safe_call_id("..") == "call"


def test_bad_call_ids_from_every_entry_point_get_4400_and_touch_no_file(config, transcriber, tmp_path):
    """D1/D2/D12: ingest call_id, Twilio customParameters.call_id and callSid are validated before
    anything reaches the filesystem; after many rejected streams the server still takes calls."""
    cfg = server_config(config, tmp_path, max_calls=2)

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            results = []
            for bad in BAD_IDS:
                results.append(("ingest", bad, *await exchange(url, "/ingest", [start_message(bad)])))
                if bad:  # an empty call_id / callSid counts as absent: the next one is used
                    results.append(("twilio param", bad, *await exchange(url, "/twilio", [twilio_start(params={"call_id": bad})])))
                    results.append(("twilio sid", bad, *await exchange(url, "/twilio", [twilio_start(call_sid=bad)])))
            health = server.health()
            rate, channels, frames = int16_frames(seconds=2)
            _, ended = await stream_pcm(url, "still-works", frames, rate, channels)
            return results, health, ended

    results, health, ended = asyncio.run(main())
    for where, bad, reply, code in results:
        assert reply is not None and reply["code"] == "bad_message" and code == 4400, (where, bad, reply, code)
        assert len(bad) < 3 or bad not in reply["message"], (where, bad)  # the attacker's text is not echoed
    assert health["calls"] == 0
    assert ended["type"] == "ended"
    assert files_under(tmp_path) == ["calls/still-works.events.jsonl", "calls/still-works.html", "calls/still-works.json"]


# -- D6, D7: failed writes are told, names never collide ---------------------------------------


def test_report_write_failure_ends_the_call_frees_its_slot_and_tells_the_client(config, transcriber, tmp_path):
    """D2/D6: a report that cannot be written gives the client `storage_failed` (not a report
    path that does not exist), leaves no .tmp, and frees the call's max_calls slot."""
    cfg = server_config(config, tmp_path, max_calls=1)
    out = tmp_path / "calls"
    rate, channels, frames = int16_frames(seconds=3)

    async def main():
        from websockets.asyncio.client import connect

        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            watcher = asyncio.create_task(collect(url, {"calls": ["doomed"]}))
            await asyncio.sleep(0.2)
            async with connect(url + "/ingest") as ws:
                await ws.send(start_message("doomed"))
                assert json.loads(await ws.recv())["type"] == "started"
                (out / "doomed.html").mkdir()  # the HTML report cannot be written where a folder is
                for frame in frames:
                    await ws.send(frame)
                await ws.send(json.dumps({"type": "end", "v": 1}))
                reply = json.loads(await ws.recv())
                await ws.wait_closed()
                code = ws.close_code
            events = await watcher
            health = server.health()
            _, ended = await stream_pcm(url, "next", frames, rate, channels)
            return reply, code, events, health, ended

    reply, code, events, health, ended = asyncio.run(main())
    assert reply["type"] == "error" and reply["code"] == "storage_failed" and code == 1011
    summary = events[-1]["summary"]
    assert events[-1]["type"] == "call_ended" and summary["report"] is None and "IsADirectoryError" in summary["report_error"]
    assert health["calls"] == 0 and ended["type"] == "ended"
    assert not [p for p in files_under(out) if p.endswith(".tmp")]
    logged = [json.loads(x) for x in (out / "doomed.events.jsonl").read_text().splitlines()]
    assert logged[-1]["type"] == "call_ended" and len(logged) == len(events)


def test_a_reused_call_id_never_overwrites_the_earlier_report(config, transcriber, tmp_path):
    """D7: the second call named `again` is written as `again~2`; `~` is not allowed in call ids,
    so no other call can ever be given that name."""
    cfg = server_config(config, tmp_path)
    out = tmp_path / "calls"

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            first = await stream_pcm(url, "again", silent_frames(5), 16000, 2)
            before = (out / "again.json").read_text()
            second = await stream_pcm(url, "again", silent_frames(7), 16000, 2)
            return first[1], second[1], before

    first, second, before = asyncio.run(main())
    assert first["summary"]["report"].endswith("/again.html") and second["summary"]["report"].endswith("/again~2.html")
    assert (out / "again.json").read_text() == before
    assert json.loads((out / "again~2.json").read_text())["duration_s"] == pytest.approx(7, abs=0.2)
    assert json.loads((out / "again.json").read_text())["duration_s"] == pytest.approx(5, abs=0.2)


def test_out_that_cannot_be_written_is_refused_at_start(config, transcriber, tmp_path):
    """D6/D14: `serve --out FILE` and `analyze --out FILE` fail at once with a clear message and exit 2."""
    from voicemon.errors import ConfigError
    from voicemon.server.app import VoicemonServer

    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        VoicemonServer(server_config(config, tmp_path, out_dir=str(a_file)), transcriber=transcriber)
    for argv in (["serve", "--port", "0", "--out", str(a_file)], ["analyze", str(a_file), "--out", str(a_file)]):
        run = subprocess.run([sys.executable, "-m", "voicemon", *argv], capture_output=True, text=True, env=SERVE_ENV,
                             cwd=ROOT, timeout=120)
        assert run.returncode == 2, (argv, run.stderr)
        assert "not a folder" in run.stderr and "Traceback" not in run.stderr, run.stderr


# -- D5: a durable log, recovered after SIGKILL ------------------------------------------------


def _serve(out, *extra):
    proc = subprocess.Popen([sys.executable, "-m", "voicemon", "serve", "--port", "0", "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=SERVE_ENV, cwd=ROOT)
    line = proc.stdout.readline()
    assert "serving on ws://" in line, line + proc.stderr.read()
    return proc, int(line.split("ws://")[1].split()[0].rsplit(":", 1)[1])


def test_sigkill_mid_call_loses_at_most_the_last_flush_and_restart_writes_an_interrupted_report(tmp_path):
    """D5: the event log is written while the call runs; after SIGKILL the next start writes the
    call's report from it, marked interrupted."""
    out = tmp_path / "out"
    rate, channels, frames = int16_frames(seconds=40)
    proc, port = _serve(out)
    try:
        async def stream_then_kill():
            from websockets.asyncio.client import connect

            url = f"ws://127.0.0.1:{port}"
            seen = []
            async with connect(url + "/watch") as watch, connect(url + "/ingest") as ingest:
                await watch.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["killed"]}))
                await watch.recv()
                await ingest.send(start_message("killed"))
                await ingest.recv()
                for frame in frames[:250]:
                    await ingest.send(frame)
                while not seen or seen[-1]["t"] < 20:  # the server has analysed 20 s
                    seen.append(json.loads(await watch.recv()))
                # let the flusher (every 0.5 s) run a few times, then kill without warning
                await asyncio.sleep(2.0)
                proc.send_signal(signal.SIGKILL)
            return seen

        seen = asyncio.run(stream_then_kill())
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    log_path = out / "killed.events.jsonl"
    logged = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
    assert [e["seq"] for e in logged] == list(range(1, len(logged) + 1))
    assert logged[: len(seen)] == seen  # everything delivered more than 2 s before the kill was on disk
    assert not (out / "killed.json").exists()

    proc, _ = _serve(out)
    try:
        report = json.loads((out / "killed.json").read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert report["interrupted"] is True and report["duration_s"] >= 20
    assert report["transcript"], "what was transcribed before the crash is in the report"
    relogged = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
    assert relogged[:-1] == logged and relogged[-1]["type"] == "call_ended"
    assert relogged[-1]["summary"]["reason"] == "interrupted" and relogged[-1]["seq"] == len(logged) + 1


def test_durable_log_pages_and_torn_last_line(tmp_path):
    from voicemon.events import Envelope, SpeechStarted
    from voicemon.server.eventlog import DurableLog, read_log, reserve_stem

    stem, log = reserve_stem(tmp_path, "c")
    assert stem == "c"
    for seq in range(1, 11):
        log.append(Envelope.of(SpeechStarted(t=seq / 10, role="agent"), "c", seq, 0.0))
        if seq == 6:
            assert log.flush() and log.written == 6
    assert [e.seq for e in log.read(4, 4)] == [5, 6, 7, 8]  # across the disk / memory boundary
    assert [e.seq for e in log.read_positions([0, 5, 8])] == [1, 6, 9]
    assert [e.seq for e in log] == list(range(1, 11)) and log[-1].seq == 10 and len(log) == 10
    log.close()
    with pytest.raises(FileExistsError):
        DurableLog(tmp_path / "c.events.jsonl")
    assert reserve_stem(tmp_path, "c")[0] == "c~2"
    with open(tmp_path / "c.events.jsonl", "ab") as fh:
        fh.write(b'{"type": "readi')  # a write torn by the crash
    events, bad = read_log(tmp_path / "c.events.jsonl")
    assert len(events) == 10 and bad == 1


# -- D3, D4, D15: history in pages, O(1) acks, since validated ---------------------------------


async def read_n(url, subscribe, n):
    """Subscribe and read exactly ``n`` envelopes (or up to an error)."""
    from websockets.asyncio.client import connect

    out = []
    async with connect(url + "/watch", max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "v": 1, **subscribe}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        while len(out) < n:
            env = json.loads(await ws.recv())
            out.append(env)
            if env["type"] == "error":
                break
    return out


def test_watchers_join_and_resume_a_call_whose_history_is_far_larger_than_the_outbox(config, transcriber, tmp_path):
    """D3: history is paged from the log, so neither a join, an exact resume mid-way, nor
    `"*"` over several calls overflows a 20-event outbox."""
    cfg = server_config(config, tmp_path, watcher_queue=20)

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            for name in ("long-a", "long-b"):
                await stream_pcm(url, name, silent_frames(60), 16000, 2)
            log_a = [e.to_dict() for e in server.hub.calls["long-a"].call.log]
            full = await collect(url, {"calls": ["long-a"], "since": {"long-a": 0}})
            resumed = await collect(url, {"calls": ["long-a"], "since": {"long-a": 200}})
            joined = await collect(url, {"calls": ["long-a"]})
            log_b = [e.to_dict() for e in server.hub.calls["long-b"].call.log]
            both = await read_n(url, {"calls": "*", "since": {"long-a": 0, "long-b": 0}}, len(log_a) + len(log_b))
            return log_a, log_b, full, resumed, joined, both

    log_a, log_b, full, resumed, joined, both = asyncio.run(main())
    assert [e for e in both if e["call_id"] == "long-b"] == log_b
    assert len(log_a) > 400
    assert full == log_a
    assert resumed == log_a[200:]
    assert joined[0]["type"] == "call_started" and joined[-1]["type"] == "call_ended"
    assert not any(e["type"] == "prosody" for e in joined)
    assert {e["seq"] for e in joined} >= {e["seq"] for e in log_a if e["type"] == "reading" and e["t"] >= 60 - 29}


def test_since_is_validated_and_nothing_at_or_before_it_is_ever_delivered(config, transcriber, tmp_path):
    """D15: `since` beyond the end of a call holds back later events up to it; `true` is refused."""
    from voicemon.server.protocol import parse_subscribe
    from voicemon.errors import ProtocolError

    for bad in ({"c": True}, {"c": 1.5}, {"c": -1}, {"../x": 3}, []):
        with pytest.raises(ProtocolError):
            parse_subscribe({"type": "subscribe", "since": bad})
    cfg = server_config(config, tmp_path)

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            ahead = asyncio.create_task(collect(url, {"calls": ["later"], "since": {"later": 150}}))
            await asyncio.sleep(0.2)
            await stream_pcm(url, "later", silent_frames(30), 16000, 2)
            log_ = [e.to_dict() for e in server.hub.calls["later"].call.log]
            got = await ahead
            return log_, got

    log_, got = asyncio.run(main())
    assert len(log_) > 150 and got == log_[150:]


def test_acks_are_checked_against_an_index_of_the_calls_prompts(config, transcriber):
    """D4: the hub indexes every prompt id (and the latest readings) as events are published,
    so an ack or /api/calls never scans the call's log."""
    from voicemon.events import CoachingPrompt
    from voicemon.live.asr_pool import AsrPool
    from voicemon.live.runner import LiveCall
    from voicemon.server.hub import CallHub

    pool = AsrPool(transcriber, workers=1)
    try:
        call = LiveCall("c", ("mixed",), config, pool)
        hub = CallHub()
        entry = hub.add(call)
        call.emit([CoachingPrompt(t=1.0, id="p1", kind="breathe", text="Breathe", technique="calm", priority=1,
                                  reason="test", expires_at=9.0)])
        assert entry.prompt_ids == {"p1"} and entry.last_prompt["id"] == "p1"
        assert list(entry.notable) == [0]
        assert hub.summary()[0]["last_prompt"]["text"] == "Breathe"
    finally:
        pool.close()


# -- D7, D8, D14: the analyze batch ----------------------------------------------------------


def test_analyze_finishes_the_batch_and_writes_the_summary_whatever_one_file_does(tmp_path):
    """D8: one file whose report cannot be written is that file's error line, not the batch's end;
    D7: `d2/a.wav` never takes the name of a real `a-2.wav`; a 240-character name is fine."""
    import csv

    import soundfile as sf

    from server_helpers import ESCALATING

    data, rate = sf.read(ESCALATING, dtype="int16")
    clip = data[: 3 * rate]
    inputs = tmp_path / "in"
    (inputs / "d2").mkdir(parents=True)
    names = ["a.wav", "d2/a.wav", "a-2.wav", "b.wav", "x" * 236 + ".wav"]
    for name in names:
        sf.write(inputs / name, clip, rate, subtype="PCM_16")
    out = tmp_path / "out"
    (out / "b.html").mkdir(parents=True)  # b's HTML report cannot be written
    run = subprocess.run([sys.executable, "-m", "voicemon", "analyze", *[str(inputs / n) for n in names], "--out", str(out), "-q"],
                         capture_output=True, text=True, env=SERVE_ENV, cwd=ROOT, timeout=600)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and f"error: {inputs / 'b.wav'}: could not write" in run.stderr, run.stderr
    rows = {Path(r["file"]).relative_to(inputs).as_posix(): r for r in csv.DictReader(open(out / "summary.csv"))}
    assert set(rows) == set(names)
    assert rows["b.wav"]["status"] == "error" and "IsADirectoryError" in rows["b.wav"]["error"]
    assert [rows[n]["status"] for n in names if n != "b.wav"] == ["ok"] * 4
    jsons = [Path(rows[n]["report_json"]).name for n in ("a.wav", "d2/a.wav", "a-2.wav")]
    assert jsons == ["a.json", "a-2.json", "a-2-2.json"]
    assert not [p for p in files_under(out) if p.endswith(".tmp")]


# -- D9, D13, D17: HTTP ----------------------------------------------------------------------


def test_host_header_duplicate_headers_and_methods(config, transcriber, tmp_path):
    """D9: without a token, a Host that is not this machine (DNS rebinding) is refused even with
    a matching Origin; D13: repeated headers are a 400; D17: HEAD has no body, POST is a 405."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    cfg = server_config(config, tmp_path)

    async def main():
        async with running_server(cfg, transcriber) as server:
            port = server.port
            out = {}
            try:
                async with connect(f"ws://localhost:{port}/watch", origin=f"http://localhost:{port}"):
                    out["local name"] = 101
            except InvalidStatus as exc:
                out["local name"] = exc.response.status_code

            def get(request: bytes):
                return raw_http(port, request)

            upgrade = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n")
            for name, request in [
                ("rebinding", f"GET /watch HTTP/1.1\r\nHost: evil.example:{port}\r\nOrigin: http://evil.example:{port}\r\n"
                              + upgrade),
                ("api rebinding", f"GET /api/calls HTTP/1.1\r\nHost: evil.example:{port}\r\n\r\n"),
                ("api local", f"GET /api/calls HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
                ("two hosts", f"GET /api/calls HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n\r\n"),
                ("two origins", f"GET /watch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: a\r\nOrigin: b\r\n"
                                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n\r\n"),
                ("two authorizations", f"GET /api/calls HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: a\r\n"
                                       "Authorization: b\r\n\r\n"),
                ("head", f"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
                ("get", f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
                ("post", f"POST /api/calls HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n"),
            ]:
                out[name] = await asyncio.to_thread(get, request.encode())
            return out

    out = asyncio.run(main())
    def status(raw):
        return int(raw.split(b" ", 2)[1])

    assert status(out["rebinding"]) == 403 and out["local name"] == 101

    assert status(out["api rebinding"]) == 403 and status(out["api local"]) == 200
    for name in ("two hosts", "two origins", "two authorizations"):
        assert status(out[name]) == 400, (name, out[name][:200])
    head_headers, head_body = out["head"].split(b"\r\n\r\n", 1)
    get_headers, get_body = out["get"].split(b"\r\n\r\n", 1)
    assert status(out["head"]) == 200 and head_body == b"" and get_body
    assert f"Content-Length: {len(get_body)}".encode() in head_headers
    assert status(out["post"]) == 405 and b"Allow: GET, HEAD" in out["post"]
    for header in (b"Content-Security-Policy: default-src 'self'", b"X-Frame-Options: DENY", b"X-Content-Type-Options: nosniff"):
        assert header in get_headers, header


def test_a_token_is_never_printed_in_full(tmp_path):
    """Risk: `voicemon serve --token T` shows where to add the token, not the token."""
    secret = "s3cret-" + "k" * 24
    proc, port = _serve(tmp_path / "out", "--token", secret)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert "token=<your token>" in "".join(lines)
    assert secret not in "".join(lines) + out + err


# -- D10, D11: typed errors for every malformed input ----------------------------------------

DEEP = "[" * 50000 + "]" * 50000
MALFORMED_INGEST = [
    ("nested 50k deep", [DEEP], "bad_json", 4400),
    ("channels 1.0", [start_message("c", channels=1.0, roles=["mixed"])], "bad_channels", 4400),
    ("channels true", [start_message("c", channels=True, roles=["mixed"])], "bad_channels", 4400),
    ("roles of numbers", [start_message("c", roles=[1, 2])], "bad_channels", 4400),
    ("long multibyte encoding", [start_message("c", encoding="é" * 300)], "unsupported_encoding", 1003),
    ("long multibyte version", [json.dumps({"type": "start", "v": "é" * 300})], "unsupported_version", 4400),
]
MALFORMED_TWILIO = [
    ("nested 50k deep", [DEEP], "bad_json", 4400),
    ("not an object", ["[1]"], "bad_message", 4400),
    ("event not a string", [json.dumps({"event": {"a": 1}})], "unknown_type", 4400),
    ("start not an object", [json.dumps({"event": "start", "start": "x"})], "bad_message", 4400),
    ("customParameters a list", [json.dumps({"event": "start", "start": {"callSid": "CA1", "customParameters": [1]}})],
     "bad_message", 4400),
    ("mediaFormat a string", [json.dumps({"event": "start", "start": {"callSid": "CA1", "mediaFormat": "mulaw"}})],
     "bad_message", 4400),
    ("sampleRate not a number", [json.dumps({"event": "start", "start": {
        "callSid": "CA1", "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": "abc"}}})], "unsupported_encoding", 1003),
    ("tracks a string", [json.dumps({"event": "start", "start": {"callSid": "CA1", "tracks": "inbound"}})], "bad_message", 4400),
    ("call_id a number", [json.dumps({"event": "start", "start": {"callSid": "CA1", "customParameters": {"call_id": 7}}})],
     "bad_message", 4400),
    ("media null", [twilio_start("CA2"), json.dumps({"event": "media", "media": None})], "bad_message", 4400),
    ("track a list", [twilio_start("CA3"), json.dumps({"event": "media", "media": {"track": [], "payload": ""}})],
     "bad_message", 4400),
    ("payload a number", [twilio_start("CA4"), json.dumps({"event": "media", "media": {"track": "inbound", "payload": 5}})],
     "bad_audio_frame", 1003),
    ("timestamp an object", [twilio_start("CA5"), json.dumps({"event": "media", "media": {
        "track": "inbound", "payload": "", "timestamp": {}}})], "bad_message", 4400),
    ("timestamp infinite", [twilio_start("CA6"), json.dumps({"event": "media", "media": {
        "track": "inbound", "payload": "", "timestamp": "1e999"}})], "bad_message", 4400),
]


def test_malformed_inputs_get_the_documented_typed_error_and_close_code(config, transcriber, tmp_path):
    """D11: deep JSON, `channels: 1.0` and odd Twilio shapes are 4400-style typed errors, not 1011;
    D10: an echoed value that makes the message long still closes with the error's own code."""
    from test_server import schema_validator

    cfg = server_config(config, tmp_path, max_message_bytes=262144)

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            got = {}
            for path, cases in (("/ingest", MALFORMED_INGEST), ("/twilio", MALFORMED_TWILIO)):
                for name, messages, _, _ in cases:
                    got[(path, name)] = await exchange(url, path, messages)
            return got

    got = asyncio.run(main())
    validator = schema_validator()
    for path, cases in (("/ingest", MALFORMED_INGEST), ("/twilio", MALFORMED_TWILIO)):
        for name, _, code, close_code in cases:
            reply, closed = got[(path, name)]
            assert reply is not None and reply["code"] == code and closed == close_code, (path, name, reply, closed)
            validator.validate(reply)


# -- D16 and the connection limits -----------------------------------------------------------


def test_a_watcher_that_never_reads_gets_too_slow_with_a_resume_point(config, transcriber, tmp_path):
    """D16: the server notices a send that cannot complete, and closes the watcher with `too_slow`
    (4008) and where to resume, instead of waiting for the keepalive to fail (1011)."""
    import socket

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    cfg = server_config(config, tmp_path, watcher_send_timeout_s=0.5)

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            await stream_pcm(url, "big", silent_frames(4800), 16000, 2)  # ~9 MB of events: more than socket buffers hold
            total = len(server.hub.calls["big"].call.log)
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            ws = await connect(url + "/watch", sock=sock, max_size=None, max_queue=1)
            await ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["big"], "since": {"big": 0}}))
            ws.transport.pause_reading()
            for _ in range(600):  # wait (bounded) until the server has this watcher, then gives up on it
                if server.hub.watchers:
                    break
                await asyncio.sleep(0.05)
            watcher = next(iter(server.hub.watchers))
            for _ in range(600):
                if watcher.overflow is not None:
                    break
                await asyncio.sleep(0.1)
            ws.transport.resume_reading()
            received = []
            try:
                async for message in ws:
                    received.append(json.loads(message))
            except ConnectionClosed:
                pass
            return total, received, ws.close_code

    total, received, code = asyncio.run(main())
    error = received[-1]
    events = [e for e in received if "seq" in e]
    assert error["type"] == "error" and error["code"] == "too_slow" and code == 4008, (error, code)
    assert 0 < len(events) < total
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert error["resume"]["big"] == events[-1]["seq"]


def test_connections_that_never_start_are_closed_and_capped(config, transcriber, tmp_path):
    """Risk: idle /ingest and /twilio connections get `start_timeout`; beyond
    `max_ingest_connections` the handshake is refused with 503."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    cfg = server_config(config, tmp_path, start_timeout_s=0.5, max_ingest_connections=2, max_ended_calls=2)

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            idle_ingest = await exchange(url, "/ingest", [])
            idle_twilio = await exchange(url, "/twilio", [json.dumps({"event": "connected"})])
            held = [await connect(url + "/ingest"), await connect(url + "/twilio")]
            try:
                async with connect(url + "/ingest"):
                    third = 101
            except InvalidStatus as exc:
                third = exc.response.status_code
            for ws in held:
                await ws.close()
            for name in ("e1", "e2", "e3"):
                await stream_pcm(url, name, silent_frames(1), 16000, 2)
            kept = sorted(server.hub.calls)
            return idle_ingest, idle_twilio, third, kept

    idle_ingest, idle_twilio, third, kept = asyncio.run(main())
    assert idle_ingest[0]["code"] == "start_timeout" and idle_ingest[1] == 4400
    assert idle_twilio[0]["code"] == "start_timeout" and idle_twilio[1] == 4400
    assert third == 503
    assert kept == ["e2", "e3"]
