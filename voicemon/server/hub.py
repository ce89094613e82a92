"""Calls and their watchers: the fan-out of each call's event stream.

Each watcher has a bounded outbox drained by its own sender task, so a slow watcher never slows
ingest or other watchers. When an outbox is full, queued meter readings and prosody frames are
coalesced (only the newest per call and role is kept); if it is still full, the watcher is told
where to resume and closed — transcripts, cues, prompts and level changes are never dropped
silently.

History (a call's events before a watcher joined, or after its ``since``) never goes through the
outbox: the sender reads it from the call's log page by page, then switches that call to live
delivery, so joining or resuming a four-hour call costs one page of memory. The hub keeps small
per-call indexes (prompt ids, notable events, latest readings) so acks and ``/api/calls`` never
scan a log.

Everything here is an :class:`~voicemon.events.Envelope`: every watcher's outbox holds the same
envelope object, whose JSON text is encoded once (:meth:`~voicemon.events.Envelope.json`) for all
of them, the call's log file and the Redis hub (websockets' ``broadcast`` pattern, with each
watcher's own outbox and pacing kept).
"""

from __future__ import annotations

import asyncio
import logging
import time
from array import array
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field

from voicemon.events import LEVEL_RANK, CallStarted, CoachingPrompt, Envelope, EscalationReading
from voicemon.live.runner import LiveCall
from voicemon.server.protocol import Subscription

log = logging.getLogger(__name__)

COALESCIBLE = frozenset({"reading", "prosody"})
HOT_LEVELS = frozenset({"heated", "critical"})
METADATA_KEYS = ("agent_id", "agent_name", "queue", "customer_ref", "meta")
JOIN_READINGS_S = 30.0
"""A watcher joining without ``since`` gets the readings of the last this-many media seconds."""
HISTORY_PAGE = 200
"""Events read from a call's log per history page."""
MARK_EVERY_S = 1.0


def is_notable(env: Envelope) -> bool:
    """Whether a joining watcher (no ``since``) gets this event from any point of the call."""
    kind = env.type
    return kind != "prosody" and (kind != "reading" or bool(getattr(env.event, "changed", False)))


def coalescible(env: Envelope) -> bool:
    """Whether a full outbox may drop this envelope for a newer one of its call, type and role."""
    return env.type in COALESCIBLE and not getattr(env.event, "changed", False)


@dataclass
class HistoryCursor:
    """Where a watcher is in one call's history.

    Attributes:
        call: the call being read (a new call with the same id ends the catch-up).
        after: position (= seq) of the last event covered so far.
        horizon: for a join without ``since``: the position from which every event but prosody
            frames is sent (before it, only notable events); ``None`` for an exact resume.
    """

    call: LiveCall
    after: int
    horizon: int | None = None


@dataclass(eq=False)
class Watcher:
    """One subscribed connection's outbox.

    Args:
        subscription: what it wants.
        max_queue: most envelopes waiting before coalescing, then closing.
    """

    subscription: Subscription
    max_queue: int = 2000
    outbox: deque[Envelope] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflow: dict[str, int] | None = None
    last_seq: dict[str, int] = field(default_factory=dict)
    cursor: dict[str, int] = field(default_factory=dict)
    catching_up: dict[str, HistoryCursor] = field(default_factory=dict)
    sent: int = 0
    coalesced: int = 0

    def push(self, env: Envelope) -> None:
        """Queue one live envelope (never blocks).

        Envelopes at or below the watcher's cursor for their call (already sent, or at or
        before its ``since``) are skipped, as are those of a call whose history is still being
        paged (the pager reads them from the log).
        """
        if self.overflow is not None:
            return
        cid, seq = env.call_id, env.seq
        if seq == 1 and isinstance(env.event, CallStarted) and self.cursor.get(cid, 0) > 0:
            self.cursor[cid] = 0  # a new call reuses the id: its events start over
            self.catching_up.pop(cid, None)
        if cid in self.catching_up or seq <= self.cursor.get(cid, self.subscription.since.get(cid, 0)):
            return
        self.cursor[cid] = seq
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
            if env.call_id not in points:
                points[env.call_id] = env.seq - 1
        for cid in self.catching_up:
            points.setdefault(cid, self.subscription.since.get(cid, 0))
        for cid, since in self.subscription.since.items():
            points.setdefault(cid, since)
        return points

    def _coalesce(self) -> None:
        newest: dict[tuple, int] = {}
        for i, env in enumerate(self.outbox):
            if coalescible(env):
                newest[_coalesce_key(env)] = i
        kept: deque[Envelope] = deque()
        for i, env in enumerate(self.outbox):
            if coalescible(env) and newest.get(_coalesce_key(env)) != i:
                self.coalesced += 1
                continue
            kept.append(env)
        self.outbox = kept


def _coalesce_key(env: Envelope) -> tuple[str, str, str | None]:
    return env.call_id, env.type, getattr(env.event, "role", None)


@dataclass
class CallEntry:
    """A call known to the hub (live, or ended and kept for late watchers), with its indexes."""

    call: LiveCall
    ended_wall: float | None = None
    report_paths: dict[str, str] = field(default_factory=dict)
    summary: dict | None = None
    stem: str = ""
    prompt_ids: set[str] = field(default_factory=set)
    notable: array = field(default_factory=lambda: array("q"))
    mark_t: array = field(default_factory=lambda: array("d"))
    mark_pos: array = field(default_factory=lambda: array("q"))
    readings: dict[str, dict] = field(default_factory=dict)
    last_prompt: dict | None = None
    metadata: dict = field(default_factory=dict)
    peaks: dict[str, dict] = field(default_factory=dict)
    heated_s: dict[str, float] = field(default_factory=dict)

    def observe(self, env: Envelope) -> None:
        """Index one envelope of the call (called for every event, in order)."""
        pos = env.seq - 1
        event = env.event
        if is_notable(env):
            self.notable.append(pos)
        t = event.t
        if not self.mark_t or t >= self.mark_t[-1] + MARK_EVERY_S:
            self.mark_t.append(float(t))
            self.mark_pos.append(pos)
        if isinstance(event, EscalationReading):
            role = event.role
            before = self.readings.get(role)
            if before is not None and before["level"] in HOT_LEVELS:
                self.heated_s[role] = self.heated_s.get(role, 0.0) + max(0.0, event.t - before["t"])
            self.readings[role] = {"score": event.score, "level": event.level, "trend": event.trend, "t": event.t}
            peak = self.peaks.get(role)
            if peak is None or (LEVEL_RANK.get(event.level, 0), event.score) > (LEVEL_RANK.get(peak["level"], 0), peak["score"]):
                self.peaks[role] = {"level": event.level, "score": event.score, "t": event.t}
        elif isinstance(event, CallStarted):
            self.metadata = {k: getattr(event, k) for k in METADATA_KEYS}
        elif isinstance(event, CoachingPrompt):
            self.prompt_ids.add(event.id)
            self.last_prompt = {"id": event.id, "kind": event.kind, "text": event.text, "technique": event.technique,
                                "t": event.t}

    def horizon(self, before_s: float) -> int:
        """The position of the first event at or after media time ``media_s - before_s``."""
        i = bisect_left(self.mark_t, self.call.media_s - before_s)
        return self.mark_pos[i] if i < len(self.mark_pos) else len(self.call.log)

    def page(self, cur: HistoryCursor, limit: int) -> list[Envelope]:
        """The next events of a watcher's history of this call; advances ``cur.after``."""
        log_ = self.call.log
        if cur.horizon is not None and cur.after < cur.horizon:
            i = bisect_left(self.notable, cur.after)
            j = bisect_left(self.notable, cur.horizon, lo=i)
            positions = list(self.notable[i:min(j, i + limit)])
            cur.after = positions[-1] + 1 if i + limit < j else cur.horizon
            if hasattr(log_, "read_positions"):
                return log_.read_positions(positions)
            return [log_[p] for p in positions]
        start = cur.after
        events = log_.read(start, limit) if hasattr(log_, "read") else list(log_[start:start + limit])
        cur.after = start + len(events)
        if cur.horizon is not None:
            events = [e for e in events if e.type != "prosody"]
        return events


class CallHub:
    """Registry of calls and watchers.

    Args:
        keep_ended_s: how long an ended call stays available to watchers.
        max_ended_calls: most ended calls kept (the oldest go first).
    """

    def __init__(self, keep_ended_s: float = 300.0, max_ended_calls: int = 1000) -> None:
        self.calls: dict[str, CallEntry] = {}
        self.watchers: set[Watcher] = set()
        self.keep_ended_s = keep_ended_s
        self.max_ended_calls = max_ended_calls

    async def start(self) -> None:
        """Nothing to connect: every call and watcher is in this process."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    def live_calls(self) -> list[CallEntry]:
        """Calls still running."""
        return [e for e in self.calls.values() if e.ended_wall is None]

    def add(self, call: LiveCall) -> CallEntry:
        """Register a new call (replacing an ended one of the same id) and route its events."""
        self.expire()
        entry = CallEntry(call)
        self.calls.pop(call.call_id, None)
        self.calls[call.call_id] = entry
        call.sinks.append(entry.observe)
        call.sinks.append(self.publish)
        return entry

    def publish(self, env: Envelope) -> None:
        """Send an envelope to every watcher that wants it (the same object to each)."""
        cid, kind = env.call_id, env.type
        for w in self.watchers:
            if w.subscription.wants(cid, kind):
                w.push(env)

    def subscribe(self, watcher: Watcher) -> list[str]:
        """Add a watcher and set it to page each matching call's history before live events.

        With ``since`` for a call: every event after it (an exact resume; nothing at or before
        it, even if the call has not got that far yet). Without: everything except prosody
        frames, and readings older than the last ``JOIN_READINGS_S`` unless they changed level.

        Returns:
            The ids of the calls it now follows that exist already.
        """
        sub = watcher.subscription
        known = [cid for cid in self.calls if sub.calls is None or cid in sub.calls]
        for cid in known:
            entry = self.calls[cid]
            since = sub.since.get(cid)
            if since is None:
                cur = HistoryCursor(entry.call, 0, entry.horizon(JOIN_READINGS_S))
            else:
                cur = HistoryCursor(entry.call, since)
            if cur.after < len(entry.call.log):
                watcher.catching_up[cid] = cur
            watcher.cursor[cid] = max(cur.after, since or 0)
        self.watchers.add(watcher)
        return known

    def history_page(self, watcher: Watcher, limit: int = HISTORY_PAGE) -> list[Envelope]:
        """The next page of history for a watcher: at most one page read from one call's log.

        The page may be empty (everything in it filtered out) while the watcher is still
        catching up. When a call's history is exhausted the watcher switches to live delivery
        for it at once, with no event between the two missed or repeated.
        """
        sub = watcher.subscription
        while watcher.catching_up:
            cid, cur = next(iter(watcher.catching_up.items()))
            entry = self.calls.get(cid)
            if entry is None or entry.call is not cur.call:
                del watcher.catching_up[cid]
                continue
            events = [e for e in entry.page(cur, limit) if sub.wants(cid, e.type)]
            total = len(entry.call.log)
            if cur.after >= total:
                del watcher.catching_up[cid]
                watcher.cursor[cid] = max(watcher.cursor.get(cid, 0), total)
            return events
        return []

    def unsubscribe(self, watcher: Watcher) -> None:
        """Forget a watcher."""
        self.watchers.discard(watcher)

    def expire(self) -> None:
        """Drop ended calls older than ``keep_ended_s``, and the oldest beyond ``max_ended_calls``."""
        now = time.time()
        ended = []
        for cid, entry in list(self.calls.items()):
            if entry.ended_wall is None:
                continue
            if now - entry.ended_wall > self.keep_ended_s:
                del self.calls[cid]
            else:
                ended.append((entry.ended_wall, cid))
        if len(ended) > self.max_ended_calls:
            for _, cid in sorted(ended)[:len(ended) - self.max_ended_calls]:
                del self.calls[cid]

    def summary(self, agent_id: str | None = None) -> list[dict]:
        """What ``/api/calls`` returns for each known call (only ``agent_id``'s calls when given)."""
        out = []
        for cid, entry in self.calls.items():
            call = entry.call
            meta = {k: entry.metadata.get(k) for k in METADATA_KEYS}
            if meta["meta"] is None:
                meta["meta"] = {}
            if agent_id is not None and meta["agent_id"] != agent_id:
                continue
            ended = entry.summary or {}
            out.append({"call_id": cid, "roles": list(call.roles), "started_wall": round(call.started_wall, 3),
                        "media_s": round(call.media_s, 2), "ended": entry.ended_wall is not None,
                        "ended_wall": round(entry.ended_wall, 3) if entry.ended_wall is not None else None,
                        **meta,
                        "readings": {r: {k: v[k] for k in ("score", "level", "trend")} for r, v in entry.readings.items()},
                        "peaks": {r: {k: v[k] for k in ("score", "level")} for r, v in entry.peaks.items()},
                        "heated_s": {r: round(v, 1) for r, v in entry.heated_s.items()},
                        "last_prompt": entry.last_prompt, "reason": ended.get("reason"),
                        "summary": {k: ended.get(k) for k in ("duration_s", "peak_level", "peak_score", "prompts_fired",
                                                               "reason")} if ended else None,
                        "reports": entry.report_paths, **report_urls(entry.report_paths)})
        return out


def report_urls(paths: dict[str, str]) -> dict[str, str | None]:
    """``report_url`` (HTML) and ``report_json_url`` under ``/reports/`` for a call's written files."""
    from pathlib import PurePath

    return {"report_url": f"/reports/{PurePath(paths['html']).name}" if paths.get("html") else None,
            "report_json_url": f"/reports/{PurePath(paths['json']).name}" if paths.get("json") else None}


async def pump(watcher: Watcher, send, hub: CallHub | None = None, send_timeout_s: float | None = None
               ) -> dict[str, int] | None:
    """Drain a watcher's history pages and outbox into ``send`` until it falls behind.

    Args:
        watcher: the outbox.
        send: coroutine function taking a text message.
        hub: where history pages come from (``None``: outbox only).
        send_timeout_s: a send that cannot complete this long (the peer stopped reading) makes
            the watcher too slow.

    Returns:
        The resume points if the watcher fell too far behind (the caller closes it).
    """

    async def deliver(env: Envelope) -> bool:
        watcher.last_seq[env.call_id] = env.seq  # written to the socket before send() waits
        try:
            async with asyncio.timeout(send_timeout_s):
                await send(env.json())
        except TimeoutError:
            watcher.overflow = watcher.resume_points()
            return False
        watcher.sent += 1
        return True

    while True:
        if watcher.overflow is not None:
            return watcher.overflow
        if watcher.outbox:
            for _ in range(min(len(watcher.outbox), HISTORY_PAGE)):
                if watcher.overflow is not None or not watcher.outbox:
                    break
                if not await deliver(watcher.outbox.popleft()):
                    break
            await asyncio.sleep(0)  # a send that does not block does not yield: let others run
            continue
        if hub is not None and watcher.catching_up:
            page = hub.history_page(watcher)
            for env in page:
                if watcher.overflow is not None or not await deliver(env):
                    break
            await asyncio.sleep(0)  # one page at a time: a long history never holds the loop
            continue
        watcher.wake.clear()
        await watcher.wake.wait()
