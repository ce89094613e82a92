"""Protocol message validation (pure) and the schema's agreement with it."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from voicemon.errors import ProtocolError
from voicemon.server.protocol import parse_ack, parse_json, parse_start, parse_subscribe


def test_start_defaults_and_validation():
    start = parse_start({"type": "start", "call_id": "c-1", "sample_rate": 8000})
    assert (start.encoding, start.channels, start.roles, start.mode) == ("pcm_s16le", 1, ("mixed",), "live")
    for bad, code in [({"call_id": "x", "sample_rate": 8000.5}, "unsupported_rate"),
                      ({"call_id": "x", "sample_rate": True}, "unsupported_rate"),
                      ({"call_id": "", "sample_rate": 8000}, "bad_message"),
                      ({"call_id": "x", "sample_rate": 8000, "channels": 2, "roles": ["mixed", "agent"]}, "bad_channels"),
                      ({"call_id": "x", "sample_rate": 8000, "mode": "fast"}, "bad_message")]:
        with pytest.raises(ProtocolError) as info:
            parse_start({"type": "start", **bad})
        assert info.value.code == code


def test_subscribe_and_ack():
    sub = parse_subscribe({"type": "subscribe", "calls": ["a"], "since": {"a": 3}, "types": ["reading"]})
    assert sub.wants("a", "reading") and not sub.wants("a", "cue") and not sub.wants("b", "reading")
    assert parse_subscribe({"type": "subscribe"}).wants("any", "cue")
    with pytest.raises(ProtocolError):
        parse_subscribe({"type": "subscribe", "since": {"a": -1}})
    assert parse_ack({"call_id": "a", "prompt_id": "p1"}) == ("a", "p1", "acknowledged")
    with pytest.raises(ProtocolError):
        parse_ack({"call_id": "a", "prompt_id": "p1", "action": "ignored"})


def test_parse_json_errors():
    for text, code in [("{", "bad_json"), ("3", "bad_message"), ('{"type": "start", "v": 9}', "unsupported_version"),
                       ('{"type": "nope"}', "unknown_type")]:
        with pytest.raises(ProtocolError) as info:
            parse_json(text, ("start",))
        assert info.value.code == code


def test_schema_accepts_documented_client_messages_and_rejects_bad_ones():
    import jsonschema

    schema = json.loads((ROOT / "docs" / "protocol.schema.json").read_text())
    client = jsonschema.Draft202012Validator({**schema, "$ref": "#/$defs/client_message"})
    client.validate({"type": "start", "v": 1, "call_id": "call-0042", "encoding": "pcm_s16le", "sample_rate": 8000,
                     "channels": 2, "roles": ["agent", "customer"], "mode": "live"})
    client.validate({"type": "subscribe", "v": 1, "calls": "*", "since": {"call-0042": 1180}})
    client.validate({"type": "ack", "v": 1, "call_id": "c", "prompt_id": "p7", "action": "dismissed"})
    assert not client.is_valid({"type": "start", "v": 1, "call_id": "c", "sample_rate": 4000})
    assert not client.is_valid({"type": "ack", "v": 1, "call_id": "c"})


def test_start_metadata_is_validated_and_unknown_fields_are_refused():
    start = parse_start({"type": "start", "call_id": "c-1", "sample_rate": 8000, "agent_id": "sarah.k", "agent_name": "Sarah K",
                         "queue": "billing", "customer_ref": "AC-4472", "meta": {"crm": "x1", "priority": 2, "vip": True}})
    assert start.metadata == {"agent_id": "sarah.k", "agent_name": "Sarah K", "queue": "billing", "customer_ref": "AC-4472",
                              "meta": {"crm": "x1", "priority": 2, "vip": True}}
    assert parse_start({"type": "start", "call_id": "c", "sample_rate": 8000}).metadata["agent_id"] is None
    hostile = [{"agent_id": "../../etc"}, {"agent_id": 7}, {"agent_name": "x" * 201}, {"agent_name": "a\nb"},
               {"queue": ""}, {"customer_ref": {"a": 1}}, {"meta": [1]}, {"meta": {"nested": {"a": 1}}},
               {"meta": {"bad key": 1}}, {"meta": {f"k{i}": i for i in range(40)}}, {"meta": {"k": float("nan")}},
               {"meta": {"k": "line\nbreak"}}, {"agent": "sarah"}]
    for extra in hostile:
        with pytest.raises(ProtocolError) as info:
            parse_start({"type": "start", "call_id": "c", "sample_rate": 8000, **extra})
        assert info.value.code == "bad_message", extra
        assert "\n" not in str(info.value)
    with pytest.raises(ProtocolError, match="meta"):
        parse_start({"type": "start", "call_id": "c", "sample_rate": 8000, "agnet_id": "typo"})


def test_twilio_custom_parameters_become_call_metadata():
    from voicemon.server.twilio import parse_twilio_start

    msg = {"event": "start", "start": {"callSid": "CA1", "tracks": ["inbound", "outbound"],
                                       "customParameters": {"agent_id": "amy", "queue": "retention", "token": "t",
                                                            "campaign": "spring"}}}
    start = parse_twilio_start(msg, "t")
    assert start.metadata == {"agent_id": "amy", "agent_name": None, "queue": "retention", "customer_ref": None,
                              "meta": {"campaign": "spring"}}
    msg["start"]["customParameters"]["agent_id"] = "a/b"
    with pytest.raises(ProtocolError) as info:
        parse_twilio_start(msg, "t")
    assert info.value.code == "bad_message"


def test_subscribe_types_roles_and_ack_errors():
    from voicemon.server.protocol import EVENT_TYPES, NON_FATAL, ack_ids

    with pytest.raises(ProtocolError, match="redaing") as info:
        parse_subscribe({"type": "subscribe", "types": ["redaing"]})
    assert info.value.code == "bad_message"
    assert set(EVENT_TYPES) >= {"reading", "prompt", "call_ended", "speakers"}
    sup = parse_subscribe({"type": "subscribe", "role": "supervisor"})
    assert sup.may_ack(None) == "read_only" and sup.may_ack("amy") == "read_only"
    amy = parse_subscribe({"type": "subscribe", "agent_id": "amy"})
    assert amy.role == "agent" and amy.may_ack("amy") is None and amy.may_ack(None) is None
    assert amy.may_ack("bob") == "not_your_call"
    assert parse_subscribe({"type": "subscribe"}).may_ack("bob") == "not_your_call"
    for bad in ({"role": "admin"}, {"role": 1}, {"agent_id": "a b"}):
        with pytest.raises(ProtocolError):
            parse_subscribe({"type": "subscribe", **bad})
    with pytest.raises(ProtocolError) as info:
        parse_ack({"call_id": "a", "prompt_id": "p1", "action": "ignored"})
    assert info.value.code == "bad_ack" and info.value.code in NON_FATAL
    assert ack_ids({"call_id": "a", "prompt_id": "p1"}) == {"call_id": "a", "prompt_id": "p1"}
    assert ack_ids({"call_id": "../x", "prompt_id": 3}) == {}


def test_trend_threshold_is_one_constant_for_every_view():
    import re

    from voicemon.events import TREND_STEADY_PTS_PER_S

    js = (ROOT / "voicemon" / "web" / "agent.js").read_text()
    match = re.search(r"const TREND_STEADY_PTS_PER_S = ([0-9.]+);", js)
    assert match and float(match.group(1)) == TREND_STEADY_PTS_PER_S
    # 15 points in 10 s (1.5 points per second) is rising, not steady
    assert 1.5 > TREND_STEADY_PTS_PER_S > 0.1
    doc = (ROOT / "docs" / "protocol.md").read_text()
    assert "points per second" in doc and "points per 10 s" not in doc


def test_schema_covers_metadata_roles_and_http_answers():
    import jsonschema

    schema = json.loads((ROOT / "docs" / "protocol.schema.json").read_text())

    def valid(name, obj):
        return jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{name}"}).is_valid(obj)

    assert valid("client_message", {"type": "start", "v": 1, "call_id": "c", "sample_rate": 8000, "agent_id": "amy",
                                    "agent_name": "Amy", "queue": "q", "customer_ref": "r", "meta": {"a": 1}})
    assert not valid("client_message", {"type": "start", "v": 1, "call_id": "c", "sample_rate": 8000, "agnet_id": "amy"})
    assert valid("client_message", {"type": "subscribe", "v": 1, "calls": "*", "role": "supervisor"})
    assert not valid("client_message", {"type": "subscribe", "v": 1, "types": ["redaing"]})
    assert valid("server_message", {"type": "error", "v": 1, "code": "read_only", "message": "m", "call_id": "c",
                                    "prompt_id": "p1"})
    assert valid("server_message", {"type": "subscribed", "v": 1, "calls": [], "unknown_calls": ["x"],
                                    "role": "agent", "agent_id": None})
    assert valid("http_healthz", {"status": "ok", "calls": 0, "watchers": 0, "asr_backlog_s": 0.0, "uptime_s": 1.0,
                                  "model": "tiny.en"})
    assert "http_calls" in schema["$defs"] and "http_error" in schema["$defs"]
