"""Live latency, concurrent-call capacity and memory of the live driver, in one process.

Three measurements, all on real recordings replayed at real-time pace through
``voicemon.live`` (the same code ``voicemon replay``/``serve`` run):

1. **One call** at 1x: meter latency (chunk due -> reading emitted) p50/p95/p99 and transcript
   latency (end of a spoken utterance -> its final text) p50/p95.
2. **Capacity**: N two-party calls at once (each starting at a different point of a different
   recording), N = 1, 2, 4, 6, 8, 10, 12, ... while the process keeps transcript p95 under
   ``--max-transcript-p95-s`` with no growing backlog and no dropped utterances.
3. **Memory**: a long call (the fixtures looped to ``--memory-minutes``) replayed as fast as the
   stages allow; RSS at start, middle and end.

With ``--adapter twilio|audiohook|audiofork|audiosocket`` the calls of 1. and 2. go through a
real ``voicemon serve`` server in this process instead, each streamed by a client speaking that
platform's protocol (``benchmarks/adapter_clients.py``): the latencies then include the adapter
(decoding, resampling, the WebSocket or TCP hop). The single call is also replayed directly first,
in the same run (``single_call_direct``), so the adapter's cost is a difference measured under
the same load. The memory run stays direct.

Usage::

    .venv/bin/python benchmarks/live_latency.py            # full run (~10 minutes)
    .venv/bin/python benchmarks/live_latency.py --quick    # shorter windows
    .venv/bin/python benchmarks/live_latency.py --adapter audiohook --skip-memory

Targets (issue 3): meter p95 <= 150 ms, transcript p95 <= 2 s at one call, >= 8 concurrent calls.
Writes benchmarks/results/live_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

from voicemon import config as cfg  # noqa: E402
from voicemon.audio.decode import DecodedAudio, load_call_audio  # noqa: E402
from voicemon.events import SAMPLE_RATE_HZ  # noqa: E402
from voicemon.asr.transcriber import parallel_transcriber  # noqa: E402
from voicemon.live.asr_pool import AsrPool  # noqa: E402
from voicemon.live.runner import LiveCall, warm_up  # noqa: E402
from voicemon.live.sources import replay  # noqa: E402

SHARED_CALLS = ROOT.parent / "shared" / "data" / "calls"


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) of values, or None when empty."""
    return float(np.percentile(values, q)) if values else None


def rss_mb() -> float:
    """Resident set size of this process now, in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stereo_sources() -> list[tuple[str, DecodedAudio]]:
    """Two-party recordings to replay: the real calls when present, and the fixtures."""
    paths = sorted(SHARED_CALLS.glob("*_stereo.wav")) if SHARED_CALLS.exists() else []
    paths += [ROOT / "audio_fixtures" / "escalating_call_stereo.wav", ROOT / "audio_fixtures" / "calm_call_stereo.wav"]
    return [(p.name, load_call_audio(p)) for p in paths]


def window(audio: DecodedAudio, start_s: float, length_s: float) -> DecodedAudio:
    """``length_s`` of a recording from ``start_s``, looping it when it is shorter."""
    n = int(length_s * SAMPLE_RATE_HZ)
    a = int(start_s * SAMPLE_RATE_HZ)
    signals = {}
    for role, sig in audio.signals.items():
        reps = int(np.ceil((a + n) / len(sig))) + 1
        signals[role] = np.tile(sig, reps)[a:a + n]
    return DecodedAudio(signals, audio.source_rate_hz, audio.source_channels, audio.source_format)


async def run_calls(pool: AsrPool, config, audios: list[tuple[str, DecodedAudio]], speed: float | None) -> dict:
    """Replay several calls at once; return latency figures and backlog behaviour."""
    calls = [LiveCall(f"bench-{i}-{name}", tuple(a.signals), config, pool,
                      lockstep=speed is None)
             for i, (name, a) in enumerate(audios)]
    backlog: list[float] = []
    done = asyncio.Event()

    async def sample_backlog():
        # audio that has waited over a second for a worker: what "falling behind" means
        while not done.is_set():
            backlog.append(pool.backlog_s(min_wait_s=1.0))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample_backlog())

    async def one(i: int, call: LiveCall, audio: DecodedAudio):
        await asyncio.sleep(0.137 * i)  # calls do not start in the same millisecond
        await replay(call, audio, config.audio.chunk_ms, speed)

    started = time.perf_counter()
    await asyncio.gather(*(one(i, c, a) for i, (c, (_, a)) in enumerate(zip(calls, audios))))
    fed_s = time.perf_counter() - started
    for call in calls:
        await call.finish()
    done.set()
    await sampler
    return summarize_calls(calls, backlog, started, fed_s, pool.stats.merged_jobs)


def summarize_calls(calls: list, backlog: list[float], started: float, fed_s: float, merged_jobs: int) -> dict:
    """The latency, backlog and ASR-status figures of finished live ``calls`` (one capacity step)."""
    meter = [x for c in calls for x in c.latency.meter_s]
    transcript = [x for c in calls for x in c.latency.transcript_s]
    statuses = [e for c in calls for e in c.log if e["type"] == "asr_status"]
    third = max(1, len(backlog) // 3)
    return {
        "calls": len(calls),
        "audio_s_per_call": round(calls[0].media_s, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "feed_wall_s": round(fed_s, 1),
        "meter_latency_ms": {q: _ms(percentile(meter, p)) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))},
        "meter_readings": len(meter),
        "transcript_latency_s": {q: _r(percentile(transcript, p)) for q, p in (("p50", 50), ("p95", 95), ("max", 100))},
        "utterances": len(transcript),
        "backlog_s": {"first_third_mean": _r(float(np.mean(backlog[:third])) if backlog else None),
                      "last_third_mean": _r(float(np.mean(backlog[-third:])) if backlog else None),
                      "max": _r(max(backlog) if backlog else None)},
        "dropped_utterances": sum(1 for e in statuses if e["state"] == "dropped"),
        "behind_events": sum(1 for e in statuses if e["state"] == "behind"),
        "merged_jobs": merged_jobs,
    }


async def run_calls_through(server, adapter: str, audios: list[tuple[str, DecodedAudio]], speed: float) -> dict:
    """:func:`run_calls`, with every call streamed into ``server`` through ``adapter``'s protocol."""
    from adapter_clients import stream_call

    pool = server.pool
    backlog: list[float] = []
    done = asyncio.Event()

    async def sample_backlog():
        while not done.is_set():
            backlog.append(pool.backlog_s(min_wait_s=1.0))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample_backlog())
    merged_before = pool.stats.merged_jobs
    tag = f"{adapter}-{len(audios)}-{int(time.time() * 1000) % 100000}"

    def anchor(call_id: str, t0: float) -> None:  # media time 0 is due at t0: transcript latency from speech end
        server.hub.calls[call_id].call.set_pace(t0, 0.0, speed)

    async def one(i: int, name: str, audio: DecodedAudio):
        await asyncio.sleep(0.137 * i)
        return await stream_call(adapter, server, f"bench-{tag}-{i}", audio.signals, speed, on_audio_start=anchor)

    started = time.perf_counter()
    call_ids = await asyncio.gather(*(one(i, n, a) for i, (n, a) in enumerate(audios)))
    fed_s = time.perf_counter() - started
    calls = []
    for call_id in call_ids:  # the server finishes each call when its stream ends
        entry = server.hub.calls[call_id]
        while entry.ended_wall is None:
            await asyncio.sleep(0.1)
        calls.append(entry.call)
    done.set()
    await sampler
    return {"adapter": adapter, **summarize_calls(calls, backlog, started, fed_s, pool.stats.merged_jobs - merged_before)}


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 1)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def holds(result: dict, max_p95_s: float) -> bool:
    """Whether a concurrency run stayed real-time: transcript p95, no drops, no growing backlog."""
    p95 = result["transcript_latency_s"]["p95"]
    b = result["backlog_s"]
    growing = b["last_third_mean"] is not None and b["last_third_mean"] > (b["first_third_mean"] or 0) + 2.0
    return p95 is not None and p95 <= max_p95_s and result["dropped_utterances"] == 0 and not growing


async def memory_run(pool: AsrPool, config, sources, minutes: float) -> dict:
    """A long call replayed as fast as possible; RSS sampled along the way."""
    name, audio = sources[0]
    long = window(audio, 0.0, minutes * 60)
    call = LiveCall("memory", tuple(long.signals), config, pool, lockstep=True)
    samples: list[tuple[float, float]] = [(0.0, rss_mb())]
    started = time.perf_counter()

    async def watch():
        while True:
            await asyncio.sleep(5)
            samples.append((round(call.media_s, 1), round(rss_mb(), 1)))

    watcher = asyncio.create_task(watch())
    await replay(call, long, config.audio.chunk_ms, None)
    await call.finish()
    watcher.cancel()
    samples.append((round(call.media_s, 1), round(rss_mb(), 1)))
    mid = samples[len(samples) // 2]
    return {"source": name, "minutes": minutes, "wall_s": round(time.perf_counter() - started, 1),
            "rss_mb_start": round(samples[0][1], 1), "rss_mb_middle": mid[1], "rss_mb_end": samples[-1][1],
            "events_logged": len(call.log), "samples": samples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter windows (for a smoke run)")
    parser.add_argument("--workers", type=int, default=0, help="Whisper workers (default: one per core, as voicemon serve)")
    parser.add_argument("--window-s", type=float, default=60.0, help="audio per call in capacity runs")
    parser.add_argument("--max-calls", type=int, default=16)
    parser.add_argument("--start-calls", type=int, default=1, help="first concurrency tried")
    parser.add_argument("--cpu-threads", type=int, default=0,
                        help="CTranslate2 threads per worker (0 = voicemon's live default, 1)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--max-transcript-p95-s", type=float, default=3.0)
    parser.add_argument("--memory-minutes", type=float, default=30.0)
    parser.add_argument("--adapter", choices=("none", "twilio", "audiohook", "audiofork", "audiosocket"), default="none",
                        help="stream the calls through a real server and this telephony adapter (default: direct)")
    parser.add_argument("--out", default=None, help="default benchmarks/results/live_latency[_<adapter>].json")
    args = parser.parse_args()
    if args.out is None:
        suffix = "" if args.adapter == "none" else f"_{args.adapter}"
        args.out = str(ROOT / "benchmarks" / "results" / f"live_latency{suffix}.json")
    if args.quick:
        args.window_s, args.memory_minutes, args.max_calls = 30.0, 5.0, 4

    config = cfg.load(environ={}, overrides={"asr": {"cpu_threads": args.cpu_threads}})
    transcriber, args.workers = parallel_transcriber(config.asr, args.workers)
    warm_up(config)
    sources = stereo_sources()
    out: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
                 "workers": args.workers, "model": transcriber.name, "sources": [n for n, _ in sources],
                 "adapter": args.adapter}

    async def bench():
        server = None
        if args.adapter == "none":
            pool = AsrPool(transcriber, workers=args.workers)
            run = lambda audios, speed: run_calls(pool, config, audios, speed)  # noqa: E731
        else:
            import tempfile

            from adapter_clients import server_config
            from voicemon.server.app import VoicemonServer

            server = VoicemonServer(server_config(config, tempfile.mkdtemp(prefix="voicemon-bench-"), args.adapter),
                                    transcriber=transcriber, workers=args.workers)
            await server.start()
            pool = server.pool
            run = lambda audios, speed: run_calls_through(server, args.adapter, audios, speed)  # noqa: E731
        fixture = next(a for n, a in sources if n == "escalating_call_stereo.wav")
        print("one call at 1x (escalating fixture)...", flush=True)
        one_call = [("escalating_call_stereo.wav", window(fixture, 0, 30 if args.quick else fixture.duration_s))]
        if server is not None:  # the same call without the adapter, in this run: the adapter's cost as a difference
            direct_pool = AsrPool(transcriber, workers=args.workers)
            out["single_call_direct"] = await run_calls(direct_pool, config, one_call, 1.0)
            direct_pool.close()
            d = out["single_call_direct"]
            print(f"  direct (no adapter): meter ms p50/p95 = {d['meter_latency_ms']['p50']}/{d['meter_latency_ms']['p95']}; "
                  f"transcript s p50/p95 = {d['transcript_latency_s']['p50']}/{d['transcript_latency_s']['p95']}", flush=True)
        single = await run(one_call, 1.0)
        out["single_call"] = single
        print(f"  meter latency ms p50/p95/p99 = {single['meter_latency_ms']['p50']}/{single['meter_latency_ms']['p95']}/"
              f"{single['meter_latency_ms']['p99']}; transcript s p50/p95 = {single['transcript_latency_s']['p50']}/"
              f"{single['transcript_latency_s']['p95']}", flush=True)
        capacity = []
        best = 0
        n = args.start_calls
        while n <= args.max_calls:
            audios = [(name, window(a, 11.0 * i, args.window_s)) for i, (name, a) in
                      ((i, sources[i % len(sources)]) for i in range(n))]
            r = await run(audios, 1.0)
            r["holds"] = holds(r, args.max_transcript_p95_s)
            capacity.append(r)
            print(f"  {n:2d} calls: meter p95 {r['meter_latency_ms']['p95']} ms, transcript p95 "
                  f"{r['transcript_latency_s']['p95']} s, backlog {r['backlog_s']}, dropped {r['dropped_utterances']}, "
                  f"merged {r['merged_jobs']} -> {'holds' if r['holds'] else 'FAILS'}", flush=True)
            if not r["holds"]:
                break
            best = n
            n = n + 1 if n < 2 else n + 2
        out["capacity"] = {"runs": capacity, "max_concurrent_calls": best, "window_s": args.window_s,
                           "criterion": f"transcript p95 <= {args.max_transcript_p95_s} s, no dropped utterances, no growing backlog"}
        print(f"max concurrent two-party calls in real time: {best}", flush=True)
        if not args.skip_memory:
            print(f"memory: {args.memory_minutes:.0f}-minute call, as fast as possible...", flush=True)
            out["memory"] = await memory_run(pool, config, sources, args.memory_minutes)
            m = out["memory"]
            print(f"  RSS MiB start/middle/end = {m['rss_mb_start']}/{m['rss_mb_middle']}/{m['rss_mb_end']} "
                  f"({m['wall_s']} s wall)", flush=True)
        if server is not None:
            await server.stop()
        else:
            pool.close()

    asyncio.run(bench())
    s = out["single_call"]
    out["targets"] = {
        "meter_p95_ms<=150": s["meter_latency_ms"]["p95"] is not None and s["meter_latency_ms"]["p95"] <= 150,
        "transcript_p95_s<=2": s["transcript_latency_s"]["p95"] is not None and s["transcript_latency_s"]["p95"] <= 2.0,
        "concurrent_calls>=8": out["capacity"]["max_concurrent_calls"] >= 8,
    }
    print("targets:", json.dumps(out["targets"]))
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
