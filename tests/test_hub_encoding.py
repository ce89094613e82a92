"""Each event is encoded to JSON once per broadcast, not once per watcher (issue 15 item 4)."""

from __future__ import annotations

import asyncio
import json

from voicemon.server import hub as hub_mod
from voicemon.server.protocol import Subscription


def test_watchers_of_one_call_share_one_encoding(monkeypatch):
    dumps = []
    real = json.dumps
    monkeypatch.setattr(hub_mod.json, "dumps", lambda obj, **kw: dumps.append(obj) or real(obj, **kw))
    envs = [{"type": "reading", "call_id": "c1", "seq": i, "t": i / 4, "role": "customer", "level": "calm",
             "score": 10.0 + i, "note": "ünïcode"} for i in range(1, 51)]

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
    expected = [real(e, ensure_ascii=False) for e in envs]
    assert all(r == expected for r in received)  # byte-identical, in order, for every watcher


def test_an_equal_but_different_envelope_is_encoded_afresh():
    a = {"type": "cue", "seq": 1, "call_id": "x"}
    assert hub_mod.encode_envelope(a) == json.dumps(a)
    b = dict(a, seq=2)
    assert hub_mod.encode_envelope(b) == json.dumps(b)
    for i in range(hub_mod.ENCODED_CACHE + 10):  # bounded
        hub_mod.encode_envelope({"seq": i})
    assert len(hub_mod._encoded) == hub_mod.ENCODED_CACHE
