"""The batch run manifest and inputs: pure parts (no model, no Ray)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from conftest import ROOT


def test_decide_skips_done_retries_failed_once_and_redoes_changed_calls(tmp_path):
    from voicemon.batch.manifest import RUN, SKIP_DONE, SKIP_FAILED, decide

    report = tmp_path / "a.json"
    report.write_text("{}")
    done = {"status": "done", "source_hash": "s1", "config_hash": "c1", "reports": {"json": str(report)}}
    assert decide(None, "s1", "c1", 2) == RUN
    assert decide(done, "s1", "c1", 2, tmp_path) == SKIP_DONE
    assert decide(done, "s1", "c1", 2, tmp_path, wanted={"json"}) == SKIP_DONE
    assert decide(done, "s1", "c1", 2, tmp_path, wanted={"json", "html"}) == RUN  # a report it lacks
    assert decide(done, "s2", "c1", 2, tmp_path) == RUN  # the audio changed
    assert decide(done, "s1", "c2", 2, tmp_path) == RUN  # the configuration changed
    report.unlink()
    assert decide(done, "s1", "c1", 2, tmp_path) == RUN  # its report is gone
    failed = {"status": "failed", "source_hash": None, "config_hash": "c1", "attempts": 1}
    assert decide(failed, None, "c1", 2) == RUN  # a missing file is tried again once
    assert decide({**failed, "attempts": 2}, None, "c1", 2) == SKIP_FAILED
    assert decide({**failed, "attempts": 2}, "s9", "c1", 2) == RUN  # the file appeared
    assert decide({"status": "running", "source_hash": "s1", "config_hash": "c1"}, "s1", "c1", 2) == RUN


def test_manifest_survives_a_torn_line_keeps_the_last_record_and_locks(tmp_path):
    from voicemon.batch.manifest import Manifest, read_manifest
    from voicemon.errors import BatchError

    with Manifest.open(tmp_path) as m:
        m.update("/a.wav", status="running", stem="a")
        m.update("/a.wav", status="done", duration_s=3.5)
        m.update("/b.wav", status="running", stem="b")
        with pytest.raises(BatchError, match="another run"):
            Manifest.open(tmp_path)
    with open(tmp_path / "manifest.jsonl", "ab") as fh:
        fh.write(b'{"key": "/b.wav", "status": "do')  # what a SIGKILL mid-write leaves
    with Manifest.open(tmp_path) as m:
        assert m.torn_lines == 1
        assert m.get("/a.wav")["status"] == "done" and m.get("/a.wav")["stem"] == "a"
        assert m.get("/b.wav")["status"] == "running"
        m.update("/b.wav", status="failed", error="x")
        m.compact()
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(x) for x in lines)
    assert read_manifest(tmp_path)["/b.wav"]["status"] == "failed"


def test_source_and_config_hashes(tmp_path, config):
    import dataclasses

    from voicemon import __version__
    from voicemon.batch.manifest import FileStat, config_hash, known_hash, source_hash

    f = tmp_path / "x.wav"
    f.write_bytes(b"abc" * 1000)
    assert source_hash(f) == "sha256:" + hashlib.sha256(b"abc" * 1000).hexdigest()
    stat = FileStat.of(f)
    rec = {"source_hash": "sha256:old", "size": stat.size, "mtime_ns": stat.mtime_ns}
    assert known_hash(rec, stat) == "sha256:old"  # unchanged size and mtime: not read again
    assert known_hash({**rec, "size": 1}, stat) is None
    base = config_hash(config.to_dict(), __version__)
    moved = dataclasses.replace(config, server=dataclasses.replace(config.server, port=1),
                                batch=dataclasses.replace(config.batch, actors=7))
    assert config_hash(moved.to_dict(), __version__) == base
    beam = dataclasses.replace(config, asr=dataclasses.replace(config.asr, beam_size=5))
    assert config_hash(beam.to_dict(), __version__) != base
    assert config_hash(config.to_dict(), "0.0.0") != base


def test_inputs_from_folders_globs_and_a_call_list(tmp_path):
    from voicemon.batch.inputs import collect_items
    from voicemon.errors import BatchError

    (tmp_path / "calls" / "q1").mkdir(parents=True)
    for name in ("calls/a.wav", "calls/q1/b.mp3", "calls/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    listing = tmp_path / "list.csv"
    listing.write_text("path,agent,queue,date\ncalls/a.wav,ann,billing,2026-11-30\ncalls/c.wav,bob,,\n")
    items = collect_items([str(listing), str(tmp_path / "calls"), str(tmp_path / "calls" / "*.wav")])
    assert [i.key for i in items] == [str(tmp_path / p) for p in ("calls/a.wav", "calls/c.wav", "calls/q1/b.mp3")]
    assert items[0].metadata == {"agent": "ann", "queue": "billing", "date": "2026-11-30"}
    assert items[1].metadata == {"agent": "bob"}
    bad = tmp_path / "bad.csv"
    bad.write_text("file,agent\na.wav,ann\n")
    with pytest.raises(BatchError, match="'path' column"):
        collect_items([str(bad)])


def test_batch_engines_do_not_import_ray_until_used():
    code = ("import sys, voicemon.batch.run, voicemon.batch.engine_local, voicemon.batch.engine_ray, voicemon.cli;"
            "voicemon.cli.build_parser() if hasattr(voicemon.cli, 'build_parser') else None;"
            "assert 'ray' not in sys.modules, 'ray imported'; assert 'redis' not in sys.modules, 'redis imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_local_engine_retries_a_failed_call_once_then_leaves_it_until_it_changes(tmp_path, config):
    """`analyze --engine local` on files that cannot be decoded (no speech is analysed): each failure
    is recorded, a re-run retries it once, the next skips it, and a changed file is tried again."""
    from voicemon.batch.engine_local import LocalEngine
    from voicemon.batch.inputs import collect_items
    from voicemon.batch.manifest import read_manifest
    from voicemon.batch.run import run_batch
    from voicemon.cli import main

    bad, missing, out = tmp_path / "noise.wav", tmp_path / "gone.wav", tmp_path / "qa"
    bad.write_bytes(b"RIFF but not audio at all")
    assert main(["analyze", str(bad), str(missing), "--out", str(out), "--engine", "local", "-q"]) == 1
    first = read_manifest(out)
    assert {r["status"] for r in first.values()} == {"failed"} and {r["attempts"] for r in first.values()} == {1}
    assert "no such file" in first[str(missing)]["error"]
    items = collect_items([str(bad), str(missing)])
    engine = LocalEngine(config, 1)
    second = run_batch(items, out, config, ["json", "html", "csv"], engine, say=lambda m: None, warn=lambda m: None)
    assert (second.analysed, second.skipped, second.failed) == (2, 0, 2)
    assert {r["attempts"] for r in read_manifest(out).values()} == {2}
    third = run_batch(items, out, config, ["json", "html", "csv"], engine, say=lambda m: None, warn=lambda m: None)
    assert (third.analysed, third.skipped, third.failed) == (0, 2, 2)  # failed twice: left as it is
    bad.write_bytes(b"RIFF still not audio, but a new file")
    fourth = run_batch(items, out, config, ["json", "html", "csv"], engine, say=lambda m: None, warn=lambda m: None)
    assert (fourth.analysed, fourth.skipped) == (1, 1)
    assert read_manifest(out)[str(bad)]["attempts"] == 1  # a new file starts its attempts over
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",error," in r for r in rows[1:])


def test_call_list_with_hostile_rows_is_a_batch_error_or_capped(tmp_path):
    """A call list's values come from outside: a NUL byte is a typed error naming the line; a
    huge metadata value is capped; a ``../`` path is only ever read (reports are named by stem)."""
    from voicemon.batch.inputs import MAX_METADATA_CHARS, read_call_list
    from voicemon.errors import BatchError

    nul = tmp_path / "nul.csv"
    nul.write_text("path,agent\nok.wav,amy\n\"a\x00b.wav\",bob\n", encoding="utf-8")
    with pytest.raises(BatchError, match="line 3: a path with a NUL byte"):
        read_call_list(nul)

    huge = tmp_path / "huge.csv"
    huge.write_text("path,agent,queue\n../up.wav," + "x" * 100_000 + ",q\n", encoding="utf-8")
    (item,) = read_call_list(huge)
    assert len(item.metadata["agent"]) == MAX_METADATA_CHARS and item.metadata["queue"] == "q"
    assert item.key == str((tmp_path.parent / "up.wav").resolve())
