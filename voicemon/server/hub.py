"""Calls and their watchers: the fan-out of each call's event stream.

Each watcher has a bounded outbox drained by its own sender task, so a slow watcher never slows
ingest or other watchers. When an outbox is full, queued meter readings and prosody frames are
coalesced (only the newest per call and role is kept); if it is still full, the watcher is told
where to resume and closed — transcripts, cues, prompts and level changes are never dropped
silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from voicemon.live.runner import LiveCall
from voicemon.server.protocol import Subscription

log = logging.getLogger(__name__)

COALESCIBLE = frozenset({"reading", "prosody"})
JOIN_READINGS_S = 30.0
"""A watcher joining without ``since`` gets the readings of the last this-many media seconds."""


@dataclass(eq=False)
class Watcher:
    """One subscribed connection's outbox.

    Args:
        subscription: what it wants.
        max_queue: most envelopes waiting before coalescing, then closing.
    """

    subscription: Subscription
    max_queue: int = 2000
    outbox: deque = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflow: dict[str, int] | None = None
    last_seq: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    coalesced: int = 0

    def push(self, env: dict) -> None:
        """Queue one envelope (never blocks)."""
        if self.overflow is not None:
            return
        if len(self.outbox) >= self.max_queue:
            self._coalesce()
            if len(self.outbox) >= self.max_queue:
                self.overflow = self.resume_points()
                self.wake.set()
                return
        self.outbox.append(env)
        self.wake.set()

    def resume_points(self) -> dict[str, int]:
        """Per call, the last seq this watcher certainly received."""
        points = dict(self.last_seq)
        for env in self.outbox:
            cid = env.get("call_id")
            if cid is not None and cid not in points:
                points[cid] = env["seq"] - 1
        return points

    def _coalesce(self) -> None:
        newest: dict[tuple, int] = {}
        for i, env in enumerate(self.outbox):
            if env["type"] in COALESCIBLE and not env.get("changed"):
                newest[(env["call_id"], env["type"], env.get("role"))] = i
        kept = deque()
        for i, env in enumerate(self.outbox):
            key = (env.get("call_id"), env["type"], env.get("role"))
            if env["type"] in COALESCIBLE and not env.get("changed") and newest.get(key) != i:
                self.coalesced += 1
                continue
            kept.append(env)
        self.outbox = kept


@dataclass
class CallEntry:
    """A call known to the hub (live, or ended and kept for late watchers)."""

    call: LiveCall
    ended_wall: float | None = None
    report_paths: dict[str, str] = field(default_factory=dict)


class CallHub:
    """Registry of calls and watchers.

    Args:
        keep_ended_s: how long an ended call stays available to watchers.
    """

    def __init__(self, keep_ended_s: float = 300.0) -> None:
        self.calls: dict[str, CallEntry] = {}
        self.watchers: set[Watcher] = set()
        self.keep_ended_s = keep_ended_s

    def live_calls(self) -> list[CallEntry]:
        """Calls still running."""
        return [e for e in self.calls.values() if e.ended_wall is None]

    def add(self, call: LiveCall) -> None:
        """Register a new call and route its events to watchers."""
        self.expire()
        self.calls[call.call_id] = CallEntry(call)
        call.sinks.append(self.publish)

    def publish(self, env: dict) -> None:
        """Send an envelope to every watcher that wants it."""
        for w in self.watchers:
            if w.subscription.wants(env["call_id"], env["type"]):
                w.push(env)

    def subscribe(self, watcher: Watcher) -> list[str]:
        """Add a watcher and queue each matching call's history for it.

        Returns:
            The ids of the calls it now follows that exist already.
        """
        sub = watcher.subscription
        known = [cid for cid in self.calls if sub.calls is None or cid in sub.calls]
        for cid in known:
            for env in self.history(cid, sub.since.get(cid)):
                if sub.wants(cid, env["type"]):
                    watcher.push(env)
        self.watchers.add(watcher)
        return known

    def history(self, call_id: str, since: int | None) -> list[dict]:
        """A call's events for a joining watcher.

        With ``since``: every event after it (an exact resume). Without: everything except
        prosody frames and readings older than the last ``JOIN_READINGS_S`` (level changes kept).
        """
        log_ = self.calls[call_id].call.log
        if since is not None:
            return log_[since:] if since <= len(log_) else []
        horizon = self.calls[call_id].call.media_s - JOIN_READINGS_S
        return [e for e in log_ if e["type"] != "prosody" and (e["type"] != "reading" or e["changed"] or e["t"] >= horizon)]

    def unsubscribe(self, watcher: Watcher) -> None:
        """Forget a watcher."""
        self.watchers.discard(watcher)

    def expire(self) -> None:
        """Drop ended calls older than ``keep_ended_s``."""
        now = time.time()
        for cid, entry in list(self.calls.items()):
            if entry.ended_wall is not None and now - entry.ended_wall > self.keep_ended_s:
                del self.calls[cid]

    def summary(self) -> list[dict]:
        """What ``/api/calls`` returns for each known call."""
        out = []
        for cid, entry in self.calls.items():
            call = entry.call
            readings: dict[str, dict] = {}
            last_prompt = None
            for env in reversed(call.log):
                if env["type"] == "reading" and env["role"] not in readings:
                    readings[env["role"]] = {k: env[k] for k in ("score", "level", "trend")}
                elif env["type"] == "prompt" and last_prompt is None:
                    last_prompt = {k: env[k] for k in ("id", "kind", "text", "technique", "t")}
                if len(readings) == len(call.roles) and last_prompt is not None:
                    break
            out.append({"call_id": cid, "roles": list(call.roles), "started_wall": round(call.started_wall, 3),
                        "media_s": round(call.media_s, 2), "ended": entry.ended_wall is not None,
                        "readings": readings, "last_prompt": last_prompt, "reports": entry.report_paths})
        return out


async def pump(watcher: Watcher, send) -> dict[str, int] | None:
    """Drain a watcher's outbox into ``send`` until it overflows.

    Args:
        watcher: the outbox.
        send: coroutine function taking a text message.

    Returns:
        The resume points if the watcher fell too far behind (the caller closes it).
    """
    while True:
        if not watcher.outbox:
            if watcher.overflow is not None:
                return watcher.overflow
            watcher.wake.clear()
            await watcher.wake.wait()
            continue
        if watcher.overflow is not None:
            return watcher.overflow
        env = watcher.outbox.popleft()
        await send(json.dumps(env, ensure_ascii=False))
        watcher.sent += 1
        if "call_id" in env and "seq" in env:
            watcher.last_seq[env["call_id"]] = env["seq"]
