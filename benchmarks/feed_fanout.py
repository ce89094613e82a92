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
    .venv/bin/python benchmarks/feed_fanout.py --hub redis        # two servers sharing a redis-server

With ``--hub redis`` (issue 17) a ``redis-server`` is started on a free port and two servers A
and B share it (``serve --hub``): the calls are always ingested on A; first ``--watchers``
watchers follow them on B (every event through Redis), then, with new calls, as many on A
(in-process), so both latency distributions come from one run on the same servers.

Target (issues 4 and 17): 200 watchers on 4 calls with p99 <= 100 ms, through Redis too.
Writes benchmarks/results/feed_fanout.json (feed_fanout_redis.json with ``--hub redis``).
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


def summarise(latencies: list, stats: dict, elapsed: float) -> dict:
    lat = np.array(latencies) * 1000
    return {"events_delivered": stats["events"], "events_per_s": round(stats["events"] / elapsed, 1),
            "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1), "p99": round(float(np.percentile(lat, 99)), 1),
                           "max": round(float(lat.max()), 1)},
            "sequence_gaps": stats["gaps"], "watcher_errors": stats["errors"], "watchers_completed": stats["done"]}


async def bench(args, url: str, server_pid: int, watch_urls: dict[str, str] | None = None,
                prefix: str = "fanout") -> dict:
    """``watch_urls``: group name -> server URL the group's watchers connect to (default: ``url``)."""
    sources = [FIXTURES / "escalating_call_stereo.wav", FIXTURES / "calm_call_stereo.wav"]
    call_ids = [f"{prefix}-{i}" for i in range(args.calls)]
    groups = {name: ([], {"ready": 0, "done": 0, "events": 0, "gaps": 0, "errors": 0})
              for name in (watch_urls or {"all": url})}
    watchers = []
    for name, (group_latencies, group_stats) in groups.items():
        for w in range(args.watchers):
            calls = "*" if args.subscribe == "all" else [call_ids[w % args.calls]]
            expected = args.calls if args.subscribe == "all" else 1
            watchers.append(asyncio.create_task(watch((watch_urls or {"all": url})[name], calls, set(), expected,
                                                      group_latencies, group_stats)))
    while sum(g[1]["ready"] for g in groups.values()) < args.watchers * len(groups):
        await asyncio.sleep(0.05)
    latencies = [x for g in groups.values() for x in g[0]]
    stats = {k: sum(g[1][k] for g in groups.values()) for k in ("ready", "done", "events", "gaps", "errors")}
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
    latencies = [x for g in groups.values() for x in g[0]]
    stats = {k: sum(g[1][k] for g in groups.values()) for k in ("ready", "done", "events", "gaps", "errors")}
    lat = np.array(latencies) * 1000
    per_group = {name: summarise(g[0], g[1], elapsed) for name, g in groups.items()} if watch_urls else None
    return {"groups": per_group} if per_group else {
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
    parser.add_argument("--hub", choices=("local", "redis"), default="local",
                        help="redis: two servers sharing a redis-server; watchers on both (see above)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    args.out = args.out or str(ROOT / "benchmarks" / "results" / ("feed_fanout_redis.json" if args.hub == "redis"
                                                                   else "feed_fanout.json"))
    if args.hub == "redis":
        return main_redis(args)
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


def main_redis(args) -> int:
    """``--hub redis``: redis-server + servers A and B; calls into A; watchers on B and on A."""
    from local_redis import start_redis

    redis_proc, port = start_redis()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    servers = []
    try:
        time.sleep(0.5)
        for name in ("a", "b"):
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "voicemon", "serve", "--port", "0", "--out", str(ROOT / ".cache" / f"fanout-{name}"),
                 "--hub", f"redis://127.0.0.1:{port}/0"], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT))
        urls = []
        for server in servers:
            line = server.stdout.readline()
            if "ws://" not in line:
                raise SystemExit(f"server did not start: {line}")
            urls.append("ws://" + line.split("ws://")[1].split()[0])
        groups = {}
        for name, url in (("through_redis_on_b", urls[1]), ("in_process_on_a", urls[0])):  # one after the other
            print(f"{name}:", flush=True)
            groups.update(asyncio.run(bench(args, urls[0], servers[0].pid, {name: url}, prefix=name))["groups"])
        result = {"groups": groups}
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=120)
        redis_proc.terminate()
        redis_proc.wait(timeout=30)
    groups = result["groups"]
    result.update(watchers_per_server=args.watchers, calls=args.calls, subscribe=args.subscribe,
                  audio_s_per_call=args.seconds, machine={"cpus": os.cpu_count(), "python": platform.python_version(),
                                                          "load_avg_at_end": os.getloadavg()[0]})
    result["ratio_p99_redis_over_in_process"] = round(groups["through_redis_on_b"]["latency_ms"]["p99"]
                                                      / max(0.1, groups["in_process_on_a"]["latency_ms"]["p99"]), 2)
    result["target_p99_ms<=100"] = groups["through_redis_on_b"]["latency_ms"]["p99"] <= 100
    for name, g in groups.items():
        print(f"{name}: latency ms p50/p99/max = {g['latency_ms']['p50']}/{g['latency_ms']['p99']}/{g['latency_ms']['max']}; "
              f"{g['events_per_s']} events/s; {g['sequence_gaps']} gaps; {g['watchers_completed']}/{args.watchers} complete")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
