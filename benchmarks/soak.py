"""Soak: one very long call at maximum speed, late and resuming watchers, acks, then SIGKILL.

Starts a real ``voicemon serve`` process on a free port (loopback only) and streams one
two-party call into ``/ingest`` in lockstep mode (as fast as the server analyses it): digital
silence with a minute of the escalating fixture call every ``--speech-every-s`` (so there are
transcripts, cues and prompts to acknowledge). Meanwhile, from this process:

* watcher ``live`` follows the call from its start;
* watcher ``join`` joins at 25 % of the call without ``since`` (the join replay);
* watcher ``resume0`` joins at 50 % with ``since = 0`` (the whole history, paged from disk);
* watcher ``dropper`` follows from the start, disconnects at 55 % and resumes with ``since`` =
  its last seq at 65 %;
* one connection sends acks at ``--ack-rate`` (under the server's 200/s message limit) for
  the prompts seen so far (or a made-up id before the first prompt);
* ``/healthz`` is polled every 0.2 s (latency percentiles) and the server's RSS sampled.

At ``--kill-at`` of the call the server gets SIGKILL mid-stream. The event log on disk is then
compared with what the watchers received (events delivered vs logged; lost = delivered to a
watcher but not on disk), the server is restarted on the same ``--out`` and the recovered
report checked. Every loop is bounded by the call length.

    .venv/bin/python benchmarks/soak.py                         # 4 h of media
    .venv/bin/python benchmarks/soak.py --media-s 1800          # a 30-minute call

Targets (issue 12): resume from any seq works; RSS growth <= 60 MB for a 4-hour call; SIGKILL
loses at most ~1 s of events. Writes benchmarks/results/soak.json (``--tag`` to name another).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "audio_fixtures"
RATE_HZ = 16000
FRAME_MS = 100
CALL_ID = "soak"


def speech_frames(seconds: float) -> list[bytes]:
    """The first ``seconds`` of the escalating fixture as 16 kHz stereo int16 frames."""
    import soundfile as sf
    import soxr

    data, rate = sf.read(FIXTURES / "escalating_call_stereo.wav", dtype="float32", always_2d=True)
    data = data[: int(seconds * rate)]
    if rate != RATE_HZ:
        data = np.stack([soxr.resample(data[:, i], rate, RATE_HZ) for i in range(2)], axis=1)
    pcm = np.clip(np.round(data * 32767), -32768, 32767).astype("<i2")
    step = RATE_HZ * FRAME_MS // 1000
    return [pcm[i:i + step].tobytes() for i in range(0, len(pcm) - step + 1, step)]


HEALTHZ_POLLER = """
import socket, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
out = open(path, "w")
for _ in range(10 ** 6):  # bounded; ends when the server is gone
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
            while sock.recv(65536):
                pass
    except OSError:
        break
    out.write(f"{time.time():.3f} {(time.perf_counter() - started) * 1000:.3f}\\n")
    out.flush()
    time.sleep(0.2)
"""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_server(out: Path, config: Path) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    proc = subprocess.Popen([sys.executable, "-m", "voicemon", "serve", "--port", "0", "--out", str(out),
                             "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    line = proc.stdout.readline()
    if "serving on ws://" not in line:
        raise SystemExit(f"server did not start: {line}{proc.stderr.read()}")
    return proc, int(line.split("ws://")[1].split()[0].rsplit(":", 1)[1])


class Watcher:
    """A /watch client that records every seq it gets."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seqs: list[int] = []
        self.walls: dict[int, float] = {}
        self.prompts: list[str] = []
        self.errors: list[dict] = []
        self.closed_code: int | None = None

    async def run(self, url: str, subscribe: dict, stop_at_seq_event: asyncio.Event | None = None) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        try:
            async with connect(url + "/watch", max_size=None) as ws:
                await ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": [CALL_ID], **subscribe}))
                await ws.recv()
                async for message in ws:
                    env = json.loads(message)
                    if env["type"] == "error":
                        self.errors.append(env)
                        continue
                    self.seqs.append(env["seq"])
                    self.walls[env["seq"]] = env["wall"]
                    if env["type"] == "prompt":
                        self.prompts.append(env["id"])
                    if env["type"] == "call_ended" or (stop_at_seq_event is not None and stop_at_seq_event.is_set()):
                        break
            self.closed_code = ws.close_code
        except (ConnectionClosed, OSError) as exc:
            self.closed_code = getattr(exc, "code", None) or -1


async def soak(args) -> dict:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    work = Path(tempfile.mkdtemp(prefix="voicemon-soak-"))
    out = work / "calls"
    config = work / "soak.toml"
    config.write_text(f"[server]\nmax_call_s = {args.media_s + 60:.0f}\nwatcher_queue = 2000\n")
    proc, port = start_server(out, config)
    url = f"ws://127.0.0.1:{port}"
    speech = speech_frames(60.0)
    silence = b"\0" * (RATE_HZ * FRAME_MS // 1000 * 2 * 2)
    every = max(1, int(args.speech_every_s * 1000 // FRAME_MS))
    total_frames = int(args.media_s * 1000 // FRAME_MS)
    kill_frame = int(total_frames * args.kill_at)

    progress = {"frames": 0}
    killed: dict[str, float] = {}
    stop = asyncio.Event()
    resuming = asyncio.Event()
    rss: list[tuple[float, float, float]] = []  # (wall s, media s, MB)
    health_ms: list[float] = []
    acks = {"sent": 0, "errors": 0}
    watchers = {n: Watcher(n) for n in ("live", "join", "resume0", "dropper", "dropper_resumed")}
    t0 = time.monotonic()

    def media_s() -> float:
        return progress["frames"] * FRAME_MS / 1000

    async def ingest() -> None:
        async with connect(url + "/ingest") as ws:
            await ws.send(json.dumps({"type": "start", "v": 1, "call_id": CALL_ID, "encoding": "pcm_s16le",
                                      "sample_rate": RATE_HZ, "channels": 2, "roles": ["agent", "customer"],
                                      "mode": "lockstep"}))
            await ws.recv()
            try:
                for i in range(total_frames):
                    block = (i % every)
                    await ws.send(speech[block] if block < len(speech) else silence)
                    progress["frames"] = i + 1
                    if i + 1 == kill_frame:
                        await kill()
            except ConnectionClosed:
                pass  # the server was killed mid-stream
        stop.set()

    async def kill() -> None:
        """SIGKILL mid-stream, once the resumed watcher has caught up (bounded wait)."""
        try:
            async with asyncio.timeout(60):
                await resuming.wait()
                while len(watchers["dropper_resumed"].seqs) + len(watchers["dropper"].seqs) < len(watchers["live"].seqs) - 50:
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pass
        rss.append((round(time.monotonic() - t0, 1), media_s(), round(rss_mb(proc.pid), 1)))
        killed["wall"] = time.time()
        killed["media_s"] = media_s()
        proc.send_signal(signal.SIGKILL)

    # /healthz is timed from a process of its own, so this (busy) client process does not add to it
    health_file = work / "healthz_ms.txt"
    poller = subprocess.Popen([sys.executable, "-c", HEALTHZ_POLLER, str(port), str(health_file)])

    async def monitor() -> None:
        while not stop.is_set():
            rss.append((round(time.monotonic() - t0, 1), media_s(), round(rss_mb(proc.pid), 1)))
            await asyncio.sleep(2.0)

    async def acker() -> None:
        async with connect(url + "/watch") as ws:
            await ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": ["nothing-here"]}))
            await ws.recv()

            async def drain():
                try:
                    async for message in ws:
                        if json.loads(message).get("type") == "error":
                            acks["errors"] += 1
                except ConnectionClosed:
                    pass

            reader = asyncio.ensure_future(drain())
            interval = 1.0 / args.ack_rate
            next_at = time.monotonic()
            try:
                while not stop.is_set():
                    prompts = watchers["live"].prompts
                    prompt_id = prompts[acks["sent"] % len(prompts)] if prompts else "p-none"
                    await ws.send(json.dumps({"type": "ack", "v": 1, "call_id": CALL_ID, "prompt_id": prompt_id,
                                              "action": "acknowledged"}))
                    acks["sent"] += 1
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            except ConnectionClosed:
                pass
            reader.cancel()

    async def at(fraction: float) -> None:
        while not stop.is_set() and progress["frames"] < kill_frame * fraction:
            await asyncio.sleep(0.05)

    async def late(name: str, fraction: float, subscribe: dict) -> None:
        await at(fraction)
        if not stop.is_set():
            await watchers[name].run(url, subscribe, stop)

    async def dropper() -> None:
        leave = asyncio.Event()

        async def leave_later():
            await at(0.55)
            leave.set()

        helper = asyncio.ensure_future(leave_later())
        await watchers["dropper"].run(url, {}, leave)
        helper.cancel()
        await at(0.65)
        last = watchers["dropper"].seqs[-1] if watchers["dropper"].seqs else 0
        resuming.set()
        await watchers["dropper_resumed"].run(url, {"since": {CALL_ID: last}}, stop)

    tasks = [asyncio.ensure_future(c) for c in (
        watchers["live"].run(url, {}, stop), dropper(), late("join", 0.25, {}),
        late("resume0", 0.5, {"since": {CALL_ID: 0}}), monitor(), acker())]
    await asyncio.sleep(0.3)
    await ingest()
    stream_wall_s = time.monotonic() - t0
    proc.wait(timeout=60)
    done, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:
        task.cancel()
    task_errors = [f"{type(t.exception()).__name__}: {t.exception()}" for t in done
                   if not t.cancelled() and t.exception() is not None]
    poller.wait(timeout=30)
    polls = [tuple(map(float, line.split())) for line in health_file.read_text().splitlines()] if health_file.exists() else []
    health_ms.extend(ms for _, ms in polls)
    slowest = sorted(polls, key=lambda p: -p[1])[:5]

    log_path = out / f"{CALL_ID}.events.jsonl"
    logged = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()] if log_path.exists() else []
    logged_seqs = [e["seq"] for e in logged]
    delivered_max = max((max(w.seqs) for w in watchers.values() if w.seqs), default=0)
    lost_after_delivery = [s for s in set().union(*[set(w.seqs) for w in watchers.values()]) if s > len(logged)]
    delivered_walls = {}
    for w in watchers.values():
        delivered_walls.update(w.walls)
    last_delivered_wall = max(delivered_walls.values(), default=float("nan"))
    unlogged_window_s = max(0.0, last_delivered_wall - logged[-1]["wall"]) if logged else float("nan")

    # resume correctness: every watcher got a gap-free, ordered run of seqs
    def contiguous(seqs: list[int]) -> bool:
        return all(b == a + 1 for a, b in zip(seqs, seqs[1:]))

    d, dr = watchers["dropper"].seqs, watchers["dropper_resumed"].seqs
    checks = {
        "live_in_order_no_gaps": contiguous(watchers["live"].seqs) and watchers["live"].seqs[:1] == [1],
        "resume0_in_order_no_gaps": contiguous(watchers["resume0"].seqs) and watchers["resume0"].seqs[:1] == [1],
        "dropper_resumed_exactly": bool(d and dr) and dr[0] == d[-1] + 1 and contiguous(dr),
        "join_in_order": watchers["join"].seqs == sorted(set(watchers["join"].seqs)),
        "log_in_order_no_gaps": logged_seqs == list(range(1, len(logged_seqs) + 1)),
        "no_too_slow": not any(e.get("code") == "too_slow" for w in watchers.values() for e in w.errors),
    }

    recover_started = time.monotonic()
    proc2, _ = start_server(out, config)
    recover_s = time.monotonic() - recover_started
    proc2.send_signal(signal.SIGTERM)
    proc2.wait(timeout=120)
    report_path = out / f"{CALL_ID}.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}

    rss_mb_values = [r[2] for r in rss]
    first_rss = next((r[2] for r in rss if r[1] >= min(60.0, args.media_s / 10)), rss_mb_values[0] if rss else float("nan"))
    result = {
        "benchmark": "soak",
        "media_s_target": args.media_s,
        "media_s_streamed": media_s(),
        "killed_at_media_s": killed.get("media_s"),
        "stream_wall_s": round(stream_wall_s, 1),
        "speed_x_real_time": round(media_s() / max(stream_wall_s, 1e-6), 1),
        "events_logged": len(logged),
        "events_delivered_max_seq": delivered_max,
        "events_delivered": {n: len(w.seqs) for n, w in watchers.items()},
        "events_delivered_not_logged": len(lost_after_delivery),
        "unlogged_window_s": round(unlogged_window_s, 3),
        "log_age_at_kill_s": round(killed["wall"] - logged[-1]["wall"], 3) if logged and killed else None,
        "acks_sent": acks["sent"], "ack_errors": acks["errors"], "ack_rate_target": args.ack_rate,
        "healthz_ms": {"n": len(health_ms), "p50": round(percentile(health_ms, 50), 2),
                       "p99": round(percentile(health_ms, 99), 2), "max": round(max(health_ms, default=float("nan")), 2),
                       "slowest": [(round(t - killed.get("wall", t), 1), ms) for t, ms in slowest]},
        "rss_mb": {"first_after_warmup": first_rss, "last": rss_mb_values[-1] if rss else None,
                   "max": max(rss_mb_values, default=None),
                   "growth": round((rss_mb_values[-1] - first_rss), 1) if rss else None,
                   "samples": rss[:: max(1, len(rss) // 40)]},
        "watcher_errors": {n: w.errors for n, w in watchers.items() if w.errors},
        "client_task_errors": task_errors,
        "checks": checks,
        "recovery": {"restart_s": round(recover_s, 1), "report_written": bool(report),
                     "interrupted": report.get("interrupted"), "report_duration_s": report.get("duration_s")},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "command": " ".join(["benchmarks/soak.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--media-s", type=float, default=4 * 3600.0, help="length of the call in media seconds (default 4 h)")
    p.add_argument("--speech-every-s", type=float, default=1800.0, help="a minute of speech this often (default 30 min)")
    p.add_argument("--ack-rate", type=float, default=190.0, help="acks per second (the server allows 200)")
    p.add_argument("--kill-at", type=float, default=0.95, help="SIGKILL the server at this fraction of the call")
    p.add_argument("--tag", default="soak", help="results file name (benchmarks/results/TAG.json)")
    args = p.parse_args()
    result = asyncio.run(soak(args))
    out = ROOT / "benchmarks" / "results" / f"{args.tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    r = result
    print(f"streamed {r['media_s_streamed']:.0f} s of media in {r['stream_wall_s']:.0f} s ({r['speed_x_real_time']}x)")
    print(f"SIGKILL at {r['killed_at_media_s']:.0f} s of media: events logged {r['events_logged']}, highest seq delivered "
          f"{r['events_delivered_max_seq']}, delivered but not logged {r['events_delivered_not_logged']} "
          f"(emitted in the last {r['unlogged_window_s']} s before the kill), log age at kill {r['log_age_at_kill_s']} s")
    print("delivered per watcher:", r["events_delivered"])
    print(f"acks sent {r['acks_sent']} (errors {r['ack_errors']}); /healthz p50 {r['healthz_ms']['p50']} ms, "
          f"p99 {r['healthz_ms']['p99']} ms, max {r['healthz_ms']['max']} ms over {r['healthz_ms']['n']} polls")
    print(f"RSS {r['rss_mb']['first_after_warmup']} MB after warm-up -> {r['rss_mb']['last']} MB at the kill "
          f"(growth {r['rss_mb']['growth']} MB, max {r['rss_mb']['max']} MB)")
    print("checks:", r["checks"])
    print("recovery:", r["recovery"])
    print(f"wrote {out}")
    return 0 if all(r["checks"].values()) and r["recovery"]["report_written"] else 1


if __name__ == "__main__":
    sys.exit(main())
