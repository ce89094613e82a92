"""Batch QA throughput: the local engine vs Ray on this machine, and the projection to N nodes.

Runs the same calls twice in one process, through :func:`voicemon.batch.run.run_batch` (the code
``voicemon analyze --engine local|ray`` runs), each into a fresh folder:

* **local**: one process, one Whisper model with one transcription worker per core;
* **ray**: a local Ray cluster with ``--cpus`` CPUs and one actor (one model) per
  ``--actor-cpus`` CPUs.

For each: calls per hour and audio hours per hour (wall time from the first call dispatched to
the last written, i.e. steady state), and CPU seconds per audio hour (the analysing processes'
user+system time: this process for local, the actors' for Ray, plus the Ray driver's). The Ray
start-up (cluster start, actors loading their models) is reported separately.

The projection to a cluster follows from the measured per-actor throughput ``r`` (audio hours an
actor analyses per hour): with ``N`` nodes of ``A`` actors each and calls of mean length ``d``
hours, ``calls/hour ≈ N * A * r / d`` — as long as the shared storage and the one driver keep up
(the driver writes every report: its CPU per call is measured too). On a loaded machine ``r``
is what the actors got of the CPU; ``3600 / (CPU s per audio hour)`` is what an uncontended core
does, and gives the same formula per core.

    .venv/bin/python benchmarks/batch_scale.py                       # the 7 audio fixtures
    .venv/bin/python benchmarks/batch_scale.py --calls 'calls/*.wav' --cpus 2

Writes benchmarks/results/batch_scale.json. Ratios are measured within one run; on a shared,
loaded machine absolute figures vary from run to run.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

from voicemon import config as cfg  # noqa: E402
from voicemon.batch.inputs import collect_items  # noqa: E402
from voicemon.batch.run import run_batch  # noqa: E402
from voicemon.report import writers  # noqa: E402


def cpu_self_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(name: str, items, config, engine, out_dir: Path) -> dict:
    cpu0 = cpu_self_s()
    outcome = run_batch(items, out_dir, config, list(writers.FORMATS), engine, say=lambda m: None, warn=print)
    driver_cpu = cpu_self_s() - cpu0
    worker_cpu = outcome.cpu_s if name == "ray" else 0.0  # local: the worker is this process
    audio_h = outcome.audio_s / 3600
    cpu = driver_cpu + worker_cpu
    return {
        "calls": outcome.analysed, "failed": outcome.failed, "audio_s": round(outcome.audio_s, 1),
        "wall_s": round(outcome.wall_s, 2),
        "calls_per_hour": round(outcome.analysed * 3600 / outcome.wall_s, 1),
        "audio_hours_per_hour": round(audio_h * 3600 / outcome.wall_s, 2),
        "cpu_s": round(cpu, 1), "cpu_s_per_audio_hour": round(cpu / audio_h, 1),
        "driver_cpu_s_per_call": round((driver_cpu if name == "ray" else 0.0) / max(1, outcome.analysed), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", nargs="+", default=[str(ROOT / "audio_fixtures" / "*.wav")],
                        help="audio files, folders or globs (default: the audio fixtures)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="CPUs of the local Ray cluster")
    parser.add_argument("--actor-cpus", type=float, default=1.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "batch_scale.json"))
    args = parser.parse_args()
    config = cfg.load(environ={})
    items = collect_items([p for raw in args.calls for p in (sorted(glob.glob(raw)) or [raw])])
    print(f"{len(items)} calls; local engine first, then Ray with {args.cpus} CPUs...", flush=True)
    result: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "load_avg_at_start": os.getloadavg()[0]}}
    with tempfile.TemporaryDirectory(prefix="voicemon-batch-scale-") as tmp:
        from voicemon.batch.engine_local import LocalEngine

        engine = LocalEngine(config, 0)
        result["local"] = measure("local", items, config, engine, Path(tmp) / "local")
        result["local"]["workers"] = engine.workers
        print("local:", result["local"], flush=True)

        import ray

        from voicemon.batch.engine_ray import RayEngine

        t0 = time.monotonic()
        ray.init(num_cpus=args.cpus, include_dashboard=False, configure_logging=False, log_to_driver=False)
        options = dataclasses.replace(config.batch, actor_cpus=args.actor_cpus, actors=0)
        engine = RayEngine(config, options)
        engine.prepare(len(items))
        startup_s = time.monotonic() - t0
        try:
            result["ray"] = measure("ray", items, config, engine, Path(tmp) / "ray")
        finally:
            engine.close()
            ray.shutdown()
        actors = len({json.loads(x)["worker"] for x in (Path(tmp) / "ray" / "manifest.jsonl").read_text().splitlines()})
        result["ray"].update(actors=actors, actor_cpus=args.actor_cpus, startup_s=round(startup_s, 1))
        print("ray:", result["ray"], flush=True)
    local, spread = result["local"], result["ray"]
    per_actor = spread["audio_hours_per_hour"] / max(1, spread["actors"])
    mean_call_h = spread["audio_s"] / max(1, spread["calls"]) / 3600
    result["ratio_ray_over_local_calls_per_hour"] = round(spread["calls_per_hour"] / local["calls_per_hour"], 3)
    result["ratio_ray_over_local_cpu_s_per_audio_hour"] = round(spread["cpu_s_per_audio_hour"]
                                                               / local["cpu_s_per_audio_hour"], 3)
    result["projection"] = {
        "per_actor_audio_hours_per_hour": round(per_actor, 2),
        "mean_call_s": round(mean_call_h * 3600, 1),
        "formula": f"calls/hour = N_nodes * actors_per_node * {per_actor:.2f} / {mean_call_h:.4f} "
                   f"= N_nodes * actors_per_node * {per_actor / mean_call_h:.0f}",
        "example_10_nodes_16_actors_calls_per_hour": round(10 * 16 * per_actor / mean_call_h),
        # the same from CPU cost alone (what an uncontended core does): 3600 / cpu_s_per_audio_hour
        "per_core_audio_hours_per_hour_from_cpu": round(3600 / spread["cpu_s_per_audio_hour"], 2),
        "formula_from_cpu": f"calls/hour = N_nodes * cores_per_node * {3600 / spread['cpu_s_per_audio_hour']:.2f} / "
                            f"{mean_call_h:.4f}",
    }
    print(f"Ray / local calls per hour = {result['ratio_ray_over_local_calls_per_hour']}; "
          f"CPU s per audio hour {local['cpu_s_per_audio_hour']} (local) vs {spread['cpu_s_per_audio_hour']} (Ray); "
          f"projection: {result['projection']['formula']}")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
