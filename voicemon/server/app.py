"""``voicemon serve``: one asyncio process hosting many calls over WebSockets (DESIGN.md §6).

Endpoints on one port (docs/protocol.md):

* ``/ingest`` — a call's audio in voicemon's PCM protocol; ``/twilio`` — Twilio Media Streams;
* ``/watch`` — subscribe to calls' event streams and send prompt acknowledgements;
* HTTP: ``/healthz``, ``/api/calls``, and the agent view / wall pages from ``voicemon/web``.

All calls share one Whisper model through one :class:`~voicemon.live.asr_pool.AsrPool`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import signal
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from voicemon.config import Config
from voicemon.errors import ConfigError, ProtocolError
from voicemon.events import CallEnded, CallStarted
from voicemon.live.asr_pool import AsrPool
from voicemon.live.runner import LiveCall, LiveOptions
from voicemon.server import http_routes
from voicemon.server.connections import IngestSession, handle_twilio, handle_watch
from voicemon.server.hub import CallHub

log = logging.getLogger(__name__)

WS_PATHS = ("/ingest", "/twilio", "/watch")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class VoicemonServer:
    """The feed server.

    Args:
        config: options (``config.server`` for the network and limits).
        transcriber: the shared speech recogniser (default: the configured Whisper model, set up
            by :func:`~voicemon.asr.transcriber.parallel_transcriber`).
        workers: Whisper workers shared by all calls (0 = one per core).

    Raises:
        ConfigError: binding beyond localhost without a token.
    """

    def __init__(self, config: Config, transcriber=None, workers: int = 0) -> None:
        self.config = config
        self.options = config.server
        if not is_loopback(self.options.host) and not self.options.token:
            raise ConfigError(f"serving on {self.options.host!r} (beyond this machine) needs a token: pass --token "
                              "or set VOICEMON_SERVER_TOKEN (clients then add ?token=... or an Authorization header)")
        if transcriber is None:
            from voicemon.asr.transcriber import parallel_transcriber

            transcriber, workers = parallel_transcriber(config.asr, workers)
        self.transcriber = transcriber
        self.pool = AsrPool(transcriber, workers=workers or 1)
        self.hub = CallHub(keep_ended_s=self.options.keep_ended_s)
        self.out_dir = Path(self.options.out_dir)
        self.started_wall = time.time()
        self.stopping = False
        self._server = None
        self._ending: dict[str, asyncio.Task] = {}
        self._ended: dict[str, tuple[LiveCall, dict]] = {}
        self.port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> int:
        """Bind and start serving; returns the port."""
        from websockets.asyncio.server import serve

        self._server = await serve(
            self._handle, self.options.host, self.options.port,
            process_request=self._process_request,
            max_size=self.options.max_message_bytes,
            max_queue=32,
            compression=None,
            ping_interval=20, ping_timeout=20,
            server_header=None,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self.port

    async def stop(self) -> list[dict]:
        """Graceful shutdown: finish every open call (writing its report), then close.

        Returns:
            The summaries of the calls finished here.
        """
        self.stopping = True
        summaries = []
        for entry in list(self.hub.live_calls()):
            summaries.append(await self.end_call(entry.call, "server shutting down"))
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.pool.close()
        return summaries

    async def serve_until_signal(self, on_ready=None) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        await self.start()
        if on_ready:
            on_ready(self)
        await stop.wait()
        log.info("shutting down: finishing %d call(s)", len(self.hub.live_calls()))
        await self.stop()

    # -- calls ---------------------------------------------------------------------------

    def open_call(self, call_id: str, roles: tuple[str, ...], mode: str, source: str, audio_meta: dict,
                  options: LiveOptions | None = None) -> LiveCall:
        """Create and register a call.

        Raises:
            ProtocolError: the id is taken, too many calls, or the server is stopping.
        """
        from voicemon.server.protocol import protocol_error

        if self.stopping:
            raise protocol_error("too_many_calls", "the server is shutting down")
        existing = self.hub.calls.get(call_id)
        if existing is not None and existing.ended_wall is None:
            raise protocol_error("call_exists", f"call {call_id!r} is already being streamed")
        if len(self.hub.live_calls()) >= self.options.max_calls:
            raise protocol_error("too_many_calls", f"this server takes at most {self.options.max_calls} calls at once")
        options = options or LiveOptions(lockstep=mode == "lockstep", interim_interval_s=0.0 if mode == "lockstep" else 1.5)
        call = LiveCall(call_id, roles, self.config, self.pool, meta={"source": source, "audio": audio_meta}, options=options)
        self.hub.add(call)
        call.emit([CallStarted(t=0.0, roles=tuple(call.roles), source=source)])
        return call

    async def end_call(self, call: LiveCall, reason: str) -> dict:
        """Finish a call once: last transcriptions, report and event log on disk, ``call_ended``.

        Returns:
            The call's summary (as sent in ``call_ended``).
        """
        done = self._ended.get(call.call_id)
        if done is not None and done[0] is call:
            return done[1]
        task = self._ending.get(call.call_id)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._end_call(call, reason))
            self._ending[call.call_id] = task
        return await asyncio.shield(task)

    async def _end_call(self, call: LiveCall, reason: str) -> dict:
        from voicemon.live.commands import write_call_report

        report = await call.finish()
        caller = report["stats"]["per_role"][report["caller_role"]]
        summary = {"duration_s": report["duration_s"], "peak_level": caller["peak_level"],
                   "peak_score": caller["peak_score"], "prompts_fired": report["stats"]["prompts_fired"],
                   "reason": reason}
        stem = call.call_id.replace(":", "_")
        summary["report"] = str(self.out_dir / f"{stem}.html")
        call.emit([CallEnded(t=round(call.media_s, 3), summary=summary)])
        final = call.report()
        try:
            await asyncio.to_thread(write_call_report, final, self.out_dir, stem)
        except OSError as exc:
            log.error("could not write the report of call %s: %s", call.call_id, exc)
        entry = self.hub.calls.get(call.call_id)
        if entry is not None:
            entry.ended_wall = time.time()
            entry.report_paths = {"html": summary["report"], "json": str(self.out_dir / f"{stem}.json"),
                                  "events": str(self.out_dir / f"{stem}.events.jsonl")}
        self._ended[call.call_id] = (call, summary)
        self._ending.pop(call.call_id, None)
        log.info("call %s ended (%s): %s", call.call_id, reason, summary)
        return summary

    # -- connections ---------------------------------------------------------------------

    def check_token(self, request) -> bool:
        """Whether the request carries the configured token (always true without one)."""
        if not self.options.token:
            return True
        query = parse_qs(urlsplit(request.path).query)
        offered = (query.get("token") or [""])[0]
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            offered = offered or auth[7:].strip()
        return hmac.compare_digest(offered.encode(), self.options.token.encode())

    def origin_allowed(self, request) -> bool:
        """Non-browser clients (no Origin), the server's own pages, and configured origins."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        allowed = self.options.allowed_origins
        if "*" in allowed or origin in allowed:
            return True
        host = request.headers.get("Host", "")
        return origin in (f"http://{host}", f"https://{host}")

    async def _process_request(self, connection, request):
        return http_routes.route(self, connection, request)

    async def _handle(self, ws) -> None:
        path = urlsplit(ws.request.path).path
        try:
            if path == "/ingest":
                await IngestSession(self, ws).run()
            elif path == "/twilio":
                await handle_twilio(self, ws)
            elif path == "/watch":
                await handle_watch(self, ws)
        except ProtocolError:
            raise
        except Exception:
            log.exception("connection to %s failed", path)
            await ws.close(1011, "internal error")

    def health(self) -> dict:
        """What ``/healthz`` returns."""
        return {"status": "stopping" if self.stopping else "ok", "calls": len(self.hub.live_calls()),
                "watchers": len(self.hub.watchers), "asr_backlog_s": round(self.pool.backlog_s(), 2),
                "uptime_s": round(time.time() - self.started_wall, 1), "model": getattr(self.transcriber, "name", "")}


def json_bytes(obj) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(obj, ensure_ascii=False).encode()
