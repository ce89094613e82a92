"""``voicemon serve``: run the feed server until SIGTERM/Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import sys

from voicemon.cli.common import add_workers_arg

log = logging.getLogger(__name__)


def cmd_serve(args, config) -> int:
    """Serve calls over WebSockets; finish and write every open call on shutdown."""
    from pathlib import Path

    from voicemon.asr.transcriber import parallel_transcriber

    from voicemon.live.runner import warm_up
    from voicemon.server.app import VoicemonServer, check_out_dir

    check_out_dir(Path(config.server.out_dir))  # before the model loads: a bad --out fails at once (exit 2)
    transcriber, workers = parallel_transcriber(config.asr, model_origin=config.origins.get("asr.model"))
    server = VoicemonServer(config, transcriber=transcriber, workers=workers)
    warm_up(config)

    def ready(srv) -> None:
        host = srv.options.host
        token = "?token=<your token>" if srv.options.token else ""  # the secret itself is never printed
        print(f"voicemon serving on ws://{host}:{srv.port} (ingest /ingest, Twilio /twilio, Genesys /audiohook, audio fork /audiofork, Asterisk /asterisk, watch /watch)", flush=True)
        print(f"agent view: http://{host}:{srv.port}/{token}   wall: http://{host}:{srv.port}/wall{token}", flush=True)
        print(f"calls are logged as they run and written to {srv.out_dir}/", flush=True)
        if srv.audiosocket_port is not None:
            print(f"Asterisk AudioSocket on tcp://{srv.config.telephony.audiosocket_host}:{srv.audiosocket_port}", flush=True)
        if getattr(srv.hub, "node", None):
            print(f"calls shared with other servers through {srv.hub.safe_url} as node {srv.hub.node}", flush=True)
        if srv.recovered:
            print(f"recovered {len(srv.recovered)} call(s) a crash left unfinished (marked interrupted): "
                  + ", ".join(srv.recovered[:10]) + (" ..." if len(srv.recovered) > 10 else ""), flush=True)

    asyncio.run(server.serve_until_signal(ready))
    print("server stopped; every open call was finished and written", file=sys.stderr)
    return 0


SERVE_EXAMPLES = """examples:
  voicemon serve                                     # localhost:8765, agent view at http://127.0.0.1:8765/
  voicemon serve --host 0.0.0.0 --token "$TOKEN"     # beyond localhost a token is required
  voicemon -v serve --out /var/lib/voicemon          # one log line per call start and end

A call's roles come from its own start message (or Twilio's tracks), not from a flag.
"""


def server_flags(args) -> dict[str, dict]:
    """``serve``'s flags as ``[server]`` options (applied by :func:`~voicemon.cli.common.config_from_args`)."""
    return {"server": {"host": args.host, "port": args.port, "token": args.token, "out_dir": args.out, "hub": args.hub,
                       "allowed_origins": tuple(args.allow_origin) if args.allow_origin else None},
            "telephony": {"audiosocket_port": args.audiosocket_port, "audiosocket_host": args.audiosocket_host}}


def add_serve_parser(sub, common) -> None:
    """Register ``serve`` on the CLI's subparsers."""
    import argparse

    p = sub.add_parser("serve", parents=[common], help="serve calls over WebSockets (ingest, Twilio, watch, agent view)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SERVE_EXAMPLES)
    p.add_argument("--host", help="interface to bind (default 127.0.0.1; anything else needs --token)")
    p.add_argument("--port", type=int, help="TCP port (default 8765; 0 = any free port)")
    p.add_argument("--token", help="shared secret clients must send (also VOICEMON_SERVER_TOKEN)")
    p.add_argument("--allow-origin", action="append", metavar="ORIGIN",
                   help="browser origin allowed to connect besides the server's own pages (repeatable; * = any)")
    p.add_argument("--out", metavar="DIR", help="where finished calls' reports go (default [server] out_dir, "
                                                "./voicemon-reports)")
    p.add_argument("--hub", metavar="redis://HOST:PORT/DB",
                   help="share calls with other servers through Redis or Valkey: a watcher on any of them sees every "
                        "call (server.hub; docs/scale.md; pip install 'voicemon[redis]')")
    p.add_argument("--audiosocket-port", type=int, metavar="PORT",
                   help="also take Asterisk AudioSocket streams on this TCP port (telephony.audiosocket_port; "
                        "0 = any free port; docs/telephony.md)")
    p.add_argument("--audiosocket-host", metavar="HOST",
                   help="interface of the AudioSocket listener (default 127.0.0.1: AudioSocket has no credentials)")
    add_workers_arg(p, "Whisper workers shared by all calls")
    p.set_defaults(func=cmd_serve, config_flags=server_flags)
