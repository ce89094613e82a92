"""``voicemon analyze --engine local|ray``: a resumable batch (:mod:`voicemon.batch`, docs/scale.md).

Without ``--engine``, ``analyze`` is unchanged (and Ray is never imported).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from voicemon.errors import VoicemonError

if TYPE_CHECKING:
    from voicemon.config import Config


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine``, ``--address`` and the actor sizes on ``analyze``."""
    g = p.add_argument_group("resumable batch (docs/scale.md)")
    g.add_argument("--engine", choices=("local", "ray"),
                   help="keep a run manifest in --out so re-running skips finished calls; ray: spread the calls over "
                        "a Ray cluster (pip install 'voicemon[ray]')")
    g.add_argument("--address", metavar="auto|ray://HOST:10001",
                   help="Ray cluster to join (batch.address; default: start Ray on this machine)")
    g.add_argument("--actors", type=int, metavar="N", help="Ray actors, one Whisper model each (default: as the CPUs allow)")
    g.add_argument("--actor-cpus", type=float, metavar="N", help="CPUs per Ray actor (default 1)")
    g.add_argument("--actor-gpus", type=float, metavar="N", help="GPUs per Ray actor (default 0)")


def cmd_batch(args: argparse.Namespace, config: Config, formats: list[str]) -> int:
    """Run ``analyze`` through :func:`voicemon.batch.run.run_batch` on the chosen engine.

    The engine flags size the engine only: the configuration the calls are analysed with (and
    that their reports record) is the one plain ``analyze`` would use.
    """
    from voicemon.batch.inputs import collect_items
    from voicemon.batch.run import run_batch

    flags = {"address": args.address, "actors": args.actors, "actor_cpus": args.actor_cpus,
             "actor_gpus": args.actor_gpus}
    if args.engine != "ray" and any(v is not None for v in flags.values()):
        raise VoicemonError("--address, --actors, --actor-cpus and --actor-gpus need --engine ray")
    options = dataclasses.replace(config.batch, **{k: v for k, v in flags.items() if v is not None})
    if options.actors < 0 or options.actor_cpus <= 0 or options.actor_gpus < 0:
        raise VoicemonError("--actors must be >= 0, --actor-cpus > 0 and --actor-gpus >= 0")
    items = collect_items(args.paths)
    if not items:
        raise VoicemonError("no input files")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise VoicemonError(f"--out {str(out_dir)!r} is a file, not a folder")
    if args.engine == "ray":
        from voicemon.batch.engine_ray import RayEngine

        engine = RayEngine(config, options)
    else:
        from voicemon.batch.engine_local import LocalEngine

        engine = LocalEngine(config, args.workers)
    try:
        outcome = run_batch(items, out_dir, config, formats, engine, say=lambda m: print(m, flush=True),
                            warn=lambda m: print(m, file=sys.stderr, flush=True))
    finally:
        engine.close()
    hours = outcome.audio_s / 3600
    rate = outcome.analysed * 3600 / outcome.wall_s if outcome.wall_s > 0 else 0.0
    print(f"{outcome.analysed} analysed ({hours:.2f} h of audio in {outcome.wall_s:.0f} s, {rate:.0f} calls/h), "
          f"{outcome.skipped} skipped as done before, {outcome.failed} failed; manifest: {out_dir / 'manifest.jsonl'}")
    return 1 if outcome.failed else 0
