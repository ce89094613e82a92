"""Fan-out of the event feed: N watchers on M concurrent calls, loopback only.

Starts a real ``voicemon serve`` process on a free port, streams M recorded two-party calls into
it at real-time pace (``/ingest``, live mode), and connects N watchers (``/watch``) from this
process, spread evenly over the calls (``--subscribe one``) or each following every call
(``--subscribe all``). Every received event's delivery latency is ``receive time - wall`` (the
server stamps ``wall`` when it emits the event; both processes share this machine's clock).

Prints delivery latency p50/p99/max, events delivered per second, and whether every watcher got
every event of its calls in order. Bounded: ``--seconds`` of audio per call (default 40).

    .venv/bin/python benchmarks/feed_fanout.py                    # 200 watchers, 4 calls
    .venv/bin/python benchmarks/feed_fanout.py --watchers 50 --calls 2 --seconds 20

Target (issue 4): 200 watchers on 4 calls with p99 <= 100 ms.
Writes benchmarks/results/feed_fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "audio_fixtures"


def load_frames(path: Path, seconds: float, offset_s: float, frame_ms: int = 20):
    """A stereo recording as interleaved int16 frames of ``frame_ms``."""
    import soundfile as sf

    data, rate = sf.read(path, dtype="int16", always_2d=True)
    start = int(offset_s * rate) % max(1, len(data) - int(seconds * rate))
    data = data[start:start + int(seconds * rate)]
    step = rate * frame_ms // 1000
    return rate, [data[i:i + step].astype("<i2").tobytes() for i in range(0, len(data), step)]


async def stream_call(url: str, call_id: str, rate: int, frames: list[bytes], frame_ms: int) -> None:
    from websockets.asyncio.client import connect

    async with connect(url + "/ingest") as ws:
        await ws.send(json.dumps({"type": "start", "v": 1, "call_id": call_id, "encoding": "pcm_s16le",
                                  "sample_rate": rate, "channels": 2, "roles": ["agent", "customer"], "mode": "live"}))
        await ws.recv()
        t0 = time.monotonic()
        for i, frame in enumerate(frames):
            await ws.send(frame)
            delay = t0 + (i + 1) * frame_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await ws.send(json.dumps({"type": "end", "v": 1}))
        await ws.recv()


async def watch(url: str, calls, ended: set, expected: int, latencies: list, stats: dict) -> None:
    """One watcher: records latency of every event until all its calls have ended."""
    from websockets.asyncio.client import connect

    last: dict[str, int] = {}
    got_end = 0
    async with connect(url + "/watch", max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": calls}))
        await ws.recv()
        stats["ready"] += 1
        async for message in ws:
            now = time.time()
            env = json.loads(message)
            if "seq" not in env:
                stats["errors"] += 1
                break
            latencies.append(now - env["wall"])
            if env["seq"] != last.get(env["call_id"], 0) + 1:
                stats["gaps"] += 1
            last[env["call_id"]] = env["seq"]
            stats["events"] += 1
            if env["type"] == "call_ended":
                got_end += 1
                if got_end >= expected:
                    break
    stats["done"] += 1


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def bench(args, url: str, server_pid: int) -> dict:
    sources = [FIXTURES / "escalating_call_stereo.wav", FIXTURES / "calm_call_stereo.wav"]
    call_ids = [f"fanout-{i}" for i in range(args.calls)]
    latencies: list[float] = []
    stats = {"ready": 0, "done": 0, "events": 0, "gaps": 0, "errors": 0}
    watchers = []
    for w in range(args.watchers):
        calls = "*" if args.subscribe == "all" else [call_ids[w % args.calls]]
        expected = args.calls if args.subscribe == "all" else 1
        watchers.append(asyncio.create_task(watch(url, calls, set(), expected, latencies, stats)))
    while stats["ready"] < args.watchers:
        await asyncio.sleep(0.05)
    print(f"{args.watchers} watchers subscribed; streaming {args.calls} calls x {args.seconds:.0f} s at real time...", flush=True)
    rss_start = rss_mb(server_pid)
    t0 = time.monotonic()
    streams = []
    for i, cid in enumerate(call_ids):
        rate, frames = load_frames(sources[i % len(sources)], args.seconds, 13.0 * i, args.frame_ms)
        streams.append(asyncio.create_task(stream_call(url, cid, rate, frames, args.frame_ms)))
        await asyncio.sleep(0.1)
    await asyncio.gather(*streams)
    await asyncio.wait_for(asyncio.gather(*watchers), timeout=120)
    elapsed = time.monotonic() - t0
    lat = np.array(latencies) * 1000
    return {
        "watchers": args.watchers, "calls": args.calls, "subscribe": args.subscribe, "audio_s_per_call": args.seconds,
        "events_delivered": stats["events"], "wall_s": round(elapsed, 1),
        "events_per_s": round(stats["events"] / elapsed, 1),
        "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1), "p99": round(float(np.percentile(lat, 99)), 1),
                       "max": round(float(lat.max()), 1)},
        "sequence_gaps": stats["gaps"], "watcher_errors": stats["errors"], "watchers_completed": stats["done"],
        "server_rss_mb": {"start": rss_start, "end": rss_mb(server_pid)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--subscribe", choices=("one", "all"), default="one")
    parser.add_argument("--frame-ms", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "feed_fanout.json"))
    args = parser.parse_args()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    out_dir = ROOT / ".cache" / "fanout-calls"
    server = subprocess.Popen([sys.executable, "-m", "voicemon", "serve", "--port", "0", "--out", str(out_dir)],
                              stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = server.stdout.readline()
        if "ws://" not in line:
            raise SystemExit(f"server did not start: {line}")
        url = "ws://" + line.split("ws://")[1].split()[0]
        result = asyncio.run(bench(args, url, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=120)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    result["target_p99_ms<=100"] = result["latency_ms"]["p99"] <= 100
    print(f"delivery latency ms p50/p99/max = {result['latency_ms']['p50']}/{result['latency_ms']['p99']}/"
          f"{result['latency_ms']['max']}; {result['events_per_s']} events/s delivered; "
          f"{result['sequence_gaps']} gaps; {result['watchers_completed']}/{args.watchers} watchers complete")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
