"""What the views and integrators rely on (issue 14): call metadata, watcher roles, non-fatal ack
errors, the history of ended calls and the report routes. A real server on port 0 with real
websockets clients; the calls are digital silence (no speech to transcribe), so this is cheap."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from server_helpers import running_server, server_config, silent_frames

TOKEN = "t0ken"
START = {"type": "start", "v": 1, "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2,
         "roles": ["agent", "customer"], "mode": "live"}


async def aget(port, path, token=TOKEN):
    """GET on a thread (the server runs on this loop): (status, headers, body)."""
    return await asyncio.to_thread(_get, port, path, token)


def _get(port, path, token=TOKEN):
    sep = "&" if "?" in path else "?"
    url = f"http://127.0.0.1:{port}{path}" + (f"{sep}token={token}" if token else "")
    try:
        with urllib.request.urlopen(url) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


async def _open_call(url, call_id, **metadata):
    from websockets.asyncio.client import connect

    ws = await connect(f"{url}/ingest?token={TOKEN}")
    await ws.send(json.dumps({**START, "call_id": call_id, **metadata}))
    reply = json.loads(await ws.recv())
    if reply["type"] == "started":
        for frame in silent_frames(1.0):
            await ws.send(frame)
    return ws, reply


async def _end_call(ws):
    await ws.send(json.dumps({"type": "end", "v": 1}))
    ended = json.loads(await ws.recv())
    await ws.close()
    return ended


def test_metadata_roles_ack_errors_history_and_report_routes(config, transcriber, tmp_path):
    from websockets.asyncio.client import connect

    cfg = server_config(config, tmp_path, token=TOKEN, keep_ended_s=0.5)

    async def main():
        async with running_server(cfg, transcriber) as server:
            port = server.port
            url = f"ws://127.0.0.1:{port}"
            out = {}
            # hostile metadata is a typed error before anything is written; a typo is named
            for name, extra in [("bad agent", {"agent_id": "../x"}), ("typo", {"agnet_id": "amy"}),
                                ("nested meta", {"meta": {"a": {"b": 1}}})]:
                ws, reply = await _open_call(url, "hostile", **extra)
                out[name] = (reply["code"], reply["message"])
                await ws.close()
            amy, started = await _open_call(url, "amy-1", agent_id="amy", agent_name="Amy Lee", queue="billing",
                                            customer_ref="AC-1", meta={"crm": "x9"})
            bob, _ = await _open_call(url, "bob-1", agent_id="bob")
            out["agent filter"] = [c["call_id"] for c in json.loads((await aget(port, "/api/calls?agent=amy"))[2])["calls"]]
            out["calls"] = json.loads((await aget(port, "/api/calls"))[2])["calls"]

            async with connect(f"{url}/watch?token={TOKEN}") as sup, connect(f"{url}/watch?token={TOKEN}") as agent:
                await sup.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["amy-1", "gone"], "role": "supervisor",
                                           "types": ["call_started", "prompt_ack"]}))
                out["subscribed"] = json.loads(await sup.recv())
                out["call_started"] = json.loads(await sup.recv())
                await agent.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["amy-1"], "agent_id": "amy",
                                             "types": ["prompt_ack"]}))
                await agent.recv()
                acks = [
                    (sup, {"type": "ack", "v": 1, "call_id": "amy-1", "prompt_id": "p1"}),
                    (agent, {"type": "ack", "v": 1, "call_id": "amy-1", "prompt_id": "p1", "action": "ignored"}),
                    (agent, {"type": "ack", "v": 1, "call_id": "bob-1", "prompt_id": "p1"}),
                    (agent, {"type": "subscribe", "v": 1, "calls": "*"}),
                    (agent, {"type": "ack", "v": 1, "call_id": "amy-1", "prompt_id": "p404"}),
                ]
                errors = []
                for ws, msg in acks:
                    await ws.send(json.dumps(msg))
                    errors.append(json.loads(await ws.recv()))
                out["errors"] = errors
                out["open"] = (sup.close_code, agent.close_code)
            # a typo in types is refused, naming it
            async with connect(f"{url}/watch?token={TOKEN}") as ws:
                await ws.send(json.dumps({"type": "subscribe", "v": 1, "types": ["redaing"]}))
                out["typo types"] = json.loads(await ws.recv())["message"]

            out["ended"] = await _end_call(amy)
            await _end_call(bob)
            await asyncio.sleep(0.7)  # past keep_ended_s: the calls are history now
            out["live list"] = json.loads((await aget(port, "/api/calls"))[2])["calls"]
            out["history"] = json.loads((await aget(port, "/api/calls?ended=1"))[2])["calls"]
            out["history amy"] = json.loads((await aget(port, "/api/calls?ended=1&agent=amy"))[2])["calls"]
            out["report api"] = await aget(port, "/api/calls/amy-1/report")
            out["report api unknown"] = (await aget(port, "/api/calls/nope/report"))[0]
            html = out["ended"]["summary"]["report_url"]
            out["report html"] = await aget(port, html)
            out["report no token"] = (await aget(port, html, token=None))[0]
            out["traversal"] = [(await aget(port, p))[0] for p in ("/reports/..%2Fsecret.html", "/reports/../x.json",
                                                            "/reports/.hidden.html", "/reports/amy-1.wav",
                                                            "/reports/%2Fetc%2Fpasswd")]
            async with connect(f"{url}/watch?token={TOKEN}") as ws:
                await ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["amy-1"]}))
                out["subscribed later"] = json.loads(await ws.recv())
            return out

    (tmp_path / "calls").mkdir(parents=True, exist_ok=True)
    (tmp_path / "secret.html").write_text("outside --out")
    out = asyncio.run(main())
    assert out["bad agent"][0] == "bad_message" and "agent_id" in out["bad agent"][1]
    assert out["typo"][0] == "bad_message" and "agnet_id" in out["typo"][1] and "meta" in out["typo"][1]
    assert out["nested meta"][0] == "bad_message"
    assert out["agent filter"] == ["amy-1"]
    amy = next(c for c in out["calls"] if c["call_id"] == "amy-1")
    assert (amy["agent_id"], amy["agent_name"], amy["queue"], amy["customer_ref"], amy["meta"]) == (
        "amy", "Amy Lee", "billing", "AC-1", {"crm": "x9"})
    assert out["subscribed"]["calls"] == ["amy-1"] and out["subscribed"]["unknown_calls"] == ["gone"]
    assert out["subscribed"]["role"] == "supervisor"
    assert out["call_started"]["agent_id"] == "amy" and out["call_started"]["meta"] == {"crm": "x9"}
    codes = [e["code"] for e in out["errors"]]
    assert codes == ["read_only", "bad_ack", "not_your_call", "already_subscribed", "unknown_prompt"], out["errors"]
    assert out["errors"][0]["call_id"] == "amy-1" and out["errors"][0]["prompt_id"] == "p1"
    assert out["errors"][2]["call_id"] == "bob-1"
    assert out["open"] == (None, None)  # every one of those errors left both watchers connected
    assert "redaing" in out["typo types"]
    assert out["live list"] == []
    assert {c["call_id"] for c in out["history"]} == {"amy-1", "bob-1"}
    assert [c["call_id"] for c in out["history amy"]] == ["amy-1"]
    old = out["history amy"][0]
    assert old["ended"] and old["agent_name"] == "Amy Lee" and old["report_url"] == "/reports/amy-1.html"
    assert old["summary"]["peak_level"] == "calm"
    status, _, body = out["report api"]
    report = json.loads(body)
    assert status == 200 and report["call_id"] == "amy-1" and report["metadata"]["agent_id"] == "amy"
    assert out["report api unknown"] == 404
    status, headers, body = out["report html"]
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"amy-1" in body
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert out["report no token"] == 401
    assert out["traversal"] == [404] * 5
    assert out["subscribed later"]["unknown_calls"] == ["amy-1"]


def test_stream_wav_example_reads_the_projects_mulaw_file_and_fails_without_a_traceback():
    import importlib.util
    import socket
    import subprocess
    import sys

    from conftest import FIXTURES, ROOT

    spec = importlib.util.spec_from_file_location("stream_wav", ROOT / "docs" / "examples" / "stream_wav.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    encoding, rate, channels, data = example.read_wav(str(FIXTURES / "escalating_call_mulaw8k.wav"))
    assert (encoding, rate) == ("mulaw", 8000) and channels in (1, 2)
    assert len(data) / rate / channels > 100  # the 128 s call
    encoding, rate, channels, _ = example.read_wav(str(FIXTURES / "escalating_call_stereo.wav"))
    assert (encoding, channels) == ("pcm_s16le", 2)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = subprocess.run([sys.executable, "docs/examples/stream_wav.py", str(FIXTURES / "escalating_call_mulaw8k.wav"),
                          "--url", f"ws://127.0.0.1:{port}"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr and run.stderr.startswith("stream_wav: "), run.stderr


def test_twilio_custom_parameters_are_the_calls_metadata(config, transcriber, tmp_path):
    import base64

    from websockets.asyncio.client import connect

    from server_helpers import twilio_start

    cfg = server_config(config, tmp_path, token=TOKEN)
    silence = base64.b64encode(b"\xff" * 160).decode()  # 20 ms of mu-law silence

    async def main():
        async with running_server(cfg, transcriber) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/twilio") as ws:
                await ws.send(twilio_start("CA77", params={"token": TOKEN, "agent_id": "tw-agent", "queue": "sales",
                                                           "campaign": "spring"}))
                for i in range(20):
                    for track in ("inbound", "outbound"):
                        await ws.send(json.dumps({"event": "media", "media": {"track": track, "timestamp": str(20 * i),
                                                                                "payload": silence}}))
                for _ in range(50):
                    calls = json.loads((await aget(server.port, "/api/calls"))[2])["calls"]
                    if calls:
                        break
                    await asyncio.sleep(0.1)
                await ws.send(json.dumps({"event": "stop"}))
                await ws.wait_closed()
            return calls

    calls = asyncio.run(main())
    assert [(c["call_id"], c["agent_id"], c["queue"], c["meta"]) for c in calls] == [
        ("CA77", "tw-agent", "sales", {"campaign": "spring"})]
    started = json.loads((tmp_path / "calls" / "CA77.events.jsonl").read_text().splitlines()[0])
    assert started["type"] == "call_started" and started["agent_id"] == "tw-agent" and "token" not in started["meta"]


def test_hub_keeps_each_roles_peak_and_time_heated():
    from voicemon.events import Envelope, EscalationReading
    from voicemon.server.hub import CallEntry

    entry = CallEntry(call=None)
    readings = [(0.0, "calm", 10.0), (1.0, "heated", 70.0), (2.0, "critical", 90.0), (3.0, "heated", 95.0),
                (5.0, "calm", 20.0), (6.0, "calm", 15.0)]
    for seq, (t, level, score) in enumerate(readings, 1):
        entry.observe(Envelope.of(EscalationReading(t=t, role="customer", score=score, level=level, changed=True),
                                  "c1", seq, 0.0))
    # the peak is the highest level first (critical 90 beats heated 95), then the score
    assert entry.peaks["customer"] == {"level": "critical", "score": 90.0, "t": 2.0}
    assert entry.heated_s["customer"] == 4.0  # heated or critical from 1 s to 5 s
    assert entry.readings["customer"]["level"] == "calm"


def test_serve_logs_one_line_per_call_start_and_end(config, transcriber, tmp_path, caplog):
    """`serve` says what it does per call at INFO (issue 14 L2): one start line, one end line."""
    import logging

    cfg = server_config(config, tmp_path, token=TOKEN)

    async def main():
        async with running_server(cfg, transcriber) as server:
            ws, reply = await _open_call(f"ws://127.0.0.1:{server.port}", "logged-call", agent_id="amy")
            assert reply["type"] == "started", reply
            await _end_call(ws)

    with caplog.at_level(logging.INFO, logger="voicemon.server.app"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "voicemon.server.app"]
    started = [x for x in lines if x.startswith("call logged-call started")]
    ended = [x for x in lines if x.startswith("call logged-call ended")]
    assert len(started) == 1 and "agent amy" in started[0] and "live" in started[0], lines
    assert len(ended) == 1, lines
