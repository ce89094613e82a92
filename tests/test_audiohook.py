"""Genesys Cloud AudioHook v2 at /audiohook, tested with a client written from the public spec.

The messages below are written out as the AudioHook protocol reference shows them (envelope
``version``/``id``/``type``/``seq``/``serverseq``/``position``/``parameters``), and the request
signature is computed here the way the Genesys security page describes it (RFC 9421 signature
base over six components, HMAC-SHA256 keyed with the base64-decoded client secret), not with
voicemon's code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid

import numpy as np
import pytest

from server_helpers import collect, running_server, server_config
from telephony_helpers import SPEED, assert_like_offline, telephone_audio

# The documentation's example (developer.genesys.cloud/devapps/audiohook/security, "Example 1").
DOC_KEY = "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"
DOC_SECRET = "TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU="
DOC_HEADERS = {
    "host": "audiohook.example.com",
    "audiohook-organization-id": "d7934305-0972-4844-938e-9060eef73d05",
    "audiohook-session-id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
    "audiohook-correlation-id": "e160e428-53e2-487c-977d-96989bf5c99d",
    "x-api-key": DOC_KEY,
}
DOC_TARGET = "/api/v1/voicebiometrics/ws"
DOC_CREATED = 1641013200
DOC_PARAMS = ';keyid="SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh";nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";created=1641013200;expires=3282026430'
# current form (RFC 9421 @authority) and the older draft form (host header) of the same example
DOC_CURRENT = ('sig1=("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id" '
               '"audiohook-correlation-id" "x-api-key")' + DOC_PARAMS, "sig1=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:")
DOC_DRAFT = ('sig1=("@request-target" "host" "audiohook-organization-id" "audiohook-session-id" '
             '"audiohook-correlation-id" "x-api-key")' + DOC_PARAMS, "sig1=:zupMJUMfd/kMuvKc5zhRyfJPE3jTROuz1S1hn8SCTpE=:")
ORG = "d7934305-0972-4844-938e-9060eef73d05"
PROBE = "00000000-0000-0000-0000-000000000000"
STEREO = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
MEDIA_OFFER = [STEREO, {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000},
               {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}]


def keys():
    from voicemon.server.audiohook import parse_keys

    return parse_keys([f"{DOC_KEY}:{DOC_SECRET}"])


def signed_headers(target, authority, api_key=DOC_KEY, secret=DOC_SECRET, created=None, session=None,
                   nonce="dGhpcyBpcyBhIHVuaXF1ZSBub25jZQ==", org=ORG):
    """Upgrade headers of a Genesys request, signed as the security page describes."""
    created = int(time.time()) if created is None else created
    headers = {"audiohook-organization-id": org, "audiohook-session-id": session or str(uuid.uuid4()),
               "audiohook-correlation-id": str(uuid.uuid4()), "x-api-key": api_key}
    params = ('("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id" '
              f'"audiohook-correlation-id" "x-api-key");keyid="{api_key}";nonce="{nonce}";alg="hmac-sha256";'
              f"created={created};expires={created + 30}")
    lines = [f'"@request-target": {target}', f'"@authority": {authority}'] + \
            [f'"{name}": {headers[name]}' for name in list(headers)] + [f'"@signature-params": {params}']
    mac = hmac.new(base64.b64decode(secret), "\n".join(lines).encode(), hashlib.sha256).digest()
    headers["signature-input"] = f"sig1={params}"
    headers["signature"] = f"sig1=:{base64.b64encode(mac).decode()}:"
    return headers


class Client:
    """The client side of the envelope: ``seq`` counts up from 1, ``serverseq`` echoes the server."""

    def __init__(self, session=None):
        self.id = session or str(uuid.uuid4())
        self.seq = 0
        self.serverseq = 0
        self.position_s = 0.0

    def msg(self, kind, parameters=None, **override):
        self.seq += 1
        body = {"version": "2", "id": self.id, "type": kind, "seq": self.seq, "serverseq": self.serverseq,
                "position": f"PT{self.position_s:.2f}S", "parameters": parameters or {}}
        body.update(override)
        return json.dumps(body)

    def open(self, conversation=None, media=MEDIA_OFFER, continued=None, org=ORG):
        params = {"organizationId": org, "conversationId": conversation or str(uuid.uuid4()),
                  "participant": {"id": str(uuid.uuid4()), "ani": "+15551234567", "aniName": "Jane Doe",
                                  "dnis": "+18005550100"},
                  "media": media, "language": "en-US"}
        if continued:
            params["continuedSessions"] = continued
        return self.msg("open", params)

    def seen(self, reply):
        self.serverseq = reply["seq"]
        return reply


# -- signatures (pure) --------------------------------------------------------------------------


@pytest.mark.parametrize("form", [DOC_CURRENT, DOC_DRAFT], ids=["rfc9421-authority", "draft-host"])
def test_documentation_vector_verifies_and_a_changed_byte_does_not(form):
    from voicemon.server.audiohook import SignatureError, verify_request

    sig_input, signature = form
    headers = {**DOC_HEADERS, "signature-input": sig_input, "signature": signature}
    assert verify_request(headers, DOC_TARGET, keys(), now=DOC_CREATED + 5) == DOC_KEY
    changed = [
        {**headers, "audiohook-session-id": DOC_HEADERS["audiohook-session-id"][:-1] + "1"},
        {**headers, "host": "audiohook.example.org"},
        {**headers, "signature": signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]},
    ]
    for bad in changed:
        with pytest.raises(SignatureError):
            verify_request(bad, DOC_TARGET, keys(), now=DOC_CREATED + 5)
    with pytest.raises(SignatureError):
        verify_request(headers, DOC_TARGET + "x", keys(), now=DOC_CREATED + 5)


@pytest.mark.parametrize("case", ["stale", "future", "short nonce", "keyid", "unknown key", "alg", "uncovered",
                                  "unsigned", "no signature value"])
def test_bad_signatures_are_refused(case):
    from voicemon.server.audiohook import SignatureError, verify_request

    now = time.time()
    target, authority = "/audiohook", "voicemon.example.com"
    kwargs = {}
    if case == "stale":
        kwargs["created"] = int(now) - 11
    elif case == "future":
        kwargs["created"] = int(now) + 60
    elif case == "short nonce":
        kwargs["nonce"] = "c2hvcnQ="
    elif case == "unknown key":
        kwargs["api_key"] = "c29tZW9uZSBlbHNl"
    headers = signed_headers(target, authority, **kwargs)
    headers["host"] = authority
    if case == "keyid":
        headers["signature-input"] = headers["signature-input"].replace(f'keyid="{DOC_KEY}"', 'keyid="other"')
    elif case == "alg":
        headers["signature-input"] = headers["signature-input"].replace("hmac-sha256", "rsa-pss-sha512")
    elif case == "uncovered":
        headers["signature-input"] = headers["signature-input"].replace(' "x-api-key")', ")")
    elif case == "unsigned":
        del headers["signature"], headers["signature-input"]
    elif case == "no signature value":
        del headers["signature"]
    with pytest.raises(SignatureError):
        verify_request(headers, target, keys(), now=now)
    fresh = signed_headers(target, authority)
    fresh["host"] = authority
    assert verify_request(fresh, target, keys(), now=now) == DOC_KEY


def test_a_key_without_secret_goes_unsigned_only_when_allowed():
    from voicemon.server.audiohook import SignatureError, parse_keys, verify_request

    open_key = parse_keys(["bm8tc2VjcmV0LWtleQ==:"])
    headers = {"x-api-key": "bm8tc2VjcmV0LWtleQ==", "host": "h"}
    with pytest.raises(SignatureError):
        verify_request(headers, "/audiohook", open_key, time.time())
    assert verify_request(headers, "/audiohook", open_key, time.time(), allow_unsigned=True) == "bm8tc2VjcmV0LWtleQ=="
    with pytest.raises(SignatureError):  # a key with a secret never goes unsigned
        verify_request({"x-api-key": DOC_KEY, "host": "h"}, "/audiohook", keys(), time.time(), allow_unsigned=True)


# -- the session machine (pure) -------------------------------------------------------------------


def test_open_ping_update_pause_discard_close_transactions():
    from voicemon.server.audiohook import AudioHookSession

    client = Client()
    s = AudioHookSession(client.id, ORG)
    step = s.receive(client.open())
    assert step.opened is not None and not step.opened.probe and step.replies == []
    opened = client.seen(s.accept(step.opened))
    assert opened["type"] == "opened" and opened["seq"] == 1 and opened["clientseq"] == 1 and opened["id"] == client.id
    assert opened["parameters"]["media"] == [STEREO]
    # 100 ms of stereo PCMU: 1600 bytes, external (customer) first
    frame = bytes([0x80, 0xFF]) * 800
    step = s.receive(frame)
    assert set(step.audio) == {"customer", "agent"}
    assert step.audio["customer"][0] > 0.9 and step.audio["agent"][0] == 0.0 and len(step.audio["agent"]) == 800
    client.position_s = 0.1
    pong = client.seen(s.receive(client.msg("ping", {"rtt": "PT0.042S"})).replies[0])
    assert (pong["type"], pong["seq"], pong["clientseq"], pong["parameters"]) == ("pong", 2, 2, {})
    step = s.receive(client.msg("update", {"language": "es-US"}))
    assert step.language == "es-US" and client.seen(step.replies[0])["type"] == "updated"
    assert s.receive(client.msg("paused")).replies == [] and s.state == "PAUSED"
    step = s.receive(client.msg("resumed", {"start": "PT0.1S", "discarded": "PT15.2S"}))
    assert step.gap_s == pytest.approx(15.2) and s.state == "ACTIVE"
    step = s.receive(client.msg("discarded", {"start": "PT15.3S", "discarded": "PT0.5S"}))
    assert step.gap_s == pytest.approx(0.5)
    assert s.position_s == pytest.approx(0.1 + 15.2 + 0.5)
    step = s.receive(client.msg("error", {"code": 429, "message": "rate limited", "retryAfter": "PT2S"}))
    assert step.client_error["code"] == 429
    step = s.receive(client.msg("close", {"reason": "end"}))
    assert step.close == "end"
    closed = s.closed()
    assert (closed["type"], closed["clientseq"], closed["seq"]) == ("closed", client.seq, 4)


def test_probe_and_media_choice():
    from voicemon.server.audiohook import AudioHookError, AudioHookSession, choose_media

    client = Client()
    s = AudioHookSession(client.id, ORG)
    assert s.receive(client.open(conversation=PROBE)).opened.probe
    reversed_offer = [{"type": "audio", "format": "PCMU", "channels": ["internal", "external"], "rate": 8000}]
    assert choose_media(reversed_offer).roles == ("agent", "customer")
    assert choose_media(MEDIA_OFFER[1:]).roles == ("customer",)
    with pytest.raises(AudioHookError) as err:
        choose_media([{"type": "audio", "format": "L16", "channels": ["external"], "rate": 16000}])
    assert err.value.code == "unsupported_encoding"


def _opened_session():
    from voicemon.server.audiohook import AudioHookSession

    client = Client()
    s = AudioHookSession(client.id, ORG)
    client.seen(s.accept(s.receive(client.open()).opened))
    return client, s


@pytest.mark.parametrize("case", ["seq skipped", "seq repeated", "serverseq ahead", "wrong id", "bad version",
                                  "not json", "not an object", "unknown type", "server type", "bad position",
                                  "no parameters", "second open", "odd frame", "audio while paused", "too long",
                                  "bad close reason", "bad discarded"])
def test_violations_are_answered_with_disconnect_error(case):
    from voicemon.server.audiohook import AudioHookError

    client, s = _opened_session()
    message = {
        "seq skipped": lambda: client.msg("ping", seq=client.seq + 2),
        "seq repeated": lambda: client.msg("ping", seq=client.seq),
        "serverseq ahead": lambda: client.msg("ping", serverseq=5),
        "wrong id": lambda: client.msg("ping", id=str(uuid.uuid4())),
        "bad version": lambda: client.msg("ping", version="1"),
        "not json": lambda: "{",
        "not an object": lambda: "[1]",
        "unknown type": lambda: client.msg("hello"),
        "server type": lambda: client.msg("pong"),
        "bad position": lambda: client.msg("ping", position="12 s"),
        "no parameters": lambda: json.dumps({k: v for k, v in json.loads(client.msg("ping")).items() if k != "parameters"}),
        "second open": lambda: client.open(),
        "odd frame": lambda: b"\xff" * 1601,
        "audio while paused": None,
        "too long": lambda: client.msg("ping", {"rtt": "PT0S", "pad": "x" * 70000}),
        "bad close reason": lambda: client.msg("close", {"reason": "bored"}),
        "bad discarded": lambda: client.msg("discarded", {"start": "PT1S", "discarded": -1}),
    }[case]
    if case == "audio while paused":
        s.receive(client.msg("paused"))
        message = lambda: b"\xff" * 1600  # noqa: E731
    with pytest.raises(AudioHookError) as err:
        s.receive(message())
    assert err.value.reason == "error" and str(err.value)
    reply = s.disconnect(err.value.reason, str(err.value))
    assert reply["type"] == "disconnect" and reply["parameters"]["reason"] == "error"


def test_before_open_and_org_mismatch():
    from voicemon.server.audiohook import AudioHookError, AudioHookSession

    client = Client()
    with pytest.raises(AudioHookError):
        AudioHookSession(client.id, ORG).receive(b"\xff" * 1600)
    with pytest.raises(AudioHookError):
        AudioHookSession(client.id, ORG).receive(client.msg("ping"))
    client = Client()
    with pytest.raises(AudioHookError) as err:
        AudioHookSession(client.id, ORG).receive(client.open(org=str(uuid.uuid4())))
    assert err.value.reason == "unauthorized" and err.value.close_code == 4401


# -- over the wire ---------------------------------------------------------------------------------


def hook_config(config, tmp_path, server=None, **telephony):
    import dataclasses

    cfg = server_config(config, tmp_path, **(server or {}))
    options = {"audiohook_keys": (f"{DOC_KEY}:{DOC_SECRET}",), **telephony}
    return dataclasses.replace(cfg, telephony=dataclasses.replace(cfg.telephony, **options))


async def hook_connect(port, headers=None, session=None):
    from websockets.asyncio.client import connect

    headers = headers if headers is not None else signed_headers("/audiohook", f"127.0.0.1:{port}", session=session)
    return await connect(f"ws://127.0.0.1:{port}/audiohook", additional_headers=headers, max_size=None)


async def recv_json(ws):
    return json.loads(await ws.recv())


def test_handshake_refusals_take_the_fixed_delay(config, transcriber, tmp_path):
    from websockets.exceptions import InvalidStatus

    cfg = hook_config(config, tmp_path)

    async def main():
        out = {}
        async with running_server(cfg, transcriber) as server:
            port = server.port
            cases = {
                "wrong key": signed_headers("/audiohook", f"127.0.0.1:{port}", api_key="d3Jvbmcga2V5"),
                "wrong secret": signed_headers("/audiohook", f"127.0.0.1:{port}", secret=base64.b64encode(b"x" * 32).decode()),
                "stale": signed_headers("/audiohook", f"127.0.0.1:{port}", created=int(time.time()) - 60),
                "other authority": signed_headers("/audiohook", "elsewhere.example.com"),
                "unsigned": {"x-api-key": DOC_KEY},
            }
            for name, headers in cases.items():
                t0 = time.monotonic()
                try:
                    ws = await hook_connect(port, headers)
                    await ws.close()
                    out[name] = (101, 0.0)
                except InvalidStatus as exc:
                    out[name] = (exc.response.status_code, time.monotonic() - t0)
            ws = await hook_connect(port)
            out["good"] = ws.response.status_code
            await ws.close()
        return out

    out = asyncio.run(main())
    assert out.pop("good") == 101
    for name, (status, took_s) in out.items():
        assert status == 401 and took_s >= 0.45, (name, status, took_s)


def test_without_configured_keys_every_request_is_refused(config, transcriber, tmp_path):
    from websockets.exceptions import InvalidStatus

    cfg = hook_config(config, tmp_path, audiohook_keys=())

    async def main():
        async with running_server(cfg, transcriber) as server:
            try:
                ws = await hook_connect(server.port)  # correctly signed, but no key is configured
                await ws.close()
                return 101
            except InvalidStatus as exc:
                return exc.response.status_code

    assert asyncio.run(main()) == 401


def test_probe_is_answered_and_not_analysed(config, transcriber, tmp_path):
    cfg = hook_config(config, tmp_path)

    async def main():
        async with running_server(cfg, transcriber) as server:
            client = Client()
            ws = await hook_connect(server.port, session=client.id)
            await ws.send(client.open(conversation=PROBE))
            opened = client.seen(await recv_json(ws))
            await ws.send(client.msg("close", {"reason": "end"}))
            closed = await recv_json(ws)
            await ws.close()
            return opened, closed, list(server.hub.calls)

    opened, closed, calls = asyncio.run(main())
    assert opened["type"] == "opened" and opened["parameters"]["media"] == [STEREO]
    assert closed["type"] == "closed" and closed["clientseq"] == 2
    assert calls == [] and not list((tmp_path / "calls").glob("*.json*"))


def test_pause_discard_reconnect_join_one_call_and_violations_disconnect(config, transcriber, tmp_path):
    """Two sessions of one conversation (the second continues the first) are one call whose
    timeline counts the audio streamed plus what Genesys discarded; a sequence violation gets
    ``disconnect`` (reason error) and the call is still written."""
    cfg = hook_config(config, tmp_path)
    conversation = str(uuid.uuid4())
    second = bytes([0xFF]) * 1600  # 100 ms of stereo digital silence (PCMU 0xFF = 0)

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            watcher = asyncio.create_task(collect(url, {"calls": [conversation]}, timeout=60))
            await asyncio.sleep(0.2)
            first = Client()
            ws = await hook_connect(server.port, session=first.id)
            await ws.send(first.open(conversation=conversation))
            first.seen(await recv_json(ws))
            for _ in range(20):
                await ws.send(second)
            first.position_s = 2.0
            await ws.send(first.msg("paused"))
            await ws.send(first.msg("resumed", {"start": "PT2S", "discarded": "PT3S"}))
            for _ in range(10):
                await ws.send(second)
            await ws.send(first.msg("close", {"reason": "reconnect"}))
            closed1 = await recv_json(ws)
            await ws.close()
            live_between = [c["call_id"] for c in server.hub.summary() if not c["ended"]]
            nxt = Client()
            ws = await hook_connect(server.port, session=nxt.id)
            await ws.send(nxt.open(conversation=conversation,
                                   continued=[{"id": first.id, "serverseq": first.serverseq, "clientseq": first.seq}]))
            nxt.seen(await recv_json(ws))
            for _ in range(10):
                await ws.send(second)
            await ws.send(nxt.msg("ping", seq=nxt.seq + 5))  # a gap in seq
            disconnect = await recv_json(ws)
            await ws.send(nxt.msg("close", {"reason": "disconnect"}))
            closed2 = await recv_json(ws)
            await ws.wait_closed()
            events = await watcher
            return closed1, live_between, disconnect, closed2, events

    closed1, live_between, disconnect, closed2, events = asyncio.run(main())
    assert closed1["type"] == "closed" and live_between == [conversation]
    assert disconnect["type"] == "disconnect" and disconnect["parameters"]["reason"] == "error"
    assert "seq" in disconnect["parameters"]["info"]
    assert closed2["type"] == "closed"
    assert [e["type"] for e in events].count("call_started") == 1
    assert events[0]["meta"]["conversationId"] == conversation and events[0]["meta"]["adapter"] == "audiohook"
    summary = events[-1]["summary"]
    assert summary["duration_s"] == pytest.approx(2.0 + 3.0 + 1.0 + 1.0, abs=0.1)
    assert (tmp_path / "calls" / f"{conversation}.json").exists()


def test_a_call_at_its_length_limit_is_disconnected_as_completed(config, transcriber, tmp_path):
    cfg = hook_config(config, tmp_path, server={"max_call_s": 1.0})

    async def main():
        async with running_server(cfg, transcriber) as server:
            client = Client()
            ws = await hook_connect(server.port, session=client.id)
            conversation = str(uuid.uuid4())
            await ws.send(client.open(conversation=conversation))
            client.seen(await recv_json(ws))
            for _ in range(15):  # 1.5 s of stereo silence
                await ws.send(bytes([0xFF]) * 1600)
            disconnect = await recv_json(ws)
            await ws.send(client.msg("close", {"reason": "disconnect"}))
            closed = await recv_json(ws)
            await ws.wait_closed()
            for _ in range(300):
                if (tmp_path / "calls" / f"{conversation}.json").exists():
                    break
                await asyncio.sleep(0.1)
            return disconnect, closed, conversation

    disconnect, closed, conversation = asyncio.run(main())
    assert disconnect["type"] == "disconnect" and disconnect["parameters"]["reason"] == "completed"
    assert closed["type"] == "closed"
    assert json.loads((tmp_path / "calls" / f"{conversation}.json").read_text())["duration_s"] <= 1.6


def test_full_call_is_monitored_like_analyze(config, transcriber, analysed, labels, tmp_path, tmp_path_factory):
    """The escalating call through AudioHook (stereo PCMU, 100 ms frames, pings every 5 s of
    audio) gives the escalation and prompts `analyze` finds in the same 8 kHz audio, and each
    final transcript goes back to Genesys as an ``event`` on the party's channel."""
    wav, codes, _ = telephone_audio(tmp_path_factory)
    offline = analysed(wav)
    cfg = hook_config(config, tmp_path, server={"max_messages_per_s": 1000.0}, audiohook_events=True)
    conversation = str(uuid.uuid4())
    # external (customer) first, internal (agent) second, interleaved per sample
    interleaved = np.stack([codes[:, 1], codes[:, 0]], axis=1).reshape(-1).tobytes()

    async def main():
        async with running_server(cfg, transcriber) as server:
            url = f"ws://127.0.0.1:{server.port}"
            watcher = asyncio.create_task(collect(url, {"calls": [conversation]}))
            await asyncio.sleep(0.2)
            client = Client()
            ws = await hook_connect(server.port, session=client.id)
            await ws.send(client.open(conversation=conversation))
            client.seen(await recv_json(ws))
            replies = []

            async def read():
                async for message in ws:
                    replies.append(client.seen(json.loads(message)))
                    if replies[-1]["type"] == "closed":
                        return

            reader = asyncio.create_task(read())
            t0 = time.monotonic()
            for i, at in enumerate(range(0, len(interleaved), 1600)):
                await ws.send(interleaved[at:at + 1600])
                client.position_s = (i + 1) / 10
                if i % 50 == 49:
                    await ws.send(client.msg("ping"))
                due = t0 + (i + 1) / 10 / SPEED
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
            await ws.send(client.msg("close", {"reason": "end"}))
            await asyncio.wait_for(reader, 120)
            await ws.close()
            return replies, await watcher

    replies, events = asyncio.run(main())
    assert [r["seq"] for r in replies] == list(range(2, len(replies) + 2))  # in order, after opened's 1
    assert replies[-1]["type"] == "closed"
    assert sum(r["type"] == "pong" for r in replies) == len(codes) // 40000
    assert_like_offline(events, offline, labels, call_id=conversation)
    pushed = [r["parameters"]["entities"][0]["data"] for r in replies if r["type"] == "event"]
    finals = [e for e in events if e["type"] == "transcript" and e["final"] and e["text"]]
    assert len(pushed) == len(finals) > 0
    said = {"external": "customer", "internal": "agent"}
    for data, event in zip(pushed, finals):
        assert said[data["channel"]] == event["role"] and data["isFinal"]
        assert data["alternatives"][0]["interpretations"][0]["transcript"] == event["text"]
    customer = " ".join(d["alternatives"][0]["interpretations"][0]["transcript"] for d in pushed if d["channel"] == "external")
    assert "already told you" in customer.lower()
