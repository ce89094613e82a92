"""Asterisk: AudioSocket over raw TCP and chan_websocket at /asterisk, two snoop legs per call.

The AudioSocket client writes packets as the Asterisk documentation describes them: one type
byte, a big-endian 16-bit payload length, the payload (``0x01`` the 16-byte UUID first, ``0x10``
signed linear 16-bit 8 kHz mono, ``0x00`` hang up). chan_websocket sends ``MEDIA_START`` as a
text frame and then raw frames in the channel's format (ulaw: 160 bytes per 20 ms).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import struct
import time
import uuid

import numpy as np
import pytest

from server_helpers import collect, running_server, server_config
from telephony_helpers import SPEED, assert_like_offline, telephone_audio


def pkt(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BH", kind, len(payload)) + payload


def leg_uuid(base: uuid.UUID, direction: str) -> bytes:
    """The pairing convention: the call's UUID with last byte 00 (snoop in) or 01 (snoop out)."""
    return base.bytes[:15] + (b"\x00" if direction == "in" else b"\x01")


def test_parser_reassembles_packets_split_anywhere():
    from voicemon.server.asterisk import AudioSocketParser

    stream = pkt(0x01, bytes(range(16))) + pkt(0x10, b"\x01\x00" * 160) + pkt(0x03, b"5") + pkt(0x00)
    parser = AudioSocketParser()
    packets = []
    for i in range(len(stream)):
        packets += parser.feed(stream[i:i + 1])
    assert [(p.kind, len(p.payload)) for p in packets] == [(0x01, 16), (0x10, 320), (0x03, 1), (0x00, 0)]
    assert parser.pending == 0


def test_legs_audio_and_errors():
    from voicemon.errors import ProtocolError
    from voicemon.server.asterisk import (AudioSocketParser, Leg, Packet, WebSocketMedia, audiosocket_error, audiosocket_leg,
                                          audiosocket_samples, parse_websocket_text, websocket_leg)

    base = uuid.uuid4()
    call_id = str(uuid.UUID(bytes=base.bytes[:15] + b"\0"))
    assert audiosocket_leg(Packet(0x01, leg_uuid(base, "in"))) == Leg(call_id, "customer")
    assert audiosocket_leg(Packet(0x01, leg_uuid(base, "out"))) == Leg(call_id, "agent")
    other = base.bytes[:15] + b"\x07"
    assert audiosocket_leg(Packet(0x01, other)).role == "mixed" and audiosocket_leg(Packet(0x01, other)).call_id == str(uuid.UUID(bytes=other))
    rate, samples = audiosocket_samples(Packet(0x10, struct.pack("<2h", 16384, -16384)))
    assert rate == 8000 and samples.tolist() == [0.5, -0.5]
    assert audiosocket_samples(Packet(0x12, b"\0\0"))[0] == 16000
    assert audiosocket_error(Packet(0xFF, b"\x01")) == "the channel hung up"
    for bad, code in ((Packet(0x10, b"\0"), "bad_audio_frame"), (Packet(0x03, b"1"), "bad_message")):
        with pytest.raises(ProtocolError) as err:
            audiosocket_samples(bad)
        assert err.value.code == code
    for first, code in ((Packet(0x10, b"\0\0"), "audio_before_start"), (Packet(0x01, b"short"), "bad_message")):
        with pytest.raises(ProtocolError) as err:
            audiosocket_leg(first)
        assert err.value.code == code
    with pytest.raises(ProtocolError):
        AudioSocketParser(max_payload=1000).feed(struct.pack(">BH", 0x10, 4000))
    # chan_websocket
    assert parse_websocket_text("MEDIA_START connection_id:abc channel:PJSIP/1-0001 format:ulaw optimal_frame_size:160") == \
        ("MEDIA_START", {"connection_id": "abc", "channel": "PJSIP/1-0001", "format": "ulaw", "optimal_frame_size": "160"})
    assert websocket_leg({"call_id": "c1", "leg": "out"}).role == "agent"
    assert websocket_leg({"call_id": "c1"}).role == "mixed"
    assert WebSocketMedia("ulaw").decode(b"\xff\x80").tolist() == [0.0, pytest.approx(32124 / 32768)]
    assert WebSocketMedia("slin16").rate_hz == 16000
    for bad in ({"leg": "in"}, {"call_id": "c1", "leg": "sideways"}):
        with pytest.raises(ProtocolError):
            websocket_leg(bad)
    with pytest.raises(ProtocolError) as err:
        WebSocketMedia("opus")
    assert err.value.code == "unsupported_encoding"


def asterisk_config(config, tmp_path, **server):
    cfg = server_config(config, tmp_path, **server)
    return dataclasses.replace(cfg, telephony=dataclasses.replace(cfg.telephony, audiosocket_port=0))


async def audiosocket_leg_stream(port, leg: bytes, frames, speed=None, hangup=True, frame_s=0.02):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(pkt(0x01, leg))
    t0 = time.monotonic()
    for i, frame in enumerate(frames):
        writer.write(pkt(0x10, frame))
        await writer.drain()
        if speed:
            due = t0 + (i + 1) * frame_s / speed
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
    if hangup:
        writer.write(pkt(0x00))
        await writer.drain()
    data = await reader.read()  # the server closes after the hangup
    writer.close()
    return data


def test_two_snoop_legs_are_one_call_and_bad_streams_are_hung_up(config, transcriber, tmp_path):
    cfg = asterisk_config(config, tmp_path)
    base = uuid.uuid4()
    call_id = str(uuid.UUID(bytes=base.bytes[:15] + b"\0"))
    silence = [b"\0" * 320] * 100  # 2 s of 20 ms slin frames

    async def main():
        from websockets.asyncio.client import connect

        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            port = server.audiosocket_port
            # both legs live at once (paced at 10x: a leg more than 1 s of audio behind is padded)
            await asyncio.gather(audiosocket_leg_stream(port, leg_uuid(base, "in"), silence, speed=10),
                                 audiosocket_leg_stream(port, leg_uuid(base, "out"), silence[:50], speed=10))
            # a stream that starts with audio instead of its UUID is hung up (0x00) and closed
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(pkt(0x10, b"\0" * 320))
            await writer.drain()
            refused = await reader.read()
            writer.close()

            async def ws_leg(leg, frames):  # chan_websocket: two legs of another call
                async with connect(f"{url}/asterisk?call_id=ws-call&leg={leg}", subprotocols=["media"]) as ws:
                    await ws.send(f"MEDIA_START connection_id:{leg}1 channel:Snoop/{leg} format:ulaw optimal_frame_size:160")
                    for _ in range(frames):
                        await ws.send(b"\xff" * 160)
                        await asyncio.sleep(0.002)

            await asyncio.gather(ws_leg("in", 100), ws_leg("out", 100))
            for _ in range(600):  # the last leg's close finishes the call (slow on a loaded machine)
                if (tmp_path / "calls" / "ws-call.json").exists():
                    break
                await asyncio.sleep(0.1)
            return refused

    refused = asyncio.run(main())
    assert refused == pkt(0x00)
    for name in (call_id, "ws-call"):
        report = json.loads((tmp_path / "calls" / f"{name}.json").read_text())
        assert report["roles"] == ["agent", "customer"] and report["duration_s"] == pytest.approx(2.0, abs=0.05), name


def test_full_call_over_two_audiosockets_is_monitored_like_analyze(config, transcriber, analysed, labels, tmp_path,
                                                                     tmp_path_factory):
    """The escalating call as two AudioSocket legs (snoop in = customer, out = agent; slin 8 kHz,
    100 ms packets) gives the escalation and prompts `analyze` finds in the same audio."""
    wav, _, pcm = telephone_audio(tmp_path_factory)
    offline = analysed(wav)
    cfg = asterisk_config(config, tmp_path, max_messages_per_s=1000.0)
    base = uuid.uuid4()
    call_id = str(uuid.UUID(bytes=base.bytes[:15] + b"\0"))
    # 100 ms packets (the length field allows any size; Asterisk's own are 20 ms): the test client
    # shares the server's process, and five times fewer packets leave the CPU to the analysis
    frames = {role: [pcm[i:i + 800, col].astype("<i2").tobytes() for i in range(0, len(pcm), 800)]
              for role, col in (("agent", 0), ("customer", 1))}

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            watcher = asyncio.create_task(collect(url, {"calls": [call_id]}))
            await asyncio.sleep(0.2)
            await asyncio.gather(
                audiosocket_leg_stream(server.audiosocket_port, leg_uuid(base, "in"), frames["customer"], speed=SPEED, frame_s=0.1),
                audiosocket_leg_stream(server.audiosocket_port, leg_uuid(base, "out"), frames["agent"], speed=SPEED, frame_s=0.1))
            return await watcher

    events = asyncio.run(main())
    assert_like_offline(events, offline, labels, call_id=call_id)


def test_legs_arriving_in_bursts_are_kept_in_step_and_a_stalled_leg_is_filled():
    from voicemon.server.legs import TrackAligner

    tracks = TrackAligner(("agent", "customer"), 16000, stall_s=0.2)
    ones = np.ones(16000, np.float32)
    # the customer's leg delivers 3 s at once (a big read) while the agent's is a moment late:
    # the customer's audio is held back (0.2 s beyond the agent's), not run ahead of it
    chunks = tracks.feed("customer", np.concatenate([ones] * 3))
    assert {c.role for c in chunks} == {"customer"} and sum(len(c.samples) for c in chunks) == 3200
    chunks = tracks.feed("agent", np.concatenate([ones] * 3))
    agent = [c for c in chunks if c.role == "agent"]
    assert agent[0].start_sample == 0 and agent[0].samples[0] == 1.0  # not pushed back by silence
    assert sum(len(c.samples) for c in chunks if c.role == "customer") == 3 * 16000 - 3200
    # a busy moment (nothing from anyone for a while) fills nothing
    time.sleep(0.3)
    tracks.feed("customer", ones)
    assert tracks.filled_s["agent"] == 0.0
    # but the customer's leg keeps sending while the agent's stays quiet: the agent's is filled
    time.sleep(0.3)
    chunks = tracks.feed("customer", ones)
    filled = [c for c in chunks if c.role == "agent"]
    assert filled and filled[0].start_sample == 3 * 16000 and not filled[0].samples.any()
    assert tracks.filled_s["agent"] == 2.0
    # a leg that hung up: the other one is never held back again
    tracks.close_role("agent")
    assert sum(len(c.samples) for c in tracks.feed("customer", ones) if c.role == "customer") == 16000
    mono = TrackAligner(("agent", "customer"), 16000, silent=("agent",))
    assert sum(len(c.samples) for c in mono.feed("customer", ones[:320]) if c.role == "agent") == 320
    stereo = TrackAligner(("agent", "customer"), 8000)
    out = stereo.feed_all({"agent": ones[:800], "customer": ones[:800]}) + stereo.flush()
    assert {r: sum(len(c.samples) for c in out if c.role == r) for r in ("agent", "customer")} == {"agent": 1600, "customer": 1600}


def test_serve_flags_set_the_audiosocket_listener():
    from voicemon.cli import build_parser
    from voicemon.cli.common import config_from_args

    args = build_parser().parse_args(["serve", "--audiosocket-port", "9092", "--audiosocket-host", "10.0.0.5"])
    telephony = config_from_args(args).telephony
    assert (telephony.audiosocket_port, telephony.audiosocket_host) == (9092, "10.0.0.5")
    assert config_from_args(build_parser().parse_args(["serve"])).telephony.audiosocket_port == -1


def test_audiosocket_connections_count_against_the_ingest_cap(config, transcriber, tmp_path):
    cfg = asterisk_config(config, tmp_path, max_ingest_connections=1)

    async def main():
        async with running_server(cfg, transcriber) as server:
            port = server.audiosocket_port
            first_r, first_w = await asyncio.open_connection("127.0.0.1", port)
            first_w.write(pkt(0x01, leg_uuid(uuid.uuid4(), "in")) + pkt(0x10, b"\0" * 320))
            await first_w.drain()
            await asyncio.sleep(0.3)
            second_r, second_w = await asyncio.open_connection("127.0.0.1", port)
            refused = await asyncio.wait_for(second_r.read(), 10)
            second_w.close()
            first_w.write(pkt(0x00))
            await first_w.drain()
            await first_r.read()
            first_w.close()
            return refused

    assert asyncio.run(main()) == pkt(0x00)
