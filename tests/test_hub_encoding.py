"""Typed events end to end (issue 15 item 4): each envelope is encoded to JSON once, however many
watchers it goes to; JSON that comes back in (a log, a hub stream) is an envelope again."""

from __future__ import annotations

import asyncio
import json

import pytest

from voicemon import events as events_mod
from voicemon.errors import EventFormatError
from voicemon.events import (
    CallStarted,
    Envelope,
    EscalationReading,
    TranscriptUpdate,
    Word,
    from_dict,
    to_dict,
)
from voicemon.server import hub as hub_mod
from voicemon.server.eventlog import DurableLog, read_log
from voicemon.server.protocol import Subscription


def _reading(i: int) -> Envelope:
    event = EscalationReading(t=i / 4, role="customer", score=10.0 + i / 3, level="calm", changed=False,
                              contributions={"bias": -2.0, "text:anger": 1 / 7}, notes=("ünïcode",))
    return Envelope.of(event, "c1", i, 1700000000.0 + i / 7)


def test_watchers_of_one_call_share_one_encoding(monkeypatch):
    dumps = []
    real = json.dumps
    monkeypatch.setattr(events_mod.json, "dumps", lambda obj, **kw: dumps.append(obj) or real(obj, **kw))
    envs = [_reading(i) for i in range(1, 51)]

    async def main():
        watchers = [hub_mod.Watcher(Subscription(calls=None, since={}, types=None)) for _ in range(5)]
        received = [[] for _ in watchers]
        for env in envs:  # what CallHub.publish does: the same envelope object into every outbox
            for w in watchers:
                w.push(env)

        async def pump(w, out):
            async def send(text):
                out.append(text)
                if len(out) == len(envs):
                    w.overflow = {}  # stop the pump once everything is out
            await hub_mod.pump(w, send)

        await asyncio.wait_for(asyncio.gather(*(pump(w, r) for w, r in zip(watchers, received))), 10)
        return received

    received = asyncio.run(main())
    assert len(dumps) == len(envs)  # once per event, not once per watcher (5x)
    expected = [real(e.to_dict(), ensure_ascii=False) for e in envs]
    assert all(r == expected for r in received)  # byte-identical, in order, for every watcher
    assert all(r[i] is received[0][i] for r in received for i in range(len(envs)))  # the very same text


def test_an_envelope_is_the_events_dict_then_v_call_id_seq_wall_rounded_as_on_the_wire():
    event = TranscriptUpdate(t=3.123456, role="agent", utterance_id="agent-1", start=1.000049, end=2.5, text="hi",
                             words=(Word(1.000049, 1.2, "hi", 0.987654),))
    env = Envelope.of(event, "c1", 7, 1700000000.123456)
    assert list(env.to_dict()) == [*to_dict(event), "v", "call_id", "seq", "wall"]
    assert env.to_dict() == {**to_dict(event), "v": 1, "call_id": "c1", "seq": 7, "wall": 1700000000.123}
    assert env.event.t == 3.1235 and env.event.words[0].probability == 0.9877  # what a watcher reads
    assert env.type == "transcript" and env.event == from_dict(to_dict(event))


def test_json_read_back_is_an_equal_envelope_keeping_its_text():
    envs = [_reading(i) for i in range(1, 4)]
    envs.append(Envelope.of(CallStarted(t=0.0, roles=("agent", "customer"), agent_name="Zoë", meta={"k": 1.5}), "c1", 4,
                            1.0))
    for env in envs:
        back = Envelope.from_json(env.json())
        assert back == env and back.json() == env.json()
        assert Envelope.from_json((env.json() + "\n").encode()) == env  # a log line
    line = '{"type": "cue", "t": 1.0, "role": "agent", "kind": "apology", "weight": -0.5, "evidence": "sorry", ' \
           '"source": "text", "target": "customer", "v": 1, "call_id": "x", "seq": 2, "wall": 5.0}'
    back = Envelope.from_json(line)
    assert back.json() == line and json.dumps(back.to_dict(), ensure_ascii=False) == line  # kept, and re-encodes equal


@pytest.mark.parametrize("text", [
    "", "{", "[1]", '"text"', '{"type": "reading"}',  # not JSON, not an object, no fields
    '{"type": "nope", "t": 1, "v": 1, "call_id": "x", "seq": 1, "wall": 1.0}',  # unknown type
    '{"type": "speech_started", "t": 1, "role": "agent", "v": 1, "call_id": 3, "seq": 1, "wall": 1.0}',  # call_id
    '{"type": "speech_started", "t": 1, "role": "agent", "v": 1, "call_id": "x", "seq": true, "wall": 1.0}',  # seq
    '{"type": "speech_started", "t": 1, "v": 1, "call_id": "x", "seq": 1, "wall": 1.0}',  # a field missing
    '{"type": "transcript", "t": 1, "role": "a", "utterance_id": "u", "start": 0, "end": 1, "text": "x", '
    '"words": [3], "v": 1, "call_id": "x", "seq": 1, "wall": 1.0}',  # a word that is not one
    "[" * 100000,  # nested too deep
])
def test_json_that_is_not_an_envelope_is_a_typed_error(text):
    with pytest.raises(EventFormatError):
        Envelope.from_json(text)
    with pytest.raises(EventFormatError):
        Envelope.from_json(text.encode())
    with pytest.raises(EventFormatError):
        Envelope.from_json(b"\xff\xfe")


def test_the_durable_log_writes_each_envelopes_text_and_reads_back_envelopes(tmp_path):
    log = DurableLog(tmp_path / "c1.events.jsonl")
    envs = [_reading(i) for i in range(1, 8)]
    for env in envs[:4]:
        log.append(env)
    log.flush()
    for env in envs[4:]:
        log.append(env)
    assert log.read(0, 10) == envs and list(log) == envs and log.read_positions([1, 5]) == [envs[1], envs[5]]
    assert log[-1] is envs[-1]
    log.close()
    lines = (tmp_path / "c1.events.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines == [e.json() for e in envs]
    with open(tmp_path / "c1.events.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"type": "reading", "t": 9\n')  # torn by a crash
    back, unreadable = read_log(tmp_path / "c1.events.jsonl")
    assert back == envs and unreadable == 1
