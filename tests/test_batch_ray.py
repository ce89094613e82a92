"""Batch QA on a real local Ray cluster (2 CPUs): the same reports as `voicemon analyze`, and a
run killed mid-way resumes with only the calls it had not finished."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import FIXTURES, ROOT

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'voicemon[ray]')")
pytestmark = pytest.mark.slow

STAMPS = re.compile(rb'"generated_at": "[^"]*"|Generated <b>[^<]*</b>')


def shortest_civil_call():
    """The shortest recording listed in benchmarks/civil_calls.csv that is present."""
    import csv

    import soundfile as sf

    calls = []
    with open(ROOT / "benchmarks" / "civil_calls.csv") as fh:
        for row in csv.DictReader(fh):
            path = (ROOT / "benchmarks" / row["path"]).resolve()
            if path.exists():
                calls.append((sf.info(path).duration, path))
    return min(calls)[1] if calls else None


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs; yields its address (other processes can join it)."""
    for attempt in (1, 2):  # Ray gives its raylet a fixed 30 s to register: a saturated box can miss it once
        try:
            ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False,
                     object_store_memory=300 * 1024 * 1024)
            break
        except Exception as exc:  # noqa: BLE001 — Ray raises a plain Exception for this
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def outputs(folder):
    """Every per-call file of a report folder, timestamps masked."""
    return {p.name: STAMPS.sub(b"", p.read_bytes()) for p in sorted(folder.iterdir())
            if p.suffix in (".json", ".html", ".jsonl") and p.name not in ("manifest.jsonl", "index.html")}


def test_ray_reports_equal_local_analyze(cluster, config, tmp_path):
    from voicemon.batch.engine_ray import RayEngine
    from voicemon.batch.inputs import collect_items
    from voicemon.batch.manifest import read_manifest, source_hash
    from voicemon.batch.run import run_batch
    from voicemon.cli import main
    from voicemon.report import writers

    files = [FIXTURES / "angry_from_start_call.wav", FIXTURES / "not_angry_call.wav"]
    civil = shortest_civil_call()
    if civil is not None:  # /work/shared/data may be absent: the fixtures alone are then compared
        files.append(civil)
    paths = [os.path.relpath(f, ROOT) for f in files]
    cwd = os.getcwd()
    os.chdir(ROOT)  # relative paths, as a user types them: reports name the calls as given
    try:
        assert main(["analyze", *paths, "--out", str(tmp_path / "local"), "-q"]) == 0
        engine = RayEngine(config, __import__("dataclasses").replace(config.batch, actors=2, actor_cpus=1))
        try:
            outcome = run_batch(collect_items(paths), tmp_path / "ray", config, list(writers.FORMATS), engine,
                                say=lambda m: None, warn=print)
        finally:
            engine.close()
    finally:
        os.chdir(cwd)
    assert outcome.analysed == len(files) and outcome.failed == 0
    local, spread = outputs(tmp_path / "local"), outputs(tmp_path / "ray")
    assert sorted(spread) == sorted(local) and len(local) >= 2 * len(files)
    for name in local:
        assert spread[name] == local[name], name
    records = read_manifest(tmp_path / "ray")
    assert len({r["worker"] for r in records.values()}) == 2  # both actors took calls
    for f in files:
        rec = records[str(f.resolve())]
        assert rec["status"] == "done" and rec["source_hash"] == source_hash(f) and rec["error"] is None
        assert rec["duration_s"] > 20 and set(rec["reports"]) == {"events", "json", "html"}
    assert (tmp_path / "ray" / "index.html").exists() and (tmp_path / "ray" / "summary.csv").exists()


def test_killed_ray_run_resumes_with_only_the_rest(cluster, config, tmp_path):
    from voicemon.batch.engine_ray import RayEngine
    from voicemon.batch.inputs import collect_items
    from voicemon.batch.manifest import read_manifest
    from voicemon.batch.run import run_batch
    from voicemon.report import writers

    files = [str(FIXTURES / n) for n in ("angry_from_start_call.wav", "calm_call_stereo.wav", "anxious_call.wav")]
    out = tmp_path / "qa"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    cmd = [sys.executable, "-m", "voicemon", "analyze", *files, "--out", str(out), "--engine", "ray",
           "--address", cluster, "--actors", "1", "--actor-cpus", "2"]
    run = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not any(r.get("status") == "done" for r in read_manifest(out).values()) if out.exists() else True:
            assert run.poll() is None, run.stderr.read()
            assert time.monotonic() < deadline, "no call finished"
            time.sleep(0.05)
        run.send_signal(signal.SIGKILL)  # the driver dies mid-batch, its second call in flight
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    before = read_manifest(out)
    first = str((FIXTURES / "angry_from_start_call.wav").resolve())
    assert before[first]["status"] == "done"
    assert sorted(r["status"] for r in before.values()) in (["done", "running"], ["done", "running", "running"])
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith("angry_from_start_call.")}
    assert len(mtimes) >= 2  # its reports (and event log)

    engine = RayEngine(config, __import__("dataclasses").replace(config.batch, actors=1, actor_cpus=2))
    try:
        outcome = run_batch(collect_items(files), out, config, list(writers.FORMATS), engine,
                            say=lambda m: None, warn=print)
    finally:
        engine.close()
    assert (outcome.skipped, outcome.analysed, outcome.failed) == (1, 2, 0)
    after = read_manifest(out)
    assert all(r["status"] == "done" for r in after.values()) and len(after) == 3
    assert after[first]["finished_at"] == before[first]["finished_at"]  # not analysed again...
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith("angry_from_start_call.")} == mtimes
    for name in ("calm_call_stereo", "anxious_call"):  # ...the rest written once, now
        assert (out / f"{name}.json").stat().st_mtime_ns > max(mtimes.values())
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 3  # compacted: one line per call
    assert sum(1 for r in (json.loads(x) for x in lines) if r["status"] == "done") == 3
