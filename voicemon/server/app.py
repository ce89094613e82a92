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
import logging
import signal
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from voicemon.config import Config
from voicemon.errors import ConfigError, ProtocolError
from voicemon.events import CallEnded, CallStarted
from voicemon.live.asr_pool import AsrPool
from voicemon.live.runner import LiveCall
from voicemon.report.writers import write_call_outputs
from voicemon.server import http_routes, telephony
from voicemon.server.connections import IngestSession, handle_twilio, handle_watch
from voicemon.server.eventlog import reserve_stem
from voicemon.server.hub import CallEntry
from voicemon.server.hubs import make_hub
from voicemon.server.legs import LegRegistry
from voicemon.server.protocol import check_call_id, protocol_error
from voicemon.server.recovery import recover_unfinished

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


def check_out_dir(path: Path) -> Path:
    """Create ``path`` if needed and make sure files can be written there.

    Raises:
        ConfigError: it is a file, or cannot be created or written.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".voicemon-write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"--out {str(path)!r} cannot be written: {exc.strerror or exc}") from None
    return path


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``[::1]`` kept bracketed), lower-cased."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


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
        ConfigError: binding beyond localhost without a token, or an ``out_dir`` that cannot be
            written.
    """

    def __init__(self, config: Config, transcriber=None, workers: int = 0) -> None:
        self.config = config
        self.options = config.server
        if not is_loopback(self.options.host) and not self.options.token:
            raise ConfigError(f"serving on {self.options.host!r} (beyond this machine) needs a token: pass --token "
                              "or set VOICEMON_SERVER_TOKEN (clients then add ?token=... or an Authorization header)")
        self.out_dir = check_out_dir(Path(self.options.out_dir))
        if transcriber is None:
            from voicemon.asr.transcriber import parallel_transcriber

            transcriber, workers = parallel_transcriber(config.asr, workers, config.origins.get("asr.model"))
        self.transcriber = transcriber
        self.pool = AsrPool(transcriber, workers=workers or 1, max_batch_s=config.live.max_batch_s,
                            max_backlog_s=config.live.max_backlog_s)
        self.hub = make_hub(self.options)  # in-process, or shared through Redis (server.hub)
        self.started_wall = time.time()
        self.stopping = False
        self.recovered: list[str] = []
        self.connections = {"ingest": 0, "watch": 0}
        self._server = None
        self._flusher: asyncio.Task | None = None
        self._ending: dict[LiveCall, asyncio.Task] = {}
        self.legs = LegRegistry()
        self._audiosocket: asyncio.Server | None = None
        self.audiosocket_port: int | None = None
        self.port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> int:
        """Write the reports of calls a crash left unfinished, then bind and serve; returns the port."""
        from websockets.asyncio.server import serve

        model = getattr(self.transcriber, "name", "unknown")
        self.recovered = await asyncio.to_thread(recover_unfinished, self.out_dir, self.config, model)
        await self.hub.start()
        self._server = await serve(
            self._handle, self.options.host, self.options.port,
            process_request=self._process_request,
            select_subprotocol=telephony.select_subprotocol,
            max_size=self.options.max_message_bytes,
            max_queue=32,
            compression=None,
            ping_interval=20, ping_timeout=20,
            server_header=None,
        )
        self._flusher = asyncio.ensure_future(self._flush_logs())
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        if self.config.telephony.audiosocket_port >= 0:  # Asterisk AudioSocket: raw TCP
            self._audiosocket = await asyncio.start_server(
                lambda r, w: telephony.handle_audiosocket(self, r, w), self.config.telephony.audiosocket_host,
                self.config.telephony.audiosocket_port)
            self.audiosocket_port = next(iter(self._audiosocket.sockets)).getsockname()[1]
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
        if self._flusher is not None:
            self._flusher.cancel()
        if self._audiosocket is not None:
            self._audiosocket.close()
        await self.hub.close()
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
            except (NotImplementedError, RuntimeError):  # not the main thread / not POSIX: no graceful stop by signal
                pass
        await self.start()
        if on_ready:
            on_ready(self)
        await stop.wait()
        log.info("shutting down: finishing %d call(s)", len(self.hub.live_calls()))
        await self.stop()

    async def _flush_logs(self) -> None:
        """Write every live call's new events to its log at least every ``log_flush_s`` (wall clock)."""
        while True:
            await asyncio.sleep(self.options.log_flush_s)
            for entry in self.hub.live_calls():
                flush = getattr(entry.call.log, "flush", None)
                if flush is not None:
                    flush()

    # -- calls ---------------------------------------------------------------------------

    def open_call(self, call_id: str, roles: tuple[str, ...], mode: str, source: str, audio_meta: dict,
                  metadata: dict | None = None) -> LiveCall:
        """Create and register a call, with its durable event log in ``out_dir``.

        ``metadata`` (validated by :func:`~voicemon.server.protocol.parse_metadata`) goes into
        ``call_started``, ``/api/calls`` and the report.

        Raises:
            ProtocolError: a bad id, the id is taken, too many calls, the server is stopping,
                or the event log cannot be created (``storage_failed``).
        """
        check_call_id(call_id)
        if self.stopping:
            raise protocol_error("too_many_calls", "the server is shutting down")
        existing = self.hub.calls.get(call_id)
        if existing is not None and existing.ended_wall is None and existing.call not in self._ending:
            raise protocol_error("call_exists", f"call {call_id!r} is already being streamed")
        if len(self.hub.live_calls()) >= self.options.max_calls:
            raise protocol_error("too_many_calls", f"this server takes at most {self.options.max_calls} calls at once")
        try:
            stem, durable = reserve_stem(self.out_dir, call_id)
        except OSError as exc:
            log.error("call %s: cannot create its event log in %s: %s", call_id, self.out_dir, exc)
            raise protocol_error("storage_failed", "the server cannot store this call's event log") from None
        try:
            call = LiveCall(call_id, roles, self.config, self.pool,
                            meta={"source": source, "audio": audio_meta, "metadata": dict(metadata or {})},
                            lockstep=mode == "lockstep", log=durable)
        except BaseException:
            durable.close()
            raise
        entry = self.hub.add(call)
        entry.stem = stem
        call.emit([CallStarted(t=0.0, roles=tuple(call.roles), source=source, **(metadata or {}))])
        durable.flush()
        who = f", agent {metadata['agent_id']}" if metadata and metadata.get("agent_id") else ""
        log.info("call %s started (%s, %s%s)", call_id, mode, source, who)
        return call

    def is_ending(self, call: LiveCall) -> bool:
        """Whether the call is being finished (its id is then free for a new call)."""
        return call in self._ending

    def entry_of(self, call: LiveCall) -> CallEntry | None:
        """The hub's entry of this very call (not a later call with the same id)."""
        entry = self.hub.calls.get(call.call_id)
        return entry if entry is not None and entry.call is call else None

    async def end_call(self, call: LiveCall, reason: str) -> dict:
        """Finish a call once: last transcriptions, report on disk, ``call_ended``.

        Whatever goes wrong (a failed transcription, a full disk, an unwritable name), the call
        ends, its ``max_calls`` slot is freed and the summary says so: ``report`` is then
        ``None`` and ``report_error`` says why.

        Returns:
            The call's summary (as sent in ``call_ended``).
        """
        done = getattr(call, "end_summary", None)
        if done is not None:
            return done
        task = self._ending.get(call)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._end_call(call, reason))
            self._ending[call] = task
        return await asyncio.shield(task)

    async def _end_call(self, call: LiveCall, reason: str) -> dict:
        entry = self.entry_of(call)
        stem = getattr(entry, "stem", "") or call.call_id
        summary: dict = {"duration_s": round(call.media_s, 3), "peak_level": "calm", "peak_score": 0.0,
                         "prompts_fired": 0, "reason": reason, "report": None}
        paths: dict[str, str] = {}
        try:
            await call.finish(report=False)
            flush = getattr(call.log, "flush", None)
            if flush is not None:
                flush()
            report = await asyncio.to_thread(call.report)
            caller = report["stats"]["per_role"][report["caller_role"]]
            summary.update(duration_s=report["duration_s"], peak_level=caller["peak_level"],
                           peak_score=caller["peak_score"], prompts_fired=report["stats"]["prompts_fired"])
            paths = await asyncio.to_thread(write_call_outputs, report, self.out_dir, stem, events=False)
            summary["report"] = paths["html"]
            summary["report_url"] = f"/reports/{Path(paths['html']).name}"
        except Exception as exc:  # noqa: BLE001 — any failure must still end the call and say so
            summary["report_error"] = f"{type(exc).__name__}: {exc}"[:300]
            log.error("call %s: its report could not be written: %r", call.call_id, summary["report_error"])
        finally:
            durable = getattr(call.log, "path", None)
            try:
                call.emit([CallEnded(t=round(call.media_s, 3), summary=summary)])
                close = getattr(call.log, "close", None)
                if close is not None:
                    close()
                if getattr(call.log, "error", None) is not None and summary.get("report") is not None:
                    summary["report_error"] = f"event log incomplete: {call.log.error}"[:300]
            finally:
                call.ended = True
                call.end_summary = summary
                if entry is not None:
                    entry.ended_wall = time.time()
                    entry.summary = summary
                    if summary.get("report"):
                        entry.report_paths = {**paths, "events": str(durable or "")}
                self._ending.pop(call, None)
                self.hub.expire()
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

    def host_allowed(self, request) -> bool:
        """DNS-rebinding guard: without a token, only local host names (and configured ones)."""
        if self.options.token:
            return True
        host = request.headers.get("Host")
        if host is None:
            return False
        allowed = set(LOCAL_HOSTS) | {h.lower() for h in self.options.allowed_hosts}
        bound = self.options.host.lower()
        allowed.add(f"[{bound}]" if ":" in bound else bound)
        return "*" in allowed or host_name(host) in allowed

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

    def connection_slot_free(self, path: str) -> bool:
        """Whether another connection to ``path`` fits under the caps."""
        if path == "/watch":
            return self.connections["watch"] < self.options.max_watchers
        return self.connections["ingest"] < self.options.max_ingest_connections

    async def _process_request(self, connection, request):
        response = http_routes.route(self, connection, request)
        if response is None and urlsplit(request.path).path == "/audiohook":
            response = await telephony.audiohook_handshake(self, request)
        return response

    async def _handle(self, ws) -> None:
        path = urlsplit(ws.request.path).path
        kind = "watch" if path == "/watch" else "ingest"
        self.connections[kind] += 1
        try:
            if path == "/ingest":
                await IngestSession(self, ws).run()
            elif path == "/twilio":
                await handle_twilio(self, ws)
            elif path == "/watch":
                await handle_watch(self, ws)
            elif path == "/audiohook":
                await telephony.handle_audiohook(self, ws)
            elif path == "/audiofork":
                await telephony.handle_audiofork(self, ws)
            elif path == "/asterisk":
                await telephony.handle_asterisk_websocket(self, ws)
        except ProtocolError:
            raise
        except Exception:
            log.exception("connection to %r failed", path[:100])
            await ws.close(1011, "internal error")
        finally:
            self.connections[kind] -= 1

    def health(self) -> dict:
        """What ``/healthz`` returns."""
        return {"status": "stopping" if self.stopping else "ok", "calls": len(self.hub.live_calls()),
                "watchers": len(self.hub.watchers), "asr_backlog_s": round(self.pool.backlog_s(), 2),
                "uptime_s": round(time.time() - self.started_wall, 1), "model": getattr(self.transcriber, "name", "")}
