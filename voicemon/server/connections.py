"""The three kinds of WebSocket connection: PCM ingest, Twilio Media Streams, watchers.

Every bad input gets a typed ``error`` message and the close code of docs/protocol.md; a call
whose connection breaks is finished and written, so nothing analysed is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from voicemon.errors import ProtocolError
from voicemon.server.hub import Watcher, pump
from voicemon.server.ingest import TWILIO_RATE_HZ, FrameDecoder, TwilioTracks
from voicemon.server.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    NON_FATAL,
    PROTOCOL_VERSION,
    ack_ids,
    close_reason,
    error_message,
    parse_ack,
    parse_json,
    parse_start,
    parse_subscribe,
    protocol_error,
)
from voicemon.server.twilio import media_object, parse_twilio_message, parse_twilio_start

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_S = 30.0
ERROR_SEND_TIMEOUT_S = 5.0


class RateLimit:
    """Token bucket over messages: ``rate`` per second sustained, bursts of ``2 * rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = 2 * rate
        self.last = time.monotonic()

    def take(self) -> None:
        """Count one message.

        Raises:
            ProtocolError: the connection sends faster than allowed.
        """
        now = time.monotonic()
        self.tokens = min(2 * self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            raise protocol_error("rate_limited", f"more than {self.rate:.0f} messages per second")
        self.tokens -= 1


async def send_error(ws, exc: ProtocolError, close: bool = True, **extra) -> None:
    """Send a typed error message and (for fatal errors) close with its code.

    The close reason is cut to the 123 bytes a close frame allows, so the code always arrives;
    a peer that has stopped reading cannot hold this up for more than a few seconds.
    """
    try:
        async with asyncio.timeout(ERROR_SEND_TIMEOUT_S):
            await ws.send(error_message(exc, **extra))
    except (ConnectionClosed, TimeoutError):
        pass
    if close:
        try:
            await ws.close(exc.close_code, close_reason(str(exc)))
        except ConnectionClosed:
            pass


async def recv_start(ws, timeout_s: float):
    """The first message of an ingest connection, within ``timeout_s``.

    Raises:
        ProtocolError: ``start_timeout`` when nothing arrives in time.
    """
    try:
        async with asyncio.timeout(timeout_s):
            return await ws.recv()
    except TimeoutError:
        raise protocol_error("start_timeout", f"no start message within {timeout_s:g} s") from None


class IngestSession:
    """One ``/ingest`` connection: start, binary audio frames, end."""

    def __init__(self, server, ws) -> None:
        self.server = server
        self.ws = ws
        self.call = None
        self.decoder: FrameDecoder | None = None
        self.lockstep = False
        self.started = 0.0
        self.limit = RateLimit(server.options.max_messages_per_s)

    async def run(self) -> None:
        """Serve the connection until the call ends or the peer goes away."""
        reason = "connection closed"
        try:
            while True:
                if self.call is None:
                    message = await recv_start(self.ws, self.server.options.start_timeout_s)
                else:
                    message = await self.ws.recv()
                if not self.lockstep:  # a lockstep upload is paced by the server itself
                    self.limit.take()
                if isinstance(message, bytes):
                    await self._audio(message)
                    continue
                msg = parse_json(message, ("start", "end"))
                if msg["type"] == "start":
                    await self._start(msg)
                else:
                    if self.call is None:
                        raise protocol_error("audio_before_start", "end before start")
                    reason = "ended by the client"
                    summary = await self._finish(reason)
                    if summary.get("report") is None:
                        raise protocol_error("storage_failed", "the call was analysed but its report could not be "
                                             "written (the server's log says why)")
                    await self.ws.send(json.dumps({"type": "ended", "v": PROTOCOL_VERSION, "call_id": self.call.call_id,
                                                   "summary": summary}))
                    await self.ws.close(CLOSE_NORMAL, "call ended")
                    return
        except ProtocolError as exc:
            if reason != "ended by the client":
                reason = f"protocol error: {exc.code}"
            if self.call is not None:  # start finishing now: the id is free once the client sees the close
                asyncio.ensure_future(self._finish(reason))
            await send_error(self.ws, exc)
        except ConnectionClosedOK:
            pass
        except ConnectionClosed:
            reason = "connection lost"
        finally:
            if self.call is not None:
                await self._finish(reason)

    async def _start(self, msg: dict) -> None:
        if self.call is not None:
            raise protocol_error("already_started", "this connection already started a call")
        start = parse_start(msg)
        self.decoder = FrameDecoder(start, chunk_ms=self.server.config.audio.chunk_ms)
        self.lockstep = start.mode == "lockstep"
        self.call = self.server.open_call(start.call_id, start.roles, start.mode, f"ingest:{start.call_id}",
                                          {"rate_hz": start.sample_rate, "channels": start.channels, "format": start.encoding},
                                          metadata=start.metadata)
        self.started = time.monotonic()
        await self.ws.send(json.dumps({"type": "started", "v": PROTOCOL_VERSION, "call_id": start.call_id,
                                       "roles": list(self.call.roles), "mode": start.mode}))

    async def _audio(self, frame: bytes) -> None:
        if self.call is None or self.decoder is None:
            raise protocol_error("audio_before_start", "binary audio arrived before the start message")
        if self.server.stopping or self.call.ended:
            raise ProtocolError("the server is shutting down; the call was finished and saved",
                                code="shutting_down", close_code=CLOSE_GOING_AWAY)
        received = time.perf_counter()
        chunks = self.decoder.decode(frame)
        check_limits(self.server, self.decoder.input_s, self.started, self.lockstep)
        for chunk in chunks:
            self.call.feed(chunk, received=received)
            if self.lockstep:  # each party's transcriptions folded in before the next chunk, as analyze does
                await self.call.settle()

    async def _finish(self, reason: str) -> dict:
        if self.decoder is not None and not self.call.ended and not self.server.is_ending(self.call):
            for chunk in self.decoder.flush():
                self.call.feed(chunk)
        return await self.server.end_call(self.call, reason)


def check_limits(server, input_s: float, started: float, lockstep: bool) -> None:
    """Per-call limits: total length, and pace for live calls.

    Raises:
        ProtocolError: too long, or audio arriving much faster than real time.
    """
    opts = server.options
    if input_s > opts.max_call_s:
        raise protocol_error("call_too_long", f"calls are limited to {opts.max_call_s:.0f} s of audio")
    if not lockstep:
        allowed = (time.monotonic() - started) * opts.max_live_speed + 10.0
        if input_s > allowed:
            raise protocol_error("rate_limited", f"audio arrives faster than {opts.max_live_speed:g}x real time; "
                                 "use mode \"lockstep\" to upload recordings")


async def handle_twilio(server, ws) -> None:
    """One Twilio Media Streams connection (Twilio's messages, unchanged)."""
    call = None
    tracks: TwilioTracks | None = None
    started = time.monotonic()
    deadline = started + server.options.start_timeout_s
    limit = RateLimit(max(server.options.max_messages_per_s, 120.0))
    reason = "connection closed"
    lockstep = False
    try:
        while True:
            if call is None:
                message = await recv_start(ws, max(0.0, deadline - time.monotonic()))
            else:
                message = await ws.recv()
            if not lockstep:  # a lockstep upload is paced by the server itself
                limit.take()
            event, msg = parse_twilio_message(message)
            if event in ("connected", "mark", "dtmf"):
                continue
            if event == "start":
                if call is not None:
                    raise protocol_error("already_started", "a second start on one stream")
                start = parse_twilio_start(msg, server.options.token)
                tracks = TwilioTracks(list(start.tracks), server.config.audio.chunk_ms)
                lockstep = start.mode == "lockstep"
                call = server.open_call(start.call_id, tracks.roles, start.mode, f"twilio:{start.stream_sid}",
                                        {"rate_hz": TWILIO_RATE_HZ, "channels": len(tracks.roles), "format": "twilio mulaw"},
                                        metadata=start.metadata)
                started = time.monotonic()
            elif event == "media":
                if call is None or tracks is None:
                    raise protocol_error("audio_before_start", "media before the start message")
                if server.stopping or call.ended:
                    raise ProtocolError("the server is shutting down; the call was finished and saved",
                                        code="shutting_down", close_code=CLOSE_GOING_AWAY)
                received = time.perf_counter()
                for chunk in tracks.media(media_object(msg)):
                    call.feed(chunk, received=received)
                    if lockstep:  # each party's transcriptions folded in before the next chunk, as analyze does
                        await call.settle()
                check_limits(server, tracks.input_s, started, lockstep)
            else:  # stop
                reason = "stopped by Twilio"
                break
    except ProtocolError as exc:
        reason = f"protocol error: {exc.code}"
        if call is not None:  # start finishing now: the id is free once Twilio sees the close
            asyncio.ensure_future(_finish_twilio(server, call, tracks, reason))
        await send_error(ws, exc)
    except ConnectionClosedOK:
        pass
    except ConnectionClosed:
        reason = "connection lost"
    finally:
        if call is not None:
            await _finish_twilio(server, call, tracks, reason)
    try:
        await ws.close(CLOSE_NORMAL, "stream ended")
    except ConnectionClosed:
        pass


async def _finish_twilio(server, call, tracks: TwilioTracks | None, reason: str) -> dict:
    if tracks is not None and not call.ended and not server.is_ending(call):
        for chunk in tracks.flush():
            call.feed(chunk)
    return await server.end_call(call, reason)


async def handle_watch(server, ws) -> None:
    """One ``/watch`` connection: subscribe, then events out and acknowledgements in."""
    watcher = None
    limit = RateLimit(server.options.max_messages_per_s)
    try:
        try:
            first = await asyncio.wait_for(ws.recv(), SUBSCRIBE_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise protocol_error("bad_message", f"no subscribe message within {SUBSCRIBE_TIMEOUT_S:.0f} s") from None
        sub = parse_subscribe(parse_json(first, ("subscribe",)))
        watcher = Watcher(sub, max_queue=server.options.watcher_queue)
        known = [c for c in server.hub.calls if sub.calls is None or c in sub.calls]
        await ws.send(json.dumps({"type": "subscribed", "v": PROTOCOL_VERSION, "calls": known,
                                  "unknown_calls": [c for c in sub.calls or () if c not in server.hub.calls],
                                  "role": sub.role, "agent_id": sub.agent_id}))
        server.hub.subscribe(watcher)
        sender = asyncio.ensure_future(pump(watcher, ws.send, server.hub, server.options.watcher_send_timeout_s))
        reader = asyncio.ensure_future(_read_acks(server, ws, limit, sub))
        done, _ = await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        if sender in done and not sender.cancelled() and sender.exception() is None:
            resume = sender.result()
            reader.cancel()
            server.hub.unsubscribe(watcher)
            await send_error(ws, protocol_error("too_slow", "this watcher fell too far behind; reconnect with since=resume"),
                             resume=resume)
            return
        sender.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
    except ProtocolError as exc:
        await send_error(ws, exc)
    except ConnectionClosed:
        pass
    finally:
        if watcher is not None:
            server.hub.unsubscribe(watcher)


async def _read_acks(server, ws, limit: RateLimit, sub) -> None:
    """Acknowledgements in; a bad, forbidden or unknown ack is a non-fatal error (the watcher stays)."""
    async for message in ws:
        limit.take()
        if isinstance(message, bytes):
            raise protocol_error("bad_message", "watchers send JSON text messages")
        msg = parse_json(message, ("ack", "subscribe"))
        ids = ack_ids(msg)
        try:
            if msg["type"] == "subscribe":
                raise protocol_error("already_subscribed", "this connection is subscribed already; open another "
                                     "connection for another subscription")
            call_id, prompt_id, action = parse_ack(msg)
            entry = server.hub.calls.get(call_id)
            if entry is None or entry.ended_wall is not None or entry.call.ended:
                raise protocol_error("unknown_call", "no live call with this call_id")
            refused = sub.may_ack(entry.metadata.get("agent_id"))
            if refused == "read_only":
                raise protocol_error("read_only", "a supervisor view cannot acknowledge prompts (subscribe with "
                                     "role \"agent\")")
            if refused is not None:
                raise protocol_error("not_your_call", "this call belongs to another agent; only its agent's view "
                                     "can acknowledge its prompts")
            if prompt_id not in entry.prompt_ids:  # O(1): the hub indexes each call's prompts
                raise protocol_error("unknown_prompt", "this call has no prompt with this prompt_id")
        except ProtocolError as exc:
            if exc.code not in NON_FATAL:
                raise
            await send_error(ws, exc, close=False, **ids)
            continue
        entry.call.acknowledge(prompt_id, action, by={"role": sub.role, "agent_id": sub.agent_id})
