"""A hub shared by several ``voicemon serve`` processes through Redis (or Valkey) streams.

Every server keeps the in-process hub's machinery (:class:`~voicemon.server.hub.CallHub`:
bounded per-watcher outboxes, coalescing, paged history, the per-call indexes) and adds:

* **publishing** — each event of a call this server ingests is ``XADD``-ed to the call's own
  stream ``voicemon:call:<gen>`` (``gen`` names one call instance: a later call with the same id
  gets a new stream), trimmed to ``hub_stream_maxlen`` entries while it runs and expiring
  ``keep_ended_s`` after it ends. The hash ``voicemon:calls`` indexes calls by id (owner,
  stream, ended) and the stream ``voicemon:live`` announces each start and end;
* **mirroring** — one reader task per server ``XREAD``-s the announcements and every other
  server's live call streams, and replays each envelope into a local *mirror* of the call (its
  events in a :class:`~voicemon.server.eventlog.DurableLog` in a temporary folder, the same
  indexes as a local call), so a watcher here gets history on join, resumes by ``seq`` and
  goes through the same outbox as for a local call;
* **acknowledgements** — an ack for a mirrored call goes to its owner's stream
  ``voicemon:acks:<node>``; the owner applies it to the call (it lands in the owner's report)
  and the resulting ``prompt_ack`` event comes back to every watcher through the call's stream;
* **liveness** — each server refreshes ``voicemon:node:<node>`` (expiring after
  ``hub_node_ttl_s``) from a thread of its own, so a busy event loop never looks like a dead
  server; when a server's key has expired the first other server to notice claims
  its live calls and appends ``call_ended`` with reason ``interrupted`` to their streams. The
  dead server's own restart still writes their reports from its event logs
  (:mod:`voicemon.server.recovery`).

Only plain commands that Valkey shares with Redis are used (``XADD``, ``XREAD``, ``XREVRANGE``,
``HSET``, ``SET NX PX``, ``EXPIRE``). If Redis becomes unreachable the server goes on serving
its own calls and watchers and retries; other servers miss its events meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

from voicemon.errors import ConfigError, EventFormatError
from voicemon.events import CallEnded, CallStarted, Envelope, SpeakersChanged
from voicemon.server.eventlog import DurableLog
from voicemon.server.hub import CallEntry, CallHub

log = logging.getLogger(__name__)

PREFIX = "voicemon:"
CALLS_KEY = PREFIX + "calls"
LIVE_KEY = PREFIX + "live"
LIVE_MAXLEN = 10000
READ_BLOCK_MS = 1000
READ_COUNT = 1000
MAX_UNSENT = 200000
"""Envelopes kept for Redis while it is unreachable (beyond this the oldest are dropped)."""


def node_key(node: str) -> str:
    """The heartbeat key of a server."""
    return f"{PREFIX}node:{node}"


def ack_key(node: str) -> str:
    """The stream of acknowledgements for a server's calls."""
    return f"{PREFIX}acks:{node}"


def stream_key(gen: str) -> str:
    """The event stream of one call instance."""
    return f"{PREFIX}call:{gen}"


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(response) -> list[tuple[str, list]]:
    """``XREAD``'s answer as ``[(stream, [(id, fields), ...]), ...]`` (RESP2 list or RESP3 dict)."""
    if not response:
        return []
    if isinstance(response, dict):
        return [(_text(k), v[0] if v and isinstance(v[0], list) and len(v) == 1 else v) for k, v in response.items()]
    return [(_text(k), v) for k, v in response]


def _field(fields: dict, name: bytes):
    return fields.get(name, fields.get(name.decode()))


def _envelope(fields: dict) -> Envelope | None:
    """The envelope of a call stream's entry (``None`` if it holds none)."""
    raw = _field(fields, b"e")
    if not isinstance(raw, (str, bytes)):
        return None
    try:
        return Envelope.from_json(raw)
    except EventFormatError:
        return None


class MirrorLog(DurableLog):
    """A local copy of another server's call log, possibly starting after ``seq`` 1 (a trimmed
    stream): positions below ``base`` are simply absent."""

    def __init__(self, path: Path, base: int = 0) -> None:
        super().__init__(path)
        self.base = base

    def __len__(self) -> int:
        return self.base + super().__len__()

    def __getitem__(self, index: int) -> Envelope:
        if not isinstance(index, int):
            raise TypeError("MirrorLog supports integer indexes only; use read() for pages")
        if index < 0:
            index += len(self)
        if not self.base <= index < len(self):
            raise IndexError(index)
        if index == len(self) - 1 and self.last is not None:
            return self.last
        return self.read(index, 1)[0]

    def read(self, start: int, limit: int) -> list[Envelope]:
        if start < self.base:
            limit -= self.base - start
            start = self.base
        return super().read(start - self.base, limit)

    def read_positions(self, positions: list[int]) -> list[Envelope]:
        return super().read_positions([p - self.base for p in positions if p >= self.base])


class RemoteCall:
    """Another server's call, as this server's watchers see it.

    Has what the hub and the watch connections use of a :class:`~voicemon.live.runner.LiveCall`:
    ``call_id``, ``roles``, ``started_wall``, ``media_s``, ``log``, ``sinks``, ``ended`` and
    :meth:`acknowledge` (which forwards the ack to the owning server).
    """

    remote = True

    def __init__(self, hub: "RedisHub", call_id: str, gen: str, node: str, log_: MirrorLog, started_wall: float) -> None:
        self.hub = hub
        self.call_id = call_id
        self.gen = gen
        self.node = node
        self.log = log_
        self.started_wall = started_wall
        self.roles: tuple[str, ...] = ()
        self.sinks: list = []
        self.media_s = 0.0
        self.ended = False
        self.last_id = "0-0"

    def deliver(self, env: Envelope) -> None:
        """One envelope from the call's stream, in order."""
        self.log.append(env)
        event = env.event
        self.media_s = max(self.media_s, float(event.t))
        if isinstance(event, (CallStarted, SpeakersChanged)) and event.roles:
            self.roles = tuple(event.roles)
        for sink in self.sinks:
            try:
                sink(env)
            except Exception:  # a broken consumer must not stop the mirror
                log.exception("hub sink failed on mirrored call %s", self.call_id)

    def acknowledge(self, prompt_id: str, action: str = "acknowledged", by: dict | None = None) -> None:
        """Send the ack to the server that owns the call."""
        self.hub.forward_ack(self, prompt_id, action, by)


class RedisHub(CallHub):
    """A :class:`~voicemon.server.hub.CallHub` whose calls are shared with other servers.

    Args:
        url: ``redis://host:port/db`` (or ``rediss://``, ``unix://``).
        keep_ended_s: how long an ended call stays available to watchers.
        max_ended_calls: most ended calls kept.
        node_ttl_s: heartbeat expiry; a server silent this long is dead.
        stream_maxlen: most events kept per call stream.
    """

    def __init__(self, url: str, keep_ended_s: float = 300.0, max_ended_calls: int = 1000,
                 node_ttl_s: float = 5.0, stream_maxlen: int = 200000) -> None:
        super().__init__(keep_ended_s=keep_ended_s, max_ended_calls=max_ended_calls)
        self.url = url
        self.node = f"{socket.gethostname()[:20]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.node_ttl_s = node_ttl_s
        self.stream_maxlen = stream_maxlen
        self.redis = None
        self._reader_conn = None
        self._gen = 0
        self._local: dict[int, tuple[str, str]] = {}  # id(LiveCall) -> (gen, stream)
        self._mirrors: dict[str, RemoteCall] = {}  # gen -> mirror
        self._unsent: list[tuple] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._mirror_dir: Path | None = None
        self._last_live = "0-0"
        self._last_ack = "0-0"
        self._errors = 0

    @property
    def safe_url(self) -> str:
        """The hub's URL without its password (for logs and the console)."""
        return _safe_url(self.url)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, announce this server, and start the writer, reader, heartbeat and sweeper.

        Raises:
            ConfigError: the ``redis`` package is missing or the server cannot be reached.
        """
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise ConfigError("--hub redis://... needs the redis client: pip install 'voicemon[redis]'") from None
        try:
            self.redis = aioredis.from_url(self.url, socket_connect_timeout=5, health_check_interval=30)
            self._reader_conn = aioredis.from_url(self.url, socket_connect_timeout=5)
            await self.redis.ping()
        except Exception as exc:  # noqa: BLE001 — any connection failure is a config problem here
            raise ConfigError(f"cannot reach the hub {_safe_url(self.url)}: {type(exc).__name__}: {exc}") from None
        self._mirror_dir = Path(tempfile.mkdtemp(prefix="voicemon-hub-"))
        await self.redis.set(node_key(self.node), json.dumps({"pid": os.getpid(), "wall": time.time()}),
                             px=int(self.node_ttl_s * 1000))
        self._beat_stop = threading.Event()
        self._beat_thread = threading.Thread(target=self._heartbeat_thread, args=(self._beat_stop,),
                                             name="voicemon-hub-heartbeat", daemon=True)
        self._beat_thread.start()
        last = await self.redis.xrevrange(LIVE_KEY, count=1)
        self._last_live = _text(last[0][0]) if last else "0-0"
        for cid, raw in (await self.redis.hgetall(CALLS_KEY)).items():
            info = json.loads(raw)
            if not info.get("ended") and info.get("node") != self.node:
                self._open_mirror(_text(cid), info)
        self._tasks = [asyncio.ensure_future(f()) for f in (self._writer, self._reader, self._sweeper)]
        log.info("hub: node %s on %s", self.node, _safe_url(self.url))

    async def close(self) -> None:
        """Send what is queued, stop the tasks, drop this server's heartbeat, disconnect."""
        if self.redis is None:
            return
        try:
            async with asyncio.timeout(5):
                await self._flush_unsent()
        except Exception:  # noqa: BLE001
            log.warning("hub: %d event(s) not sent to Redis at shutdown", len(self._unsent))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._beat_stop.set()
        await asyncio.to_thread(self._beat_thread.join, 10)
        for conn in (self.redis, self._reader_conn):
            try:
                await conn.aclose()
            except Exception:  # noqa: BLE001
                pass
        self.redis = None
        for mirror in self._mirrors.values():
            mirror.log.close()
        if self._mirror_dir is not None:
            shutil.rmtree(self._mirror_dir, ignore_errors=True)

    # -- this server's calls -------------------------------------------------------------

    def live_calls(self) -> list[CallEntry]:
        """This server's own calls still running (mirrors are other servers' to finish)."""
        return [e for e in self.calls.values() if e.ended_wall is None and not getattr(e.call, "remote", False)]

    def add(self, call) -> CallEntry:
        """Register a call ingested here; its events also go to its Redis stream."""
        old = self.calls.get(call.call_id)
        entry = super().add(call)
        self._drop_mirror_of(old)
        self._gen += 1
        gen = f"{self.node}.{self._gen}"
        self._local[id(call)] = (gen, stream_key(gen))
        call.sinks.append(lambda env, call=call: self._outgoing(call, env))
        return entry

    def _outgoing(self, call, env: Envelope) -> None:
        gen, stream = self._local[id(call)]
        kind = env.type
        self._unsent.append(("event", stream, env.json()))  # the text the watchers and the log send
        if kind == "call_started":
            info = {"gen": gen, "node": self.node, "stream": stream, "started_wall": call.started_wall, "ended": False}
            self._unsent.append(("start", call.call_id, json.dumps(info)))
        elif kind == "call_ended":
            info = {"gen": gen, "node": self.node, "stream": stream, "started_wall": call.started_wall, "ended": True,
                    "ended_wall": time.time()}
            self._unsent.append(("end", call.call_id, json.dumps(info)))
            self._local.pop(id(call), None)
        if len(self._unsent) > MAX_UNSENT:
            del self._unsent[:len(self._unsent) - MAX_UNSENT]
        self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush_unsent()
                self._errors = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — Redis away: keep serving, retry
                self._errors += 1
                if self._errors == 1:
                    log.error("hub: cannot write to Redis (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(min(2.0, 0.2 * self._errors))
                self._wake.set()

    async def _flush_unsent(self) -> None:
        while self._unsent:
            batch = self._unsent[:2000]
            pipe = self.redis.pipeline(transaction=False)
            for op, a, b in batch:
                if op == "event":
                    pipe.xadd(a, {"e": b}, maxlen=self.stream_maxlen, approximate=True)
                elif op == "ack":
                    pipe.xadd(a, {"a": b}, maxlen=10000, approximate=True)
                else:
                    info = json.loads(b)
                    pipe.hset(CALLS_KEY, a, b)
                    pipe.xadd(LIVE_KEY, {"call_id": a, "gen": info["gen"], "what": op}, maxlen=LIVE_MAXLEN,
                              approximate=True)
                    if op == "end":
                        pipe.expire(info["stream"], max(1, int(self.keep_ended_s)))
            await pipe.execute()
            del self._unsent[:len(batch)]

    # -- other servers' calls ------------------------------------------------------------

    def _open_mirror(self, call_id: str, info: dict) -> RemoteCall | None:
        gen = info["gen"]
        if gen in self._mirrors or info.get("node") == self.node:
            return self._mirrors.get(gen)
        current = self.calls.get(call_id)
        if current is not None and current.ended_wall is None and not getattr(current.call, "remote", False):
            log.warning("hub: call id %r is live here and on %s; not mirroring the other", call_id, info.get("node"))
            return None
        path = self._mirror_dir / f"{len(self._mirrors)}-{uuid.uuid4().hex[:8]}.events.jsonl"
        mirror = RemoteCall(self, call_id, gen, info.get("node", ""), MirrorLog(path), float(info.get("started_wall", 0)))
        mirror.stream = info.get("stream") or stream_key(gen)
        self._mirrors[gen] = mirror
        self._drop_mirror_of(current)
        CallHub.add(self, mirror)
        return mirror

    def _drop_mirror_of(self, entry: CallEntry | None) -> None:
        call = getattr(entry, "call", None)
        if getattr(call, "remote", False):
            self._mirrors.pop(call.gen, None)
            call.log.close()
            try:
                call.log.path.unlink()
            except OSError:
                pass

    async def _reader(self) -> None:
        while True:
            streams = {LIVE_KEY: self._last_live, ack_key(self.node): self._last_ack}
            for mirror in self._mirrors.values():
                if not mirror.ended:
                    streams[mirror.stream] = mirror.last_id
            try:
                response = await self._reader_conn.xread(streams, count=READ_COUNT, block=READ_BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — Redis away: retry
                log.warning("hub: reading from Redis failed (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(1.0)
                continue
            by_stream = {m.stream: m for m in self._mirrors.values()}
            touched = set()
            for stream, entries in _entries(response):
                if stream == LIVE_KEY:
                    await self._on_notices(entries)
                elif stream == ack_key(self.node):
                    self._on_acks(entries)
                elif stream in by_stream:
                    mirror = by_stream[stream]
                    self._on_events(mirror, entries)
                    touched.add(mirror)
            for mirror in touched:
                mirror.log.flush()

    async def _on_notices(self, entries) -> None:
        for entry_id, fields in entries:
            self._last_live = _text(entry_id)
            if _text(_field(fields, b"what")) != "start":
                continue
            cid = _text(_field(fields, b"call_id"))
            raw = await self.redis.hget(CALLS_KEY, cid)
            if raw is None:
                continue
            info = json.loads(raw)
            if info.get("gen") == _text(_field(fields, b"gen")) and info.get("node") != self.node:
                self._open_mirror(cid, info)

    def _on_events(self, mirror: RemoteCall, entries) -> None:
        for entry_id, fields in entries:
            mirror.last_id = _text(entry_id)
            env = _envelope(fields)
            if env is None or mirror.ended:
                continue
            if not len(mirror.log) and env.seq > 1:  # the stream was trimmed before we joined
                mirror.log.base = env.seq - 1
            mirror.deliver(env)
            if isinstance(env.event, CallEnded):
                self._mirror_ended(mirror, env.event)

    def _mirror_ended(self, mirror: RemoteCall, ended: CallEnded) -> None:
        mirror.ended = True
        entry = self.calls.get(mirror.call_id)
        if entry is not None and entry.call is mirror:
            entry.ended_wall = time.time()
            entry.summary = ended.summary
        self.expire()

    def forward_ack(self, mirror: RemoteCall, prompt_id: str, action: str, by: dict | None) -> None:
        """Queue an ack for the server that owns ``mirror``."""
        body = {"call_id": mirror.call_id, "gen": mirror.gen, "prompt_id": prompt_id, "action": action, "by": by}
        self._unsent.append(("ack", ack_key(mirror.node), json.dumps(body)))
        self._wake.set()

    def _on_acks(self, entries) -> None:
        for entry_id, fields in entries:
            self._last_ack = _text(entry_id)
            try:
                ack = json.loads(_field(fields, b"a"))
            except (TypeError, ValueError):
                continue
            entry = self.calls.get(ack.get("call_id"))
            call = getattr(entry, "call", None)
            if (call is None or getattr(call, "remote", False) or call.ended
                    or self._local.get(id(call), ("",))[0] != ack.get("gen") or ack.get("prompt_id") not in entry.prompt_ids):
                log.info("hub: ack for %s/%s arrived after the call ended or was replaced", ack.get("call_id"),
                         ack.get("prompt_id"))
                continue
            kwargs = {"by": ack["by"]} if ack.get("by") is not None else {}
            try:
                call.acknowledge(ack["prompt_id"], ack.get("action", "acknowledged"), **kwargs)
            except TypeError:  # a call without attribution
                call.acknowledge(ack["prompt_id"], ack.get("action", "acknowledged"))

    # -- liveness ------------------------------------------------------------------------

    def _beat_sync(self, client) -> None:
        client.set(node_key(self.node), json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "wall": time.time()}),
                   px=int(self.node_ttl_s * 1000))

    def _heartbeat_thread(self, stop: threading.Event) -> None:
        """Refresh this server's key from a thread: a busy event loop is not a dead server."""
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=5, socket_timeout=5)
        failing = False
        while not stop.wait(self.node_ttl_s / 4):
            try:
                self._beat_sync(client)
                failing = False
            except Exception as exc:  # noqa: BLE001 — Redis away: say so once, keep trying
                if not failing:
                    log.warning("hub: heartbeat failed (%s: %s)", type(exc).__name__, exc)
                failing = True
        try:
            client.delete(node_key(self.node))
        except Exception:  # noqa: BLE001
            pass
        client.close()

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(max(0.5, self.node_ttl_s / 2))
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.warning("hub: checking other servers failed (%s: %s)", type(exc).__name__, exc)

    async def sweep(self) -> list[str]:
        """Mark the live calls of servers whose heartbeat expired ``interrupted``; forget old ended calls.

        Returns:
            The ids of the calls this server marked.
        """
        marked = []
        now = time.time()
        for cid, raw in (await self.redis.hgetall(CALLS_KEY)).items():
            cid, info = _text(cid), json.loads(raw)
            if info.get("ended"):
                if now - float(info.get("ended_wall", now)) > self.keep_ended_s:
                    await self.redis.hdel(CALLS_KEY, cid)
                continue
            node = info.get("node")
            if node == self.node or await self.redis.exists(node_key(node)):
                continue
            if not await self.redis.set(f"{PREFIX}claim:{info['gen']}", self.node, nx=True, ex=3600):
                continue  # another server is marking it
            await self._mark_interrupted(cid, info)
            marked.append(cid)
        return marked

    async def _mark_interrupted(self, call_id: str, info: dict) -> None:
        last = await self.redis.xrevrange(info["stream"], count=1)
        env = _envelope(last[0][1]) if last else None
        if env is not None and isinstance(env.event, CallEnded):
            return
        t = round(float(env.event.t), 3) if env is not None else 0.0
        summary = {"duration_s": t, "peak_level": None, "peak_score": None, "prompts_fired": None,
                   "reason": "interrupted", "report": None,
                   "report_error": f"the server that ran this call ({info.get('node')}) stopped; its "
                                   "report is written when that server restarts"}
        ended = Envelope.of(CallEnded(t=t, summary=summary), call_id, (env.seq if env is not None else 0) + 1, time.time())
        info = {**info, "ended": True, "ended_wall": time.time(), "interrupted_by": self.node}
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(info["stream"], {"e": ended.json()}, maxlen=self.stream_maxlen, approximate=True)
        pipe.hset(CALLS_KEY, call_id, json.dumps(info))
        pipe.xadd(LIVE_KEY, {"call_id": call_id, "gen": info["gen"], "what": "end"}, maxlen=LIVE_MAXLEN, approximate=True)
        pipe.expire(info["stream"], max(1, int(self.keep_ended_s)))
        await pipe.execute()
        log.warning("hub: call %s of server %s marked interrupted (its heartbeat expired)", call_id, info.get("node"))

    def expire(self) -> None:
        """Drop ended calls past their time, removing the mirrors' local copies."""
        before = {cid: e for cid, e in self.calls.items() if getattr(e.call, "remote", False)}
        super().expire()
        for cid, entry in before.items():
            if self.calls.get(cid) is not entry:
                self._drop_mirror_of(entry)


def _safe_url(url: str) -> str:
    """The URL without its password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
