"""The Redis hub's own hop: one server's event to another server's watchers, nothing else running.

Starts ``redis-server`` on a free port and two :class:`~voicemon.server.hub_redis.RedisHub`
instances in this process (server A and server B, as two ``serve --hub`` processes would have),
registers ``--calls`` calls on A that emit ``--rate`` envelopes per second each for ``--seconds``,
and measures, for every envelope, the time from A emitting it to B handing it to its watchers
(B's ``publish``): XADD pipeline, Redis, XREAD, mirror log and indexes. Unlike
``feed_fanout.py --hub redis`` no model, no audio and no WebSocket client share the CPU, so this
is what Redis adds to a watcher's latency.

    .venv/bin/python benchmarks/hub_hop.py [--calls 4] [--rate 200] [--seconds 10]

Writes benchmarks/results/hub_hop.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class EmittingCall:
    """The part of a live call a hub sees: id, sinks, log, roles, clock."""

    def __init__(self, call_id: str) -> None:
        self.call_id, self.sinks, self.log = call_id, [], []
        self.roles, self.started_wall, self.media_s, self.ended, self.seq = ("agent", "customer"), time.time(), 0.0, False, 0

    def emit(self, make_event) -> None:
        """Log and publish the event ``make_event(t)``, stamped with the unrounded wall time."""
        from voicemon.events import Envelope

        self.seq += 1
        self.media_s = self.seq * 0.01
        env = Envelope(make_event(self.media_s), self.call_id, self.seq, time.time())
        self.log.append(env)
        for sink in self.sinks:
            sink(env)


async def run(url: str, args) -> dict:
    from voicemon.events import CallStarted, EscalationReading
    from voicemon.server.hub_redis import RedisHub

    a, b = RedisHub(url), RedisHub(url)
    await a.start()
    await b.start()
    latencies: list[float] = []
    publish = b.publish

    def timed(env) -> None:
        if isinstance(env.event, EscalationReading):
            latencies.append(time.time() - env.wall)
        publish(env)

    b.publish = timed
    calls = [EmittingCall(f"hop-{i}") for i in range(args.calls)]
    for call in calls:
        a.add(call)
        call.emit(lambda t: CallStarted(t=t, roles=("agent", "customer")))
    await asyncio.sleep(1.0)  # B mirrors the new calls
    tick = 0.01
    per_tick = max(1, round(args.rate * tick))
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.seconds:
        for call in calls:
            for _ in range(per_tick):
                call.emit(lambda t: EscalationReading(t=t, role="customer", score=12.5, level="calm", changed=False))
        await asyncio.sleep(tick)
    await asyncio.sleep(1.0)
    mirrored = sorted(cid for cid, e in b.calls.items() if getattr(e.call, "remote", False))
    await a.close()
    await b.close()
    lat = np.array(latencies) * 1000
    sent = sum(c.seq - 1 for c in calls)
    return {"calls": args.calls, "events_per_s_per_call": per_tick / tick, "events_sent": sent, "events_mirrored": len(lat),
            "mirrored_calls": mirrored,
            "hop_latency_ms": {"p50": round(float(np.percentile(lat, 50)), 2), "p99": round(float(np.percentile(lat, 99)), 2),
                               "max": round(float(lat.max()), 2)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200.0, help="envelopes per second per call")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "hub_hop.json"))
    args = parser.parse_args()
    from local_redis import start_redis

    proc, port = start_redis()
    try:
        time.sleep(0.5)
        result = asyncio.run(run(f"redis://127.0.0.1:{port}/0", args))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_1min": os.getloadavg()[0]}
    print(f"{result['events_mirrored']} of {result['events_sent']} envelopes from A reached B's watchers; hop latency ms "
          f"p50/p99/max = {result['hop_latency_ms']['p50']}/{result['hop_latency_ms']['p99']}/{result['hop_latency_ms']['max']}")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
