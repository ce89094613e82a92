"""Transcripts you can trust: repetition loops, WER, speed cost, and PII redaction accuracy.

One run, each ``[asr] loop_guard`` mode (``off`` = before, ``cut``, ``redecode`` = the default):

* **loops** — repetition loops left in the final transcripts (:func:`voicemon.asr.loops.find_loops`,
  and, independently of that detector, the longest run of one repeated token and utterances
  whose text gzip-compresses more than 2.4) on the real calls of ``../shared/data/calls`` and on
  the PII fixture calls that provoke loops (cards and SSNs with repeated digits);
* **WER** — per role on the labelled fixtures ``calm_call_stereo.wav`` and
  ``escalating_call_stereo.wav`` (redaction off, so only recognition is measured);
* **speed** — wall time of ``analyze`` over all of the above;
* **PII** — with the default guard and redaction on: recall and precision per entity type on the
  rendered PII fixture set (audio_fixtures/make_pii_fixtures.py), and redacted spans on the
  civil fixture calls and the real calls (which hold no read-out PII that we know of).

    .venv/bin/python benchmarks/transcripts.py [--modes off,cut,redecode] [--out FILE]

Writes benchmarks/results/transcripts.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

REAL_CALLS = ROOT.parent / "shared" / "data" / "calls"
FIXTURES = ROOT / "audio_fixtures"
WER_FIXTURES = ["calm_call_stereo.wav", "escalating_call_stereo.wav"]
LOOP_CLIPS = ["card_cvv_expiry_m3", "card_fast_gb", "ssn_us"]
TURN_SLACK_S = (0.5, 2.0)


def load_pii_module():
    spec = importlib.util.spec_from_file_location("make_pii_fixtures", FIXTURES / "make_pii_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def loop_stats(report: dict) -> dict:
    from voicemon.asr.loops import compression_ratio, find_loops
    from voicemon.events import Word

    loops, longest, compressible = 0, 0, 0
    for e in report["events"]:
        if e["type"] != "transcript" or not e["final"] or not e["words"]:
            continue
        words = [Word(**w) for w in e["words"]]
        loops += len(find_loops(words))
        keys = [w.text.strip(".,!?-").lower() for w in words]
        run = 1
        for a, b in zip(keys, keys[1:]):
            run = run + 1 if a == b else 1
            longest = max(longest, run)
        if len(words) >= 12 and compression_ratio(e["text"]) > 2.4:
            compressible += 1
    return {"loops": loops, "longest_repeat": longest, "compressible_utterances": compressible}


def pii_scores(reports: dict[str, dict], labels: dict) -> dict:
    from voicemon.redact.stage import PLACEHOLDERS

    per: dict[str, dict[str, int]] = {}
    for name, report in reports.items():
        lab = labels[name]
        spans = [(w["start"], w["end"], PLACEHOLDERS[w["text"]].lower())
                 for e in report["events"] if e["type"] == "transcript" and e["final"]
                 for w in e["words"] if w["text"] in PLACEHOLDERS]
        used = set()
        for ent in lab["entities"]:
            kind = ent["type"]
            stats = per.setdefault(kind, {"n": 0, "hit": 0, "redacted_any_label": 0, "spans": 0, "spans_right": 0})
            stats["n"] += 1
            turns = [t for t in lab["turns"]]
            in_turn = [i for i, (s, e, _) in enumerate(spans)
                       if any(t["start_s"] - TURN_SLACK_S[0] <= s and e <= t["end_s"] + TURN_SLACK_S[1] for t in turns)]
            same = [i for i in in_turn if spans[i][2] == kind and i not in used]
            if same:
                stats["hit"] += 1
                used.add(same[0])
            if in_turn:
                stats["redacted_any_label"] += 1
        for i, (_, _, kind) in enumerate(spans):
            stats = per.setdefault(kind, {"n": 0, "hit": 0, "redacted_any_label": 0, "spans": 0, "spans_right": 0})
            stats["spans"] += 1
            stats["spans_right"] += i in used
    for stats in per.values():
        stats["recall"] = round(stats["hit"] / stats["n"], 3) if stats["n"] else None
        stats["recall_any_label"] = round(stats["redacted_any_label"] / stats["n"], 3) if stats["n"] else None
        stats["precision"] = round(stats["spans_right"] / stats["spans"], 3) if stats["spans"] else None
    return dict(sorted(per.items()))


def main() -> int:
    from voicemon.asr.transcriber import WhisperTranscriber
    from voicemon.config import load
    from voicemon.eval.wer import word_error_rate
    from voicemon.offline import analyze_file

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modes", default="off,cut,redecode")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "transcripts.json"))
    args = ap.parse_args()

    pii = load_pii_module()
    tmp = Path(tempfile.mkdtemp(prefix="voicemon-pii-"))
    labels = pii.make(tmp)
    real = sorted(REAL_CALLS.glob("*.wav")) if REAL_CALLS.is_dir() else []
    fixture_labels = json.loads((FIXTURES / "labels.json").read_text())
    base = load(environ={})
    plain = dataclasses.replace(base, redact=dataclasses.replace(base.redact, enabled=False))
    result: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "real_calls": [p.name for p in real], "loop_clips": LOOP_CLIPS, "modes": {}}

    for mode in args.modes.split(","):
        config = dataclasses.replace(plain, asr=dataclasses.replace(plain.asr, loop_guard=mode))
        transcriber = WhisperTranscriber(config.asr, num_workers=2)
        transcriber.load()
        entry: dict = {"calls": {}, "wer": {}}
        started = time.perf_counter()
        audio_s = 0.0
        for path in [*real, *(tmp / f"{n}.wav" for n in LOOP_CLIPS)]:
            t0 = time.perf_counter()
            report = analyze_file(path, config, transcriber, asr_workers=2)
            entry["calls"][path.name] = {**loop_stats(report), "wall_s": round(time.perf_counter() - t0, 2),
                                         "duration_s": report["duration_s"]}
            audio_s += report["duration_s"]
        for name in WER_FIXTURES:
            t0 = time.perf_counter()
            report = analyze_file(FIXTURES / name, config, transcriber, asr_workers=2)
            audio_s += report["duration_s"]
            for role in ("agent", "customer"):
                said = " ".join(t["text"] for t in fixture_labels[name]["turns"] if t["role"] == role)
                heard = " ".join(s["text"] for s in report["transcript"] if s["role"] == role)
                entry["wer"][f"{name}:{role}"] = round(word_error_rate(said, heard), 4)
            entry["calls"][name] = {**loop_stats(report), "wall_s": round(time.perf_counter() - t0, 2),
                                    "duration_s": report["duration_s"]}
        entry["wall_s"] = round(time.perf_counter() - started, 2)
        entry["x_real_time"] = round(audio_s / entry["wall_s"], 2)
        entry["loops_total"] = sum(c["loops"] for c in entry["calls"].values())
        entry["loops_real_calls"] = sum(entry["calls"][p.name]["loops"] for p in real)
        entry["utterances_redecoded_or_cut"] = transcriber.loops_found
        entry["wer_mean"] = round(sum(entry["wer"].values()) / len(entry["wer"]), 4)
        result["modes"][mode] = entry
        print(f"loop_guard={mode:9s} loops left {entry['loops_total']:3d} (real calls {entry['loops_real_calls']}), "
              f"guarded utterances {transcriber.loops_found}, WER mean {entry['wer_mean']:.3f}, "
              f"{entry['wall_s']:.1f} s ({entry['x_real_time']:.1f}x real time)")
        for name, c in entry["calls"].items():
            print(f"    {name:32s} loops {c['loops']:2d} longest repeat {c['longest_repeat']:3d} "
                  f"compressible {c['compressible_utterances']}  {c['wall_s']:.1f} s")
    if "off" in result["modes"] and "redecode" in result["modes"]:
        off, on = result["modes"]["off"], result["modes"]["redecode"]
        result["speed_cost_redecode_vs_off"] = round(on["wall_s"] / off["wall_s"], 3)
        print(f"speed: redecode / off = {result['speed_cost_redecode_vs_off']:.3f} (wall time ratio, one run)")

    # PII: default guard and redaction on
    transcriber = WhisperTranscriber(base.asr, num_workers=2)
    transcriber.load()
    reports = {name: analyze_file(tmp / f"{name}.wav", base, transcriber, asr_workers=2) for name in labels}
    result["pii"] = pii_scores(reports, labels)
    result["pii_transcripts"] = {name: [s["text"] for s in r["transcript"] if s["role"] == "customer"]
                                 for name, r in reports.items()}
    civil = {}
    for path in [FIXTURES / "calm_call_stereo.wav", FIXTURES / "escalating_call_stereo.wav", *real]:
        civil[path.name] = analyze_file(path, base, transcriber, asr_workers=2)["redaction"]["counts"]
    result["redacted_on_calls_without_read_out_pii"] = civil
    print("PII per entity type (recall = right label; any = redacted under any label):")
    for kind, s in result["pii"].items():
        print(f"    {kind:8s} n={s['n']:2d} recall {s['recall']}  any {s['recall_any_label']}  "
              f"precision {s['precision']} ({s['spans']} spans)")
    print("redacted on calls without read-out PII:", civil)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
