"""Helpers for tests that run the real server and real WebSocket clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json

import numpy as np

from conftest import FIXTURES

ESCALATING = FIXTURES / "escalating_call_stereo.wav"


def server_config(config, tmp_path, **server):
    """The default config with the server on port 0 writing into tmp_path."""
    server = {"out_dir": str(tmp_path / "calls"), **server}
    return dataclasses.replace(config, server=dataclasses.replace(config.server, port=0, **server))


@contextlib.asynccontextmanager
async def running_server(config, transcriber):
    from voicemon.server.app import VoicemonServer

    server = VoicemonServer(config, transcriber=transcriber, workers=2)
    await server.start()
    try:
        yield server
    finally:
        if not server.stopping:
            await server.stop()


def int16_frames(path=ESCALATING, frame_ms=100, seconds=None):
    """A stereo WAV as interleaved little-endian int16 frames of ``frame_ms``."""
    import soundfile as sf

    data, rate = sf.read(path, dtype="int16", always_2d=True)
    if seconds:
        data = data[: int(seconds * rate)]
    step = rate * frame_ms // 1000
    return rate, data.shape[1], [data[i:i + step].astype("<i2").tobytes() for i in range(0, len(data), step)]


def twilio_messages(codes: np.ndarray, call_sid="CA0001", token=None):
    """Twilio Media Streams messages carrying G.711 mu-law 8 kHz codes ``(n, 2)`` byte for byte:
    column 0 = outbound (agent), column 1 = inbound (customer), 20 ms (160 codes) per message."""
    tracks = {"outbound": np.ascontiguousarray(codes[:, 0]), "inbound": np.ascontiguousarray(codes[:, 1])}
    params = {"token": token} if token else {}
    msgs = [{"event": "connected", "protocol": "Call", "version": "1.0.0"},
            {"event": "start", "sequenceNumber": "1", "streamSid": "MZ0001",
             "start": {"accountSid": "AC0001", "streamSid": "MZ0001", "callSid": call_sid, "tracks": ["inbound", "outbound"],
                       "customParameters": params,
                       "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}]
    seq = 2
    n = len(tracks["inbound"])
    for chunk, start in enumerate(range(0, n, 160)):
        for track in ("inbound", "outbound"):
            payload = base64.b64encode(tracks[track][start:start + 160].tobytes()).decode()
            msgs.append({"event": "media", "sequenceNumber": str(seq), "streamSid": "MZ0001",
                         "media": {"track": track, "chunk": str(chunk + 1), "timestamp": str(start // 8), "payload": payload}})
            seq += 1
    msgs.append({"event": "stop", "sequenceNumber": str(seq), "streamSid": "MZ0001",
                 "stop": {"accountSid": "AC0001", "callSid": call_sid}})
    return msgs


async def stream_pcm(url, call_id, frames, rate, channels, mode="lockstep", speed=None, frame_ms=100):
    """Stream frames into /ingest; returns (started, ended) server messages."""
    from websockets.asyncio.client import connect

    async with connect(url + "/ingest", max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "v": 1, "call_id": call_id, "encoding": "pcm_s16le",
                                  "sample_rate": rate, "channels": channels, "roles": ["agent", "customer"], "mode": mode}))
        started = json.loads(await ws.recv())
        for frame in frames:
            await ws.send(frame)
            if speed:
                await asyncio.sleep(frame_ms / 1000 / speed)
        await ws.send(json.dumps({"type": "end", "v": 1}))
        ended = json.loads(await ws.recv())
        return started, ended


async def collect(url, subscribe, until_type="call_ended", timeout=300):
    """Subscribe on /watch and collect envelopes until one of ``until_type`` arrives."""
    from websockets.asyncio.client import connect

    out = []
    async with connect(url + "/watch", max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "v": 1, **subscribe}))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "subscribed", ack
        async with asyncio.timeout(timeout):
            async for message in ws:
                env = json.loads(message)
                out.append(env)
                if env["type"] == until_type:
                    break
    return out


def silent_frames(seconds, rate=16000, channels=2, frame_ms=100):
    """Frames of digital silence: a cheap long call (no speech, so no transcription)."""
    step = rate * frame_ms // 1000
    return [b"\0" * (step * channels * 2)] * int(seconds * 1000 // frame_ms)


async def exchange(url, path, messages, **connect_kwargs):
    """Send ``messages`` on a fresh connection; returns (last error message or None, close code)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    reply = None
    async with connect(url + path, max_size=None, **connect_kwargs) as ws:
        try:
            for m in messages:
                await ws.send(m)
            async for msg in ws:
                data = json.loads(msg)
                if data.get("type") == "error":
                    reply = data
        except ConnectionClosed:
            pass
    return reply, ws.close_code


def raw_http(port, request: bytes) -> bytes:
    """Send raw bytes to the server and read the whole answer (it closes after each response)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def start_message(call_id, **extra):
    """An /ingest start for 16 kHz stereo PCM in lockstep mode."""
    return json.dumps({"type": "start", "v": 1, "call_id": call_id, "encoding": "pcm_s16le", "sample_rate": 16000,
                       "channels": 2, "roles": ["agent", "customer"], "mode": "lockstep", **extra})


def twilio_start(call_sid="CA0001", params=None, **start):
    """A Twilio ``start`` message (two tracks, 8 kHz mu-law)."""
    body = {"accountSid": "AC0001", "streamSid": "MZ0001", "callSid": call_sid, "tracks": ["inbound", "outbound"],
            "customParameters": params or {}, "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            **start}
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ0001", "start": body})
