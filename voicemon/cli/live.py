"""``voicemon replay`` and ``voicemon listen``: one live call in the terminal.

Both run a :class:`~voicemon.live.runner.LiveCall` on an asyncio loop with the terminal view
and/or a JSON-lines event stream, and on the end of the recording or Ctrl-C finish the call and
write the same report ``voicemon analyze`` writes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, TextIO

from voicemon.cli.common import DEFAULT_REPORT_DIR, add_workers_arg
from voicemon.errors import VoicemonError
from voicemon.report.writers import write_call_outputs

if TYPE_CHECKING:  # heavy modules load only when a live command runs
    from voicemon.config import Config
    from voicemon.events import Envelope
    from voicemon.live.runner import LiveCall

log = logging.getLogger(__name__)


class JsonlSink:
    """Write event envelopes as JSON lines to a file or stdout (flushed per line)."""

    def __init__(self, target: str) -> None:
        self._close = target != "-"
        self.stream: TextIO = sys.stdout if target == "-" else open(target, "w", encoding="utf-8")

    def __call__(self, env: Envelope) -> None:
        self.stream.write(env.json() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._close:
            self.stream.close()


async def _wait_for_stop(feed: Callable[[asyncio.Event], Awaitable[object]] | None) -> None:
    """Run ``feed`` (or just wait) until it ends or SIGINT/SIGTERM arrives."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread / not POSIX
            pass
    try:
        if feed is None:
            await stop.wait()
        else:
            await feed(stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass


class KeyReader:
    """Single key presses from the terminal (cbreak mode: no Enter needed, Ctrl-C still works)
    passed to ``on_key`` on the event loop; the terminal is restored by :meth:`stop`.

    The keyboard is read on a small thread (``select`` with a short timeout, then ``os.read``)
    rather than with ``loop.add_reader``: on a busy loop that shares the terminal with a view
    redrawing it many times a second, the loop's reader was seen never to fire.
    """

    def __init__(self, on_key: Callable[[str], None]) -> None:
        self.on_key = on_key
        self.fd = sys.stdin.fileno()
        self._saved = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def usable() -> bool:
        """stdin is a POSIX terminal."""
        try:
            import termios  # noqa: F401
            import tty  # noqa: F401
        except ImportError:
            return False
        return sys.stdin is not None and sys.stdin.isatty()

    def start(self) -> None:
        import termios
        import tty

        loop = asyncio.get_running_loop()
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        self._thread = threading.Thread(target=self._read, args=(loop,), name="voicemon-keys", daemon=True)
        self._thread.start()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        import os
        import select

        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.2)
                data = os.read(self.fd, 64).decode("utf-8", "ignore") if ready else ""
            except (OSError, ValueError):
                return
            for ch in data:
                try:
                    loop.call_soon_threadsafe(self.on_key, ch)
                except RuntimeError:  # the loop has closed
                    return

    def stop(self) -> None:
        import termios

        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None


class LiveSetup:
    """What a live command runs: the call, its ASR pool, outputs, and (``--serve``) the server."""

    def __init__(self, args, config: Config, call_id: str, roles: tuple[str, ...], lockstep: bool, meta: dict) -> None:
        self.args = args
        self.config = config
        self.call_id = call_id
        self.roles = roles
        self.lockstep = lockstep
        self.meta = meta
        self.server = None
        self.started = time.monotonic()
        self.jsonl = JsonlSink(args.jsonl) if args.jsonl else None
        self.view = None
        self.keys: KeyReader | None = None
        self.url_line = ""
        self.out = sys.stderr if args.jsonl == "-" else sys.stdout

    async def open(self) -> LiveCall:
        """Load the model, create the call (registered on an in-process server with ``--serve``)."""
        from voicemon.asr.transcriber import parallel_transcriber
        from voicemon.live.asr_pool import AsrPool
        from voicemon.live.runner import LiveCall, warm_up
        from voicemon.live.terminal_view import TerminalView

        args, config = self.args, self.config
        transcriber, workers = parallel_transcriber(config.asr, model_origin=config.origins.get("asr.model"))
        warm_up(config)
        if getattr(args, "serve", False):
            import dataclasses

            from voicemon.server.app import VoicemonServer
            from voicemon.server.protocol import safe_call_id

            server_opts = served_options(args, config)
            self.server = VoicemonServer(dataclasses.replace(config, server=server_opts), transcriber=transcriber,
                                         workers=workers)
            await self.server.start()
            self.call_id = safe_call_id(self.call_id)
            call = self.server.open_call(self.call_id, self.roles, "lockstep" if self.lockstep else "live",
                                         self.meta.get("source", self.call_id), self.meta.get("audio", {}))
            base = f"http://{server_opts.host}:{self.server.port}"
            token = "&token=<your token>" if server_opts.token else ""  # never echo the secret
            self.url_line = f"agent view: {base}/?call={self.call_id}{token}   wall: {base}/wall{token.replace('&', '?', 1)}"
            print(self.url_line, file=self.out, flush=True)
        else:
            self.pool = AsrPool(transcriber, workers=workers, max_batch_s=config.live.max_batch_s,
                                max_backlog_s=config.live.max_backlog_s)
            call = LiveCall(self.call_id, self.roles, config, self.pool, meta=self.meta, lockstep=self.lockstep)
        if self.jsonl:
            call.sinks.append(self.jsonl)
        if not args.no_view and sys.stdout.isatty() and args.jsonl != "-":
            keys = KeyReader.usable()
            # the view redraws the whole screen: the URL stays in its header, not above it
            self.view = TerminalView(self.call_id, self.roles, header=[self.url_line] if self.url_line else [], keys=keys)
            call.sinks.append(self.view)
            if keys:
                self.keys = KeyReader(lambda ch: self._on_key(ch))
                self.keys.start()
        self.call = call
        return call

    def _on_key(self, ch: str) -> None:
        """A key pressed in the terminal view: ``a``/``d`` act on the prompt on screen."""
        hit = self.view.key(ch) if self.view else None
        if hit is None or self.call.ended:
            return
        prompt_id, action = hit
        try:
            self.call.acknowledge(prompt_id, action)
        except Exception:  # an ack that cannot be logged must not end the call
            log.exception("acknowledging %s failed", prompt_id)

    async def run(self, feed: Callable[[asyncio.Event], Awaitable[object]]) -> int:
        """Feed the call, finish it, write the report; with ``--serve`` keep serving until Ctrl-C."""
        try:
            await _wait_for_stop(feed)
        finally:
            if self.keys:
                self.keys.stop()
        call = self.call
        if self.server is not None:
            await self.server.end_call(call, "source ended")
            report = call.report()
        else:
            report = await call.finish()
        if self.view:
            self.view.draw(force=True)
        if self.jsonl:
            self.jsonl.close()
        caller = report["stats"]["per_role"][report["caller_role"]]
        summary = (f"{call.call_id}: {report['duration_s']:.0f} s in {time.monotonic() - self.started:.0f} s, "
                   f"peak {caller['peak_level']} ({caller['peak_score']:.0f}), {report['stats']['prompts_fired']} prompts")
        if self.server is not None:
            ended = self.server.entry_of(call)
            where = (ended.summary or {}).get("report") if ended is not None else None
            print(f"{summary} -> {where or 'report not written (see the log)'}", file=self.out, flush=True)
            print(self.url_line, file=self.out, flush=True)
            print("the call has ended; the view stays up until Ctrl-C", file=self.out, flush=True)
            await _wait_for_stop(None)
            await self.server.stop()
            return 0
        self.pool.close()
        if self.args.report != "none":
            paths = write_call_outputs(report, Path(self.args.report or DEFAULT_REPORT_DIR), call.call_id)
            print(f"{summary} -> {paths['html']}", file=self.out, flush=True)
        return 0


def cmd_replay(args, config: Config) -> int:
    """``voicemon replay FILE``: play a recording into the live engine, paced like a call."""
    from voicemon.audio.decode import load_call_audio
    from voicemon.live.sources import parse_speed, replay
    from voicemon.session import call_roles

    try:
        speed = None if args.lockstep else parse_speed(args.speed)
    except ValueError as exc:
        raise VoicemonError(f"--speed: {exc}") from exc
    audio = load_call_audio(args.file, config.audio.channels)
    roles = call_roles(list(audio.signals))
    call_id = args.call_id or Path(args.file).stem
    meta = {"source": str(args.file),
            "audio": {"rate_hz": audio.source_rate_hz, "channels": audio.source_channels, "format": audio.source_format}}

    async def main() -> int:
        setup = LiveSetup(args, config, call_id, roles, speed is None, meta)
        call = await setup.open()
        return await setup.run(lambda stop: replay(call, audio, config.audio.chunk_ms, speed, stop))

    return asyncio.run(main())


def cmd_listen(args, config: Config) -> int:
    """``voicemon listen``: monitor a call from a sound device."""
    from voicemon.live.sources import DeviceInput, list_input_devices

    if args.list_devices:
        devices = list_input_devices()
        if not devices:
            raise VoicemonError("no input devices found (is a microphone or line-in connected?)")
        for d in devices:
            print(f"{d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['rate_hz']:.0f} Hz)")
        return 0
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    source = DeviceInput(device, args.input_channels, config.audio.chunk_ms, roles=tuple(config.audio.channels))
    call_id = args.call_id or time.strftime("call-%Y%m%d-%H%M%S")
    meta = {"source": f"device:{source.info['name']}",
            "audio": {"rate_hz": source.rate_hz, "channels": source.channels, "format": "device"}}

    async def main() -> int:
        setup = LiveSetup(args, config, call_id, source.roles, False, meta)
        call = await setup.open()
        return await setup.run(lambda stop: source.run(call, stop))

    return asyncio.run(main())


REPLAY_EXAMPLES = """examples:
  voicemon replay call.wav                      # real time, with the terminal view
  voicemon replay call.wav --speed 4 --serve    # 4x, and the agent view in the browser (URL printed)
  voicemon replay call.wav --lockstep           # QA-grade: the same report analyze writes
  voicemon replay call.wav --jsonl - | jq .type # the event stream instead of the view

In the terminal view, a = the prompt on screen is done, d = dismiss it, Ctrl-C ends the call.
"""

LISTEN_EXAMPLES = """examples:
  voicemon listen --list-devices
  voicemon listen --device 2 --input-channels 2                      # agent left, customer right
  voicemon listen --device 2 --input-channels 2 --channels customer,agent
  voicemon listen --serve --port 8765                                # and the agent view in the browser

In the terminal view, a = the prompt on screen is done, d = dismiss it, Ctrl-C ends the call.
"""


def add_live_parsers(sub, common) -> None:
    """Register ``replay`` and ``listen`` on the CLI's subparsers."""
    shared = [common]
    p = sub.add_parser("replay", parents=shared, help="play a recording into the live monitor, paced like a call",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=REPLAY_EXAMPLES)
    p.add_argument("file", metavar="FILE", help="a recorded call (any format analyze reads)")
    p.add_argument("--speed", default="1", help="1 = real time, 2 = twice as fast, max = as fast as possible (lockstep, same result as analyze)")
    p.add_argument("--lockstep", action="store_true",
                   help="same as --speed max: every utterance's words folded in before the next audio, so the report "
                        "equals analyze's (QA-grade) whatever the machine's load")
    p.add_argument("--channels", metavar="ROLES",
                   help="roles of a two-channel file's channels, left first (default agent,customer)")
    _live_options(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("listen", parents=shared, help="monitor a call live from a sound device",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=LISTEN_EXAMPLES)
    p.add_argument("--device", metavar="INDEX|NAME", help="input device (default: the system's default input)")
    p.add_argument("--list-devices", action="store_true", help="list input devices and exit")
    p.add_argument("--input-channels", type=int, default=1, choices=(1, 2),
                   help="1 = both parties on one channel (mixed); 2 = one party per channel (see --channels)")
    p.add_argument("--channels", metavar="ROLES",
                   help="with --input-channels 2: roles of the device's two input channels, left first "
                        "(default agent,customer)")
    _live_options(p)
    p.set_defaults(func=cmd_listen)


def _live_options(p) -> None:
    p.add_argument("--jsonl", metavar="FILE|-", help="write the event stream as JSON lines (- = stdout, replaces the view)")
    p.add_argument("--report", metavar="DIR|none",
                   help=f"write the call's report here when it ends (default ./{DEFAULT_REPORT_DIR}; none = don't)")
    p.add_argument("--no-view", action="store_true", help="no terminal view")
    p.add_argument("--call-id", metavar="ID", help="name of the call (default: file stem or start time)")
    add_workers_arg(p, "Whisper workers")
    p.add_argument("--interim-s", type=float, metavar="S",
                   help="tentative text every S seconds while a party talks (live.interim_interval_s, default 1.5; "
                        "0 = final text only)")
    p.add_argument("--serve", action="store_true",
                   help="also serve the agent view and the feed (prints the view's URL; stays up until Ctrl-C)")
    p.add_argument("--port", type=int, help="port for --serve (server.port, default 8765; 0 = any free port)")
    p.set_defaults(config_flags=live_flags)


def live_flags(args) -> dict[str, dict]:
    """``--interim-s`` and ``--port`` as options (applied by :func:`~voicemon.cli.common.config_from_args`)."""
    return {"live": {"interim_interval_s": args.interim_s}, "server": {"port": args.port}}


def served_options(args, config: Config):
    """The ``[server]`` options of ``replay``/``listen --serve``: the configuration's (file,
    environment, ``--port``), with the reports in ``--report`` when it is given, else in the
    configuration's ``server.out_dir`` when that was set, else where ``--report`` defaults to
    (``--report none``: a cache folder, as the server must log the call somewhere)."""
    import dataclasses

    if args.report == "none":
        out_dir = str(Path(".cache") / "served-calls")
    elif args.report is not None:
        out_dir = args.report
    elif "server.out_dir" in config.origins:
        out_dir = config.server.out_dir
    else:
        out_dir = DEFAULT_REPORT_DIR
    return dataclasses.replace(config.server, out_dir=out_dir)
