"""Print the events of calls on `voicemon serve` as they happen (docs/protocol.md, /watch).

    python docs/examples/print_events.py --url ws://127.0.0.1:8765 [--call demo-1] [--all]

Shows transcripts, cues, prompts and level changes (`--all`: every event as JSON). Reconnects
after a dropped connection and resumes from the last `seq` it printed, so nothing is lost or
repeated. Exits when the watched call ends (with `--call`). Needs only `websockets`.
"""

import argparse
import asyncio
import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


def show(env: dict, everything: bool) -> None:
    if everything:
        print(json.dumps(env), flush=True)
        return
    kind, t, cid = env["type"], env.get("t", 0.0), env.get("call_id", "")
    if kind == "transcript" and env["final"]:
        print(f"[{cid} {t:7.2f}] {env['role']:>8}: {env['text']}", flush=True)
    elif kind == "reading" and env["changed"]:
        print(f"[{cid} {t:7.2f}] {env['role']:>8} is now {env['level'].upper()} ({env['score']:.0f})", flush=True)
    elif kind == "cue":
        print(f"[{cid} {t:7.2f}]      cue {env['kind']} ({env['weight']:+.2f}): {env['evidence']}", flush=True)
    elif kind == "prompt":
        print(f"[{cid} {t:7.2f}]   PROMPT {env['text']} — {env['technique']} ({env['reason']})", flush=True)
    elif kind in ("call_started", "call_ended", "prompt_ack", "asr_status", "error"):
        print(f"[{cid} {t:7.2f}] {kind} {json.dumps({k: v for k, v in env.items() if k not in ('type', 'v', 'call_id', 'seq', 't', 'wall')})}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8765")
    parser.add_argument("--call", default=None, help="one call id (default: every call)")
    parser.add_argument("--token", default=None)
    parser.add_argument("--all", action="store_true", help="print every event as JSON")
    args = parser.parse_args()
    url = args.url.rstrip("/") + "/watch" + (f"?token={args.token}" if args.token else "")
    last_seq: dict[str, int] = {}
    while True:
        try:
            async with connect(url) as ws:
                sub = {"type": "subscribe", "v": 1, "calls": [args.call] if args.call else "*"}
                if last_seq:
                    sub["since"] = last_seq
                await ws.send(json.dumps(sub))
                async for message in ws:
                    env = json.loads(message)
                    if env["type"] == "error":
                        print("server error:", env, flush=True)
                        last_seq.update(env.get("resume", {}))
                        continue
                    if "seq" not in env:
                        continue
                    if env["seq"] <= last_seq.get(env["call_id"], 0):
                        continue
                    last_seq[env["call_id"]] = env["seq"]
                    show(env, args.all)
                    if args.call and env["type"] == "call_ended":
                        return
        except (ConnectionClosed, OSError) as exc:
            print(f"connection lost ({exc}); reconnecting…", flush=True)
            await asyncio.sleep(1.0)


if __name__ == "__main__":
    asyncio.run(main())
