"""FreeSWITCH mod_audio_fork / mod_audio_stream and jambonz ``listen`` at /audiofork.

The client follows the sources' READMEs: one text frame of JSON metadata (jambonz: the call's
attributes plus ``sampleRate`` and ``mixType``), then binary frames of 16-bit little-endian PCM,
``stereo`` carrying caller and callee on separate channels.
"""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

from server_helpers import collect, exchange, running_server, server_config
from telephony_helpers import SPEED, assert_like_offline, telephone_audio

JAMBONZ = {"callSid": "9f3c2c1e-1111-4a2b-9c3d-000000000001", "direction": "inbound", "from": "+15551234567",
           "to": "+18005550100", "accountSid": "acc-1", "applicationSid": "app-1", "sampleRate": 8000, "mixType": "stereo",
           "sip": {"headers": {"X-Ignored": "nested values are not kept"}}}


def test_metadata_from_jambonz_and_from_a_freeswitch_url():
    from voicemon.server.audiofork import call_meta, parse_metadata

    start = parse_metadata(json.dumps(JAMBONZ), {})
    assert (start.call_id, start.rate_hz, start.mix, start.roles) == (JAMBONZ["callSid"], 8000, "stereo", ("customer", "agent"))
    assert "sip" not in call_meta(start.metadata) and call_meta(start.metadata)["direction"] == "inbound"
    # mod_audio_fork: free metadata; rate and mix from the URL; caller on the second channel if so configured
    start = parse_metadata(json.dumps({"uuid": "a1b2c3", "agent": "x"}), {"rate": "16000", "mix": "stereo"}, caller_channel=1)
    assert (start.call_id, start.rate_hz, start.roles) == ("a1b2c3", 16000, ("agent", "customer"))
    assert parse_metadata('{"call_id": "c1"}', {}).roles == ("customer",)  # mono = the caller
    assert parse_metadata('{"call_id": "c1"}', {}, default_mix="mixed").roles == ("mixed",)
    assert parse_metadata("{}", {"call_id": "from-url"}).call_id == "from-url"


@pytest.mark.parametrize("text, query, code", [
    (b"\x00\x00", {}, "audio_before_start"),
    ("{", {}, "bad_json"),
    ("[1]", {}, "bad_message"),
    ('{"callSid": "c", "sampleRate": 44100}', {}, "unsupported_rate"),
    ('{"callSid": "c", "mixType": "quad"}', {}, "bad_channels"),
    ('{"direction": "inbound"}', {}, "bad_message"),
    ('{"callSid": "../x"}', {}, "bad_message"),
])
def test_bad_metadata_gets_typed_errors(text, query, code):
    from voicemon.errors import ProtocolError
    from voicemon.server.audiofork import parse_metadata

    with pytest.raises(ProtocolError) as err:
        parse_metadata(text, query)
    assert err.value.code == code


def test_decoder_splits_channels_and_refuses_partial_samples():
    from voicemon.errors import ProtocolError
    from voicemon.server.audiofork import ForkDecoder, parse_metadata

    decoder = ForkDecoder(parse_metadata(json.dumps(JAMBONZ), {}))
    frame = np.array([[1000, -2000]] * 160, "<i2").tobytes()  # 20 ms, caller then callee
    out = decoder.decode(frame)
    assert out["customer"][0] == pytest.approx(1000 / 32768) and out["agent"][0] == pytest.approx(-2000 / 32768)
    for bad in (frame[:-2], b"\0" * (8000 * 2 * 2 * 3)):
        with pytest.raises(ProtocolError) as err:
            decoder.decode(bad)
        assert err.value.code == "bad_audio_frame"


def test_wire_errors_and_metadata_into_the_call(config, transcriber, tmp_path):
    cfg = server_config(config, tmp_path)
    silence = b"\0" * 640  # 20 ms of 8 kHz stereo L16

    async def main():
        from websockets.asyncio.client import connect

        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            errors = {
                "binary first": await exchange(url, "/audiofork", [silence]),
                "unsupported rate": await exchange(url, "/audiofork", [json.dumps({**JAMBONZ, "sampleRate": 11025})]),
                "partial sample": await exchange(url, "/audiofork", [json.dumps({**JAMBONZ, "callSid": "p1"}), b"\0\0\0"]),
            }
            watcher = asyncio.create_task(collect(url, {"calls": [JAMBONZ["callSid"]]}, timeout=60))
            await asyncio.sleep(0.2)
            async with connect(url + "/audiofork", subprotocols=["audio.jambonz.org"]) as ws:
                await ws.send(json.dumps(JAMBONZ))
                for i in range(100):  # 2 s
                    await ws.send(silence)
                    if i == 50:
                        await ws.send(json.dumps({"type": "text", "data": "mod_audio_stream send_text"}))
            events = await watcher
            return errors, events

    errors, events = asyncio.run(main())
    assert errors["binary first"][0]["code"] == "audio_before_start" and errors["binary first"][1] == 4400
    assert errors["unsupported rate"][0]["code"] == "unsupported_rate" and errors["unsupported rate"][1] == 1003
    assert errors["partial sample"][0]["code"] == "bad_audio_frame" and errors["partial sample"][1] == 1003
    started = events[0]
    assert started["roles"] == ["agent", "customer"]
    assert started["meta"]["adapter"] == "audiofork" and started["meta"]["direction"] == "inbound"
    assert "sip" not in started["meta"]
    assert events[-1]["summary"]["duration_s"] == pytest.approx(2.0, abs=0.05)
    assert (tmp_path / "calls" / f"{JAMBONZ['callSid']}.json").exists()


def test_full_call_is_monitored_like_analyze(config, transcriber, analysed, labels, tmp_path, tmp_path_factory):
    """The escalating call as a jambonz stereo listen (8 kHz L16, 20 ms frames, caller on the
    first channel) gives the escalation and prompts `analyze` finds in the same audio."""
    wav, _, pcm = telephone_audio(tmp_path_factory)
    offline = analysed(wav)
    cfg = server_config(config, tmp_path, max_messages_per_s=1000.0)
    caller_first = np.stack([pcm[:, 1], pcm[:, 0]], axis=1).astype("<i2")
    frames = [caller_first[i:i + 160].tobytes() for i in range(0, len(caller_first), 160)]
    call_sid = "jambonz-escalating-1"

    async def main():
        from websockets.asyncio.client import connect

        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            watcher = asyncio.create_task(collect(url, {"calls": [call_sid]}))
            await asyncio.sleep(0.2)
            async with connect(url + "/audiofork", subprotocols=["audio.jambonz.org"]) as ws:
                await ws.send(json.dumps({**JAMBONZ, "callSid": call_sid}))
                t0 = time.monotonic()
                for i, frame in enumerate(frames):
                    await ws.send(frame)
                    due = t0 + (i + 1) * 0.02 / SPEED
                    if due > time.monotonic():
                        await asyncio.sleep(due - time.monotonic())
            return await watcher

    events = asyncio.run(main())
    assert_like_offline(events, offline, labels, call_id=call_sid)
