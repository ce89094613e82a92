"""Thin async drivers of the telephony adapters: AudioHook, audio fork, Asterisk (docs/telephony.md).

Each driver reads its connection, hands every message to the adapter's sans-I/O parser
(:mod:`~voicemon.server.audiohook`, :mod:`~voicemon.server.audiofork`,
:mod:`~voicemon.server.asterisk`), sends the replies, and feeds the audio into a live call. They
share the feed's call-id rule, limits (message rate, pace, call length), typed errors and close
codes; a call whose connection breaks is finished and written, so nothing analysed is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs, urlsplit

import numpy as np

from voicemon.errors import ProtocolError
from voicemon.events import SAMPLE_RATE_HZ, Envelope
from voicemon.server.asterisk import (
    KIND_DTMF,
    KIND_ERROR,
    KIND_HANGUP,
    KIND_UUID,
    SLIN_RATES_HZ,
    AudioSocketParser,
    Leg,
    WebSocketMedia,
    audiosocket_error,
    audiosocket_leg,
    audiosocket_samples,
    packet,
    parse_websocket_text,
    websocket_leg,
)
from voicemon.server.audiofork import ForkDecoder, call_meta, parse_metadata
from voicemon.server.audiohook import (
    RATE_HZ as AUDIOHOOK_RATE_HZ,
    AudioHookError,
    AudioHookSession,
    SignatureError,
    parse_keys,
    transcript_entity,
    verify_request,
)
from voicemon.server.connections import RateLimit, check_limits, recv_start, send_error
from voicemon.server.legs import SharedCall, TrackAligner
from voicemon.server.protocol import CLOSE_GOING_AWAY, CLOSE_NORMAL, close_reason, protocol_error

log = logging.getLogger(__name__)

TWO_PARTIES = ("agent", "customer")
CLOSE_WAIT_S = 5.0
"""How long the peer has to finish a close (AudioHook ``closed``, a disconnect) before the socket is closed."""
MAX_GAP_S = 600.0
"""Longest stretch of discarded audio filled with silence in one go."""


SUBPROTOCOLS = ("audio.drachtio.org", "audiostream.drachtio.org", "audio.jambonz.org", "media")
"""WebSocket subprotocols the audio-fork modules (mod_audio_fork, jambonz) and chan_websocket ask for."""


def select_subprotocol(connection, offered) -> str | None:
    """Accept the telephony subprotocol a client asks for; continue without one otherwise."""
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None


def query_of(path: str) -> dict[str, str]:
    """The first value of each query parameter of a request path."""
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items() if v}


def _feed(server, shared: SharedCall, chunks, received: float | None = None) -> None:
    if server.stopping or shared.call.ended:
        raise ProtocolError("the server is shutting down; the call was finished and saved",
                            code="shutting_down", close_code=CLOSE_GOING_AWAY)
    for chunk in chunks:
        shared.call.feed(chunk, received=received)
    check_limits(server, shared.tracks.input_s, shared.started, False)


def _live_id(server, call_id: str, suffix: str) -> str:
    """``call_id``, or ``call_id.suffix`` when a live call already has that id."""
    entry = server.hub.calls.get(call_id)
    if entry is not None and entry.ended_wall is None and not server.is_ending(entry.call):
        return f"{call_id}.{suffix}"[:128]
    return call_id


# -- Genesys Cloud AudioHook -----------------------------------------------------------------


async def audiohook_handshake(server, request):
    """Authorise an AudioHook upgrade: ``None`` lets it proceed, else a 401 response.

    Failures are answered no sooner than ``telephony.audiohook_failure_delay_s`` after the
    request arrived, whatever failed, so timing tells nothing about which check did.
    """
    from http import HTTPStatus

    from voicemon.server.http_routes import json_response

    opts = server.config.telephony
    arrived = time.monotonic()
    headers = {k.lower(): v for k, v in request.headers.raw_items()}
    try:
        keys = parse_keys(opts.audiohook_keys)
        if not keys:
            raise SignatureError("no AudioHook API keys are configured (telephony.audiohook_keys)")
        if len(request.headers.get_all("Signature")) > 1 or len(request.headers.get_all("X-API-KEY")) > 1:
            raise SignatureError("repeated signature headers")
        verify_request(headers, request.path, keys, time.time(), opts.audiohook_max_signature_age_s,
                       opts.audiohook_allow_unsigned)
        return None
    except (SignatureError, ValueError) as exc:
        log.warning("AudioHook connection refused: %s", exc)
        await asyncio.sleep(max(0.0, opts.audiohook_failure_delay_s - (time.monotonic() - arrived)))
        return json_response(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized", "message": "AudioHook authentication failed"})


async def handle_audiohook(server, ws) -> None:
    """One AudioHook session from Genesys Cloud (after :func:`audiohook_handshake` let it in)."""
    opts = server.config.telephony
    headers = ws.request.headers
    session = AudioHookSession(headers.get("Audiohook-Session-Id"), headers.get("Audiohook-Organization-Id"))
    limit = RateLimit(max(server.options.max_messages_per_s, 120.0))
    deadline = time.monotonic() + server.options.start_timeout_s
    out = Outbox(ws)  # every server message, replies and events alike, leaves in seq order
    shared: SharedCall | None = None
    sink = None
    reason, linger = "connection lost", opts.audiohook_reconnect_s
    try:
        while True:
            if session.state in ("PREPARING", "OPENING"):
                message = await recv_start(ws, max(0.0, deadline - time.monotonic()))
            else:
                message = await ws.recv()
            limit.take()
            received = time.perf_counter()
            step = session.receive(message)
            for reply in step.replies:
                out.send(reply)
            if step.opened is not None:
                if not step.opened.probe:
                    shared = _audiohook_call(server, step.opened)
                out.send(session.accept(step.opened))
                if shared is not None and opts.audiohook_events:
                    sink = _event_pusher(out, session, shared.call.call_id)
                    shared.call.sinks.append(sink)
            if shared is not None and step.audio is not None:
                _feed(server, shared, shared.tracks.feed_all(step.audio), received)
            if shared is not None and step.gap_s > 0:
                _feed(server, shared, shared.tracks.silence(min(step.gap_s, MAX_GAP_S)), received)
            if step.client_error is not None:
                log.warning("AudioHook session %s: client error %s", session.id, step.client_error)
            if step.close is not None:
                leaving, shared = shared, None
                if leaving is not None:
                    if step.close == "reconnect":
                        _remove(leaving.call.sinks, sink)
                        await server.legs.detach(server, leaving, session.id, "AudioHook reconnect timed out", linger)
                    else:  # the call's last words are transcribed while it ends: their events still go out
                        await server.legs.detach(server, leaving, session.id, f"closed by Genesys ({step.close})")
                        _remove(leaving.call.sinks, sink)
                out.send(session.closed())
                await out.drain()
                reason = ""
                await _wait_closed(ws)
                return
    except ProtocolError as exc:
        reason, linger = f"protocol error: {exc.code}", 0.0
        # the call reached max_call_s: voicemon has done its part (``completed``); anything else is an error
        hook_reason = exc.reason if isinstance(exc, AudioHookError) else "completed" if exc.code == "call_too_long" else "error"
        log.warning("AudioHook session %s: %s", session.id, exc)
        if shared is not None:  # finish now: nothing analysed is lost
            leaving, shared = shared, None
            _remove(leaving.call.sinks, sink)
            asyncio.ensure_future(server.legs.detach(server, leaving, session.id or "", reason))
        await out.drain()
        await _disconnect(ws, session, hook_reason, str(exc), exc.close_code)
    except Exception:
        reason, linger = "internal error", 0.0
        raise
    finally:
        if shared is not None:  # the connection broke: Genesys may reconnect and continue the session
            _remove(shared.call.sinks, sink)
            await server.legs.detach(server, shared, session.id or "", reason or "connection lost", linger)
        out.close()


class Outbox:
    """Messages to one WebSocket, sent by one task in the order they were queued."""

    def __init__(self, ws, drain_timeout_s: float = CLOSE_WAIT_S) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.drain_timeout_s = drain_timeout_s
        self._task = asyncio.ensure_future(self._run())

    def send(self, message: dict) -> None:
        """Queue one message (never blocks)."""
        self.queue.put_nowait(json.dumps(message))

    async def drain(self) -> None:
        """Wait until everything queued has been sent (or the peer stopped reading for a while)."""
        try:
            async with asyncio.timeout(self.drain_timeout_s):
                await self.queue.join()
        except TimeoutError:
            pass

    def close(self) -> None:
        """Stop sending."""
        self._task.cancel()

    async def _run(self) -> None:
        while True:
            text = await self.queue.get()
            try:
                await _send_quietly(self.ws, text)
            finally:
                self.queue.task_done()


def _event_pusher(out: Outbox, session: AudioHookSession, call_id: str):
    """A call sink queueing each final transcript for Genesys as an ``event``."""
    def push(envelope: Envelope) -> None:
        entity = transcript_entity(envelope.event, call_id)
        message = session.event([entity]) if entity is not None else None
        if message is not None:
            out.send(message)
    return push


async def _send_quietly(ws, text: str) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        await ws.send(text)
    except ConnectionClosed:
        pass


def _remove(sinks: list, sink) -> None:
    if sink is not None and sink in sinks:
        sinks.remove(sink)


def _audiohook_call(server, req) -> SharedCall:
    """The call an ``open`` joins: a continued session's, or a new one named after the conversation."""
    key = f"audiohook:{req.session_id}"
    for previous in req.continued:
        shared = server.legs.get(f"audiohook:{previous}")
        if shared is not None:
            server.legs.alias(shared, key)
            shared.attach(req.session_id)
            return shared
    call_id = _live_id(server, req.conversation_id, req.session_id[:8])
    participant = req.participant
    meta = call_meta({"adapter": "audiohook", "organizationId": req.organization_id,
                      "conversationId": req.conversation_id, "sessionId": req.session_id,
                      "participantId": participant.get("id"), "dnis": participant.get("dnis"), "language": req.language})
    call = server.open_call(call_id, TWO_PARTIES, "live", f"audiohook:{req.session_id}",
                            {"rate_hz": AUDIOHOOK_RATE_HZ, "channels": len(req.media.channels), "format": "PCMU"},
                            metadata={"meta": meta})
    silent = tuple(r for r in TWO_PARTIES if r not in req.media.roles)  # one-channel media: the other party is silent
    shared = SharedCall(key, call, TrackAligner(TWO_PARTIES, AUDIOHOOK_RATE_HZ, silent=silent), started=time.monotonic())
    server.legs.add(shared)
    shared.attach(req.session_id)
    return shared


async def _disconnect(ws, session: AudioHookSession, reason: str, info: str, close_code: int) -> None:
    """``disconnect``, then give the client a moment to run its close transaction, then close."""
    from websockets.exceptions import ConnectionClosed

    try:
        await ws.send(json.dumps(session.disconnect(reason, info)))
        async with asyncio.timeout(CLOSE_WAIT_S):
            async for message in ws:  # audio still in flight is dropped; a close is answered
                try:
                    msg = json.loads(message) if isinstance(message, str) else None
                except ValueError:
                    msg = None
                if isinstance(msg, dict) and msg.get("type") == "close":
                    if isinstance(msg.get("seq"), int) and not isinstance(msg.get("seq"), bool):
                        session.clientseq = msg["seq"]
                    await ws.send(json.dumps(session.closed()))
                    break
    except (ConnectionClosed, TimeoutError):
        pass
    try:
        await ws.close(close_code if session.state != "CLOSED" else CLOSE_NORMAL, close_reason(info))
    except ConnectionClosed:
        pass


async def _wait_closed(ws) -> None:
    """After ``closed`` the client closes the socket; close it ourselves if it does not."""
    from websockets.exceptions import ConnectionClosed

    try:
        async with asyncio.timeout(CLOSE_WAIT_S):
            async for _ in ws:
                pass
    except (ConnectionClosed, TimeoutError):
        pass
    try:
        await ws.close(CLOSE_NORMAL, "session closed")
    except ConnectionClosed:
        pass


# -- FreeSWITCH mod_audio_fork / mod_audio_stream, jambonz listen ---------------------------------


async def handle_audiofork(server, ws) -> None:
    """One audio fork: a JSON metadata text frame, then binary L16 (mono, mixed or stereo)."""
    from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

    opts = server.config.telephony
    limit = RateLimit(max(server.options.max_messages_per_s, 120.0))
    shared: SharedCall | None = None
    reason = "connection closed"
    try:
        first = await recv_start(ws, server.options.start_timeout_s)
        limit.take()
        start = parse_metadata(first, query_of(ws.request.path), opts.audiofork_rate_hz, opts.audiofork_mix,
                               opts.audiofork_mono_role, opts.audiofork_caller_channel)
        decoder = ForkDecoder(start)
        roles = ("mixed",) if start.roles == ("mixed",) else TWO_PARTIES
        call = server.open_call(start.call_id, roles, "live", f"audiofork:{start.call_id}",
                                {"rate_hz": start.rate_hz, "channels": len(start.roles), "format": f"L16 {start.mix}"},
                                metadata={"meta": call_meta({"adapter": "audiofork", **{k: v for k, v in start.metadata.items() if k != "adapter"}})})
        silent = tuple(r for r in roles if r not in start.roles)  # a caller-only fork: the agent side never sends
        shared = SharedCall(f"audiofork:{id(ws)}", call, TrackAligner(roles, start.rate_hz, silent=silent),
                            started=time.monotonic())
        async for message in ws:
            limit.take()
            if isinstance(message, str):  # mod_audio_stream's send_text and similar: not audio
                continue
            received = time.perf_counter()
            channels = decoder.decode(message)
            chunks = (shared.tracks.feed_all(channels) if len(channels) > 1
                      else shared.tracks.feed(start.roles[0], channels[start.roles[0]]))
            _feed(server, shared, chunks, received)
        reason = "fork closed"
    except ProtocolError as exc:
        reason = f"protocol error: {exc.code}"
        if shared is not None:
            leaving, shared = shared, None
            asyncio.ensure_future(server.legs.end(server, leaving, reason))
        await send_error(ws, exc)
    except ConnectionClosedOK:
        reason = "fork closed"
    except ConnectionClosed:
        reason = "connection lost"
    finally:
        if shared is not None:
            await server.legs.end(server, shared, reason)


# -- Asterisk: paired one-party legs -------------------------------------------------------------


class LegFeed:
    """One party's stream into a (possibly shared) call, resampled to 16 kHz on the way."""

    def __init__(self, server, adapter: str, leg: Leg) -> None:
        self.server = server
        self.leg = leg
        key = f"{adapter}:{leg.call_id}"
        shared = server.legs.get(key)
        if leg.role == "mixed":
            roles: tuple[str, ...] = ("mixed",)
            shared = None
        else:
            roles = TWO_PARTIES
        if shared is not None:
            if leg.role in shared.legs or leg.role in shared.seen:
                raise protocol_error("call_exists", f"call {leg.call_id!r} already has a {leg.role} leg")
        else:
            call = server.open_call(leg.call_id, roles, "live", f"{adapter}:{leg.call_id}",
                                    {"rate_hz": 0, "channels": 1 if roles == ("mixed",) else 2, "format": f"{adapter} legs"},
                                    metadata={"meta": {"adapter": adapter}})
            shared = SharedCall(key, call, TrackAligner(roles, SAMPLE_RATE_HZ), started=time.monotonic())
            if leg.role != "mixed":
                server.legs.add(shared)
        shared.attach(leg.role)
        self.shared = shared
        self.rate_hz = 0
        self._resampler = None

    def audio(self, rate_hz: int, samples: np.ndarray, received: float) -> None:
        """The leg's next samples at ``rate_hz`` (which must not change mid-stream).

        Raises:
            ProtocolError: the rate changed, or a limit was hit.
        """
        if self.rate_hz == 0:
            from voicemon.audio.stream_edge import StreamResampler

            self.rate_hz = rate_hz
            if rate_hz != SAMPLE_RATE_HZ:
                self._resampler = StreamResampler(rate_hz)
        elif rate_hz != self.rate_hz:
            raise protocol_error("unsupported_rate", f"the sample rate changed mid-stream ({self.rate_hz} -> {rate_hz} Hz)")
        if self._resampler is not None:
            samples = self._resampler.feed(samples)
        if len(samples):
            _feed(self.server, self.shared, self.shared.tracks.feed(self.leg.role, samples), received)

    async def leave(self, reason: str) -> None:
        """The leg ended: the resampler's tail goes in; the call ends with its last leg."""
        shared = self.shared
        if not shared.call.ended and not self.server.is_ending(shared.call):
            chunks = []
            if self._resampler is not None:
                tail = self._resampler.feed(np.zeros(0, np.float32), last=True)
                if len(tail):
                    chunks += shared.tracks.feed(self.leg.role, tail)
            chunks += shared.tracks.close_role(self.leg.role)  # the other leg goes on without waiting for this one
            for chunk in chunks:
                shared.call.feed(chunk)
        if shared.key in self.server.legs.calls or self.leg.role == "mixed":
            await self.server.legs.detach(self.server, shared, self.leg.role, reason)


async def handle_audiosocket(server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One AudioSocket TCP connection from Asterisk (one party of a call).

    Counted with the WebSocket ingest connections: beyond ``max_ingest_connections`` a new
    connection is answered with a hang-up packet and closed.
    """
    if server.connections["ingest"] >= server.options.max_ingest_connections or server.stopping:
        log.warning("AudioSocket connection refused: %d ingest connections open", server.connections["ingest"])
        try:
            writer.write(packet(KIND_HANGUP))
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        writer.close()
        return
    server.connections["ingest"] += 1
    try:
        await _audiosocket(server, reader, writer)
    finally:
        server.connections["ingest"] -= 1


async def _audiosocket(server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    parser = AudioSocketParser()
    limit = RateLimit(max(server.options.max_messages_per_s, 120.0))
    feed: LegFeed | None = None
    reason = "connection closed"
    peer = writer.get_extra_info("peername")
    try:
        deadline = time.monotonic() + server.options.start_timeout_s
        while True:
            try:
                timeout = max(0.0, deadline - time.monotonic()) if feed is None else None
                async with asyncio.timeout(timeout):
                    data = await reader.read(65536)
            except TimeoutError:
                raise protocol_error("start_timeout", "no AudioSocket UUID packet in time") from None
            if not data:
                reason = "connection closed" if feed is not None else reason
                break
            received = time.perf_counter()
            for pkt in parser.feed(data):
                limit.take()
                if feed is None:
                    feed = LegFeed(server, "audiosocket", audiosocket_leg(pkt))
                elif pkt.kind in SLIN_RATES_HZ:
                    feed.audio(*audiosocket_samples(pkt), received)
                elif pkt.kind == KIND_HANGUP:
                    reason = "hung up by Asterisk"
                    return
                elif pkt.kind == KIND_ERROR:
                    reason = f"Asterisk error: {audiosocket_error(pkt)}"
                    return
                elif pkt.kind in (KIND_DTMF, KIND_UUID):
                    continue
                else:
                    raise protocol_error("bad_message", f"unknown AudioSocket packet type 0x{pkt.kind:02x}")
    except ProtocolError as exc:
        reason = f"protocol error: {exc.code}"
        log.warning("AudioSocket connection from %s: %s (%s)", peer, exc, exc.code)
        try:
            writer.write(packet(KIND_HANGUP))
            await writer.drain()
        except (ConnectionError, OSError):
            pass
    except (ConnectionError, OSError):
        reason = "connection lost"
    finally:
        try:
            if feed is not None:
                await feed.leave(reason)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass


async def handle_asterisk_websocket(server, ws) -> None:
    """One chan_websocket connection (``/asterisk?call_id=...&leg=in|out``): one party of a call."""
    from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

    limit = RateLimit(max(server.options.max_messages_per_s, 120.0))
    feed: LegFeed | None = None
    media = WebSocketMedia("ulaw")
    reason = "connection closed"
    try:
        feed = LegFeed(server, "asterisk", websocket_leg(query_of(ws.request.path)))
        async for message in ws:
            limit.take()
            if isinstance(message, str):
                command, fields = parse_websocket_text(message)
                if command == "MEDIA_START" and "format" in fields:
                    media = WebSocketMedia(fields["format"])
                continue
            feed.audio(media.rate_hz, media.decode(message), time.perf_counter())
        reason = "channel hung up"
    except ProtocolError as exc:
        reason = f"protocol error: {exc.code}"
        if feed is not None:
            leaving, feed = feed, None
            asyncio.ensure_future(leaving.leave(reason))
        await send_error(ws, exc)
    except ConnectionClosedOK:
        reason = "channel hung up"
    except ConnectionClosed:
        reason = "connection lost"
    finally:
        if feed is not None:
            await feed.leave(reason)
