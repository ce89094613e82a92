"""Wire clients of the telephony adapters, for benchmarks that drive calls through a real server.

Each client streams one two-party call (agent and customer as 16 kHz float arrays) at a given
pace into a running :class:`~voicemon.server.app.VoicemonServer`, speaking the platform's own
protocol: Twilio Media Streams (``/twilio``), Genesys AudioHook (``/audiohook``, signed
upgrade), a FreeSWITCH/jambonz audio fork (``/audiofork``) or two Asterisk AudioSocket legs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import struct
import time
import uuid

import numpy as np

ADAPTERS = ("twilio", "audiohook", "audiofork", "audiosocket")
AUDIOHOOK_KEY = "YmVuY2htYXJrLWtleQ=="
AUDIOHOOK_SECRET = base64.b64encode(b"benchmark client secret, 32 byte").decode()
ORG = "6f6c1b8e-0000-4000-8000-000000000001"


def telephone(signals: dict[str, np.ndarray], rate_hz: int = 8000) -> dict[str, np.ndarray]:
    """16 kHz float per role -> int16 at ``rate_hz`` per role (same length)."""
    import soxr

    out = {r: soxr.resample(s.astype(np.float32), 16000, rate_hz) if rate_hz != 16000 else s for r, s in signals.items()}
    n = min(len(v) for v in out.values())
    return {r: np.clip(np.round(v[:n] * 32768), -32768, 32767).astype(np.int16) for r, v in out.items()}


async def _paced(i: int, frame_s: float, t0: float, speed: float) -> None:
    """Wait until frame ``i`` exists in real time (its last sample), as a live source sends it."""
    due = t0 + (i + 1) * frame_s / speed
    if due > time.monotonic():
        await asyncio.sleep(due - time.monotonic())


def audiohook_headers(port: int, session: str) -> dict[str, str]:
    """Signed AudioHook upgrade headers (RFC 9421 signature base over the six components)."""
    headers = {"audiohook-organization-id": ORG, "audiohook-session-id": session,
               "audiohook-correlation-id": str(uuid.uuid4()), "x-api-key": AUDIOHOOK_KEY}
    created = int(time.time())
    params = ('("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id" '
              f'"audiohook-correlation-id" "x-api-key");keyid="{AUDIOHOOK_KEY}";'
              f'nonce="{base64.b64encode(uuid.uuid4().bytes + b"nonce!").decode()}";alg="hmac-sha256";'
              f"created={created};expires={created + 30}")
    base = "\n".join(['"@request-target": /audiohook', f'"@authority": 127.0.0.1:{port}',
                      *(f'"{k}": {v}' for k, v in headers.items()), f'"@signature-params": {params}'])
    mac = hmac.new(base64.b64decode(AUDIOHOOK_SECRET), base.encode(), hashlib.sha256).digest()
    return {**headers, "signature-input": f"sig1={params}", "signature": f"sig1=:{base64.b64encode(mac).decode()}:"}


async def stream_call(adapter: str, server, call_id: str, signals: dict[str, np.ndarray], speed: float,
                      on_audio_start=None) -> str:
    """Stream one call through ``adapter`` at ``speed`` x real time; returns the server's call id.

    ``on_audio_start(server_call_id, t0)`` is called once, when media time 0 is at
    ``perf_counter()`` ``t0`` (each frame is sent when its last sample would exist live).
    """
    started = []

    def clock(server_call_id: str) -> float:
        t0 = time.monotonic()
        if on_audio_start is not None and not started:
            started.append(server_call_id)
            on_audio_start(server_call_id, time.perf_counter())
        return t0

    from voicemon.audio.g711 import ulaw_encode
    from websockets.asyncio.client import connect

    port = server.port
    if adapter == "twilio":
        pcm = telephone(signals)
        async with connect(f"ws://127.0.0.1:{port}/twilio") as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(json.dumps({"event": "start", "streamSid": "MZ" + call_id, "start": {
                "callSid": call_id, "streamSid": "MZ" + call_id, "tracks": ["inbound", "outbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
            await asyncio.sleep(0.05)  # the start is processed (the call exists)
            t0 = clock(call_id)
            for i, at in enumerate(range(0, len(pcm["agent"]), 160)):
                await _paced(i, 0.02, t0, speed)
                for track, role in (("inbound", "customer"), ("outbound", "agent")):
                    payload = base64.b64encode(ulaw_encode(pcm[role][at:at + 160])).decode()
                    await ws.send(json.dumps({"event": "media", "media": {"track": track, "timestamp": str(at // 8),
                                                                         "payload": payload}}))
            await ws.send(json.dumps({"event": "stop", "stop": {"callSid": call_id}}))
            await ws.wait_closed()
        return call_id
    if adapter == "audiohook":
        pcm = telephone(signals)
        stereo = np.frombuffer(ulaw_encode(np.stack([pcm["customer"], pcm["agent"]], axis=1).reshape(-1)), np.uint8)
        session, conversation = str(uuid.uuid4()), str(uuid.uuid5(uuid.NAMESPACE_URL, call_id))
        seq = 0

        def msg(kind, params=None, position=0.0):
            nonlocal seq
            seq += 1
            return json.dumps({"version": "2", "id": session, "type": kind, "seq": seq, "serverseq": 0,
                               "position": f"PT{position:.1f}S", "parameters": params or {}})

        async with connect(f"ws://127.0.0.1:{port}/audiohook", additional_headers=audiohook_headers(port, session)) as ws:
            await ws.send(msg("open", {"organizationId": ORG, "conversationId": conversation,
                                       "participant": {"id": str(uuid.uuid4()), "ani": "", "aniName": "", "dnis": ""},
                                       "media": [{"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                                                  "rate": 8000}]}))
            await ws.recv()
            t0 = clock(conversation)
            for i, at in enumerate(range(0, len(stereo), 1600)):
                await _paced(i, 0.1, t0, speed)
                await ws.send(stereo[at:at + 1600].tobytes())
            await ws.send(msg("close", {"reason": "end"}, len(stereo) / 16000))
            async for reply in ws:
                if json.loads(reply)["type"] == "closed":
                    break
        return conversation
    if adapter == "audiofork":
        pcm = telephone(signals, 16000)
        stereo = np.stack([pcm["customer"], pcm["agent"]], axis=1).astype("<i2")
        async with connect(f"ws://127.0.0.1:{port}/audiofork", subprotocols=["audio.jambonz.org"]) as ws:
            await ws.send(json.dumps({"callSid": call_id, "sampleRate": 16000, "mixType": "stereo"}))
            await asyncio.sleep(0.05)  # the metadata is processed (the call exists)
            t0 = clock(call_id)
            for i, at in enumerate(range(0, len(stereo), 320)):
                await _paced(i, 0.02, t0, speed)
                await ws.send(stereo[at:at + 320].tobytes())
        return call_id
    if adapter == "audiosocket":
        pcm = telephone(signals)
        base = uuid.uuid5(uuid.NAMESPACE_URL, call_id).bytes[:15]
        server_id = str(uuid.UUID(bytes=base + b"\x00"))
        connected = asyncio.Event()
        legs_up = []

        async def leg(last: bytes, samples: np.ndarray):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.audiosocket_port)
            writer.write(struct.pack(">BH", 0x01, 16) + base + last)
            await writer.drain()
            legs_up.append(last)
            if len(legs_up) == 2:
                await asyncio.sleep(0.05)  # both UUIDs are processed (the call exists)
                connected.set()
            await connected.wait()
            t0 = clock(server_id)
            for i, at in enumerate(range(0, len(samples), 160)):
                await _paced(i, 0.02, t0, speed)
                chunk = samples[at:at + 160].astype("<i2").tobytes()
                writer.write(struct.pack(">BH", 0x10, len(chunk)) + chunk)
                await writer.drain()
            writer.write(b"\x00\x00\x00")
            await writer.drain()
            await reader.read()
            writer.close()

        await asyncio.gather(leg(b"\x00", pcm["customer"]), leg(b"\x01", pcm["agent"]))
        return server_id
    raise ValueError(f"unknown adapter {adapter!r} (one of {', '.join(ADAPTERS)})")


def server_config(config, out_dir: str, adapter: str):
    """``config`` with the server on a free port, writing into ``out_dir``, the adapter enabled."""
    import dataclasses

    server = dataclasses.replace(config.server, port=0, out_dir=out_dir, max_calls=64, max_ingest_connections=256)
    telephony = dataclasses.replace(config.telephony, audiohook_keys=(f"{AUDIOHOOK_KEY}:{AUDIOHOOK_SECRET}",),
                                    audiosocket_port=0 if adapter == "audiosocket" else -1)
    return dataclasses.replace(config, server=server, telephony=telephony)
