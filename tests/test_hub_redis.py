"""One live feed across two real `voicemon serve` processes sharing a real redis-server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from server_helpers import int16_frames, silent_frames, start_message, stream_pcm

REDIS_SERVER = shutil.which("redis-server") or shutil.which("valkey-server")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None,
                                 reason="redis-server is not installed (make sysdeps, or apt-get install redis-server)")


def test_mirror_of_a_trimmed_stream_keeps_seq_positions(tmp_path):
    """A server joining a call whose stream was trimmed mirrors it from its first kept seq: the
    hub's positions (seq - 1) still address the right events and earlier ones are just absent."""
    from voicemon.events import Cue, Envelope, EscalationReading
    from voicemon.server.hub_redis import MirrorLog, _entries

    log = MirrorLog(tmp_path / "m.events.jsonl", base=100)
    for seq in range(101, 111):
        log.append(Envelope.of(EscalationReading(t=seq / 4, role="customer", score=1.0, level="calm", changed=False),
                               "c", seq, 0.0))
    log.flush()
    log.append(Envelope.of(Cue(t=30.0, role="customer", kind="anger", weight=0.5, evidence="x"), "c", 111, 0.0))
    assert len(log) == 111 and log[-1].seq == 111 and log[100].seq == 101
    assert [e.seq for e in log.read(95, 8)] == [101, 102, 103]
    assert [e.seq for e in log.read(108, 10)] == [109, 110, 111]
    assert [e.seq for e in log.read_positions([3, 100, 105, 110])] == [101, 106, 111]
    # XREAD answers in both protocol versions
    resp2 = [[b"voicemon:live", [(b"1-0", {b"what": b"start"})]]]
    resp3 = {b"voicemon:live": [[(b"1-0", {b"what": b"start"})]]}
    assert _entries(resp2) == _entries(resp3) == [("voicemon:live", [(b"1-0", {b"what": b"start"})])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    pytest.importorskip("redis", reason="the redis client is not installed (pip install 'voicemon[redis]')")
    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path_factory.mktemp("redis"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def start_serve(out_dir, hub_url):
    out_dir.mkdir(parents=True, exist_ok=True)
    errors = open(out_dir.parent / f"{out_dir.name}.stderr.txt", "w")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    return subprocess.Popen([sys.executable, "-m", "voicemon", "serve", "--port", "0", "--out", str(out_dir),
                             "--workers", "1", "--hub", hub_url],
                            stdout=subprocess.PIPE, stderr=errors, text=True, env=env, cwd=ROOT)


def ws_url(proc) -> str:
    line = proc.stdout.readline()
    assert "serving on ws://" in line, line
    shared = [proc.stdout.readline() for _ in range(3)]
    assert any("calls shared with other servers through redis://" in x for x in shared), shared
    return "ws://" + line.split("ws://")[1].split()[0]


@pytest.mark.slow
@needs_redis
def test_two_servers_share_calls_history_resume_acks_and_interruptions(redis_url, tmp_path):
    a = start_serve(tmp_path / "a", redis_url)
    b = start_serve(tmp_path / "b", redis_url)
    try:
        url_a, url_b = ws_url(a), ws_url(b)
        rate, channels, frames = int16_frames(frame_ms=100, seconds=90)

        async def main():
            from websockets.asyncio.client import connect

            out = {"b_events": [], "acked": None, "resumed": []}

            async def watch_on_b_and_ack():
                async with connect(url_b + "/watch", max_size=None) as ws:
                    await ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["shared"]}))
                    assert json.loads(await ws.recv())["type"] == "subscribed"
                    async for msg in ws:
                        env = json.loads(msg)
                        out["b_events"].append(env)
                        if env["type"] == "prompt" and out["acked"] is None:
                            out["acked"] = env["id"]
                            await ws.send(json.dumps({"type": "ack", "v": 1, "call_id": "shared", "prompt_id": env["id"],
                                                      "action": "acknowledged"}))
                        if env["type"] == "call_ended":
                            return

            async def watch_on_b_then_resume_on_a():
                got = []
                async with connect(url_b + "/watch", max_size=None) as ws:
                    await ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["shared"]}))
                    await ws.recv()
                    async for msg in ws:
                        got.append(json.loads(msg))
                        if len(got) == 40:
                            break
                async with connect(url_a + "/watch", max_size=None) as ws:  # a reconnect landing on the other node
                    await ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["shared"],
                                              "since": {"shared": got[-1]["seq"]}}))
                    await ws.recv()
                    async for msg in ws:
                        got.append(json.loads(msg))
                        if got[-1]["type"] == "call_ended":
                            break
                out["resumed"] = got

            watchers = [asyncio.create_task(watch_on_b_and_ack()), asyncio.create_task(watch_on_b_then_resume_on_a())]
            await asyncio.sleep(1.0)
            await stream_pcm(url_a, "shared", frames, rate, channels, mode="lockstep")
            async with asyncio.timeout(60):
                await asyncio.gather(*watchers)

            # a second call on A, then A dies: B marks it interrupted
            async with connect(url_b + "/watch", max_size=None) as wb, connect(url_a + "/ingest") as ingest:
                await wb.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["doomed"]}))
                await wb.recv()
                await ingest.send(start_message("doomed", mode="live"))
                await ingest.recv()
                seen = []
                async with asyncio.timeout(30):
                    async for msg in wb:
                        env = json.loads(msg)
                        seen.append(env)
                        if env["type"] == "call_started":
                            break
                    for frame in silent_frames(3.0):
                        await ingest.send(frame)
                        await asyncio.sleep(0.05)
                    a.send_signal(signal.SIGKILL)
                    killed = time.monotonic()
                    async for msg in wb:
                        env = json.loads(msg)
                        seen.append(env)
                        if env["type"] == "call_ended":
                            break
                out["doomed"], out["noticed_s"] = seen, time.monotonic() - killed
            return out

        out = asyncio.run(main())
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (a, b):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()

    log_a = [json.loads(x) for x in (tmp_path / "a" / "shared.events.jsonl").read_text().splitlines()]
    # B's watcher saw A's call whole, in order, exactly as A logged it
    assert [e["seq"] for e in out["b_events"]] == list(range(1, len(log_a) + 1))
    assert out["b_events"] == log_a
    # a watcher that left B and came back on A with since= missed nothing and got nothing twice
    assert [e["seq"] for e in out["resumed"]] == list(range(1, len(log_a) + 1))
    # the ack sent to B reached A, the call's owner: it is in A's report and came back to B
    assert out["acked"] is not None
    report = json.loads((tmp_path / "a" / "shared.json").read_text())
    assert [x["prompt_id"] for x in report["acknowledgements"]] == [out["acked"]]
    assert any(e["type"] == "prompt_ack" and e["prompt_id"] == out["acked"] for e in out["b_events"])
    assert not (tmp_path / "b" / "shared.json").exists()  # B only mirrors it
    # A was killed mid-call: B's watcher is told the call ended, interrupted, within the heartbeat expiry
    ended = out["doomed"][-1]
    assert ended["type"] == "call_ended" and ended["summary"]["reason"] == "interrupted", ended
    assert out["noticed_s"] < 20  # hub_node_ttl_s (5 s) and a sweep, with room for a loaded box
