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
