"""Transcripts you can trust: repetition loops, WER, speed cost, and PII redaction accuracy.

One run, each ``[asr] loop_guard`` mode (``off`` = before, ``cut``, ``redecode`` = the default):

* **loops** — repetition loops left in the final transcripts (:func:`voicemon.asr.loops.find_loops`,
  and, independently of that detector, the longest run of one repeated token and utterances
  whose text gzip-compresses more than 2.4) on the real calls of ``../shared/data/calls`` and on
  the PII fixture calls that provoke loops (cards and SSNs with repeated digits);
* **WER** — per role on the labelled fixtures ``calm_call_stereo.wav`` and
  ``escalating_call_stereo.wav`` (redaction off, so only recognition is measured);
* **speed** — wall time of ``analyze`` over all of the above;
* **key phrases** — recall of the prompt-driving cues (hold requests, policy, "calm down",
  threats, repeated complaints, apologies, repeating back, offers) on the rendered key-phrase
  fixtures (audio_fixtures/make_keyphrase_fixtures.py; ``tune`` and ``heldout`` sets, calm and
  raised voices, 8 kHz), exact lexicon matching (before) vs with ``[cues] fuzzy_phrases``
  (after), computed on the same recognised words; and the cues that fuzzy matching adds on the
  civil calls (the real calls, calm_call_stereo, not_angry_call) — target none;
* **models** — for each Whisper model (``tiny.en``, the default; ``base`` of the
  ``voicemon[base-model]`` extra, skipped when it is not installed): WER on the labelled
  fixtures and on the key-phrase fixtures (their scripts are the references), key-phrase
  recall, and wall time of ``analyze`` over all of it plus the real calls;
* **PII** — with the default guard and redaction on: recall and precision per entity type on the
  rendered PII fixture set (audio_fixtures/make_pii_fixtures.py), per set (``tune``: what the
  rules were tuned on; ``heldout``: other wordings and voices, written before the first tuning;
  ``heldout2``: more e-mail, expiry and CVV wordings, looked at only after their first
  measurement; ``heldout3``: never looked at — its transcripts are neither printed nor
  stored), and redacted spans on the civil fixture calls, the real calls and the key-phrase
  fixtures (which hold no read-out PII that we know of), with the count of ``[EMAIL]`` spans
  there and on the fixture calls without PII.

    .venv/bin/python benchmarks/transcripts.py [--sections loops,models,pii] [--modes off,cut,redecode]
        [--models tiny.en,base] [--out FILE]

``models`` includes the key-phrase figures; with ``--cache DIR`` it keeps each analysis's words
(and wall time) there and reuses them, so a change to the cue matching is re-scored without
recognising the audio again (``analyses_from_cache`` says how many were reused). A run of some
sections keeps the other sections of an existing results file (each records when it was
measured).
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
PROMPT_CUES = ("hold_request", "policy", "calm_down", "threat_cancel", "threat_escalate", "repetition", "apology",
               "repeat_back", "offer")
CIVIL_FIXTURES = ["calm_call_stereo.wav", "not_angry_call.wav"]
UNSEEN_PII_SETS = ("heldout3",)
"""PII fixture sets nobody has looked at: their transcripts are neither printed nor stored."""


def load_fixture_module(name: str):
    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
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


def transcript_updates(report: dict):
    """The final transcript updates of a report's event log, as the cue detector takes them."""
    from voicemon.events import TranscriptUpdate, Word

    for e in report["events"]:
        if e["type"] == "transcript" and e["final"]:
            yield TranscriptUpdate(t=e["t"], role=e["role"], utterance_id=e["utterance_id"], start=e["start"],
                                   end=e["end"], text=e["text"], words=tuple(Word(**w) for w in e["words"]),
                                   final=True)


def text_cues(report: dict, fuzzy: bool) -> list:
    """The lexicon cues of a report's words, with fuzzy phrase matching on or off."""
    from voicemon.escalation.text_cues import TextCueDetector, load_lexicon

    detector = TextCueDetector(load_lexicon(), fuzzy=fuzzy)
    return [c for u in transcript_updates(report) for c in detector.feed(u)]


def keyphrase_recall(reports: dict[str, dict], labels: dict, fuzzy: bool) -> dict:
    """Recall of the labelled key-phrase turns per set, per style and per cue kind."""
    counts: dict[str, list[int]] = {}
    for name, lab in labels.items():
        cues = text_cues(reports[name], fuzzy)
        for turn in lab["turns"]:
            if not turn["kind"]:
                continue
            hit = any(c.kind == turn["kind"] and c.role == turn["role"]
                      and turn["start_s"] - TURN_SLACK_S[0] <= c.t <= turn["end_s"] + TURN_SLACK_S[1] for c in cues)
            for key in (lab["set"], f"{lab['set']}:{lab['style']}", f"{lab['set']}:{turn['kind']}"):
                counts.setdefault(key, [0, 0])
                counts[key][0] += hit
                counts[key][1] += 1
    return {k: {"hit": h, "n": n, "recall": round(h / n, 3)} for k, (h, n) in sorted(counts.items())}


def added_cues(report: dict) -> list[dict]:
    """Cues that fuzzy matching adds to a report's words (what a civil call must not get)."""
    before = {(c.t, c.kind, c.role) for c in text_cues(report, False)}
    return [{"t": c.t, "kind": c.kind, "role": c.role, "evidence": c.evidence}
            for c in text_cues(report, True) if (c.t, c.kind, c.role) not in before]


def role_wer(report: dict, turns: list[dict]) -> dict[str, float]:
    from voicemon.eval.wer import word_error_rate

    out = {}
    for role in ("agent", "customer"):
        said = " ".join(t["text"] for t in turns if t["role"] == role)
        heard = " ".join(s["text"] for s in report["transcript"] if s["role"] == role)
        out[role] = round(word_error_rate(said, heard), 4)
    return out


def section_loops(args, ctx: dict) -> dict:
    from voicemon.asr.transcriber import WhisperTranscriber
    from voicemon.eval.wer import word_error_rate
    from voicemon.offline import analyze_file

    plain, real, tmp, fixture_labels = ctx["plain"], ctx["real"], ctx["pii_dir"], ctx["fixture_labels"]
    result: dict = {"real_calls": [p.name for p in real], "loop_clips": LOOP_CLIPS, "modes": {}}
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
    return result


class AnalysisCache:
    """``--cache DIR``: each analysis's transcript events, transcript and wall time, keyed by the
    audio's SHA-1 and the options, so the cue figures can be recomputed without recognising the
    audio again (the wall times then are those of the run that filled the cache)."""

    def __init__(self, folder: str | None) -> None:
        self.folder = Path(folder) if folder else None
        self.hits = 0

    def analyze(self, path: Path, config, transcriber) -> tuple[dict, float]:
        import hashlib

        from voicemon.offline import analyze_file

        key = None
        if self.folder is not None:
            digest = hashlib.sha1(path.read_bytes())
            digest.update(json.dumps(config.to_dict(), sort_keys=True, default=str).encode())
            digest.update(transcriber.name.encode())
            key = self.folder / f"{path.stem}-{digest.hexdigest()[:16]}.json"
            if key.exists():
                self.hits += 1
                kept = json.loads(key.read_text())
                return kept["report"], kept["wall_s"]
        t0 = time.perf_counter()
        report = analyze_file(path, config, transcriber, asr_workers=2)
        wall = time.perf_counter() - t0
        kept = {"events": [e for e in report["events"] if e["type"] == "transcript" and e["final"]],
                "transcript": report["transcript"], "duration_s": report["duration_s"]}
        if key is not None:
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_text(json.dumps({"report": kept, "wall_s": wall}))
        return kept, wall


def section_models(args, ctx: dict) -> dict:
    """Each model over the key-phrase fixtures, the labelled fixtures and the civil calls."""
    from voicemon.asr.transcriber import WhisperTranscriber
    from voicemon.errors import ModelUnavailableError

    cache = AnalysisCache(args.cache)

    def analyze_file(path, config, transcriber, asr_workers=2):
        report, wall = cache.analyze(Path(path), config, transcriber)
        timing["wall_s"] += wall
        return report

    base, real, fixture_labels = ctx["base"], ctx["real"], ctx["fixture_labels"]
    kp_dir = Path(tempfile.mkdtemp(prefix="voicemon-keyphrases-"))
    kp_labels = load_fixture_module("make_keyphrase_fixtures").make(kp_dir)
    result: dict = {"keyphrase_calls": len(kp_labels), "civil_calls": [p.name for p in real] + CIVIL_FIXTURES,
                    "models": {}}
    for model in args.models.split(","):
        config = dataclasses.replace(base, asr=dataclasses.replace(base.asr, model=None if model == "tiny.en" else model))
        try:
            transcriber = WhisperTranscriber(config.asr, num_workers=2)
            transcriber.load()
        except ModelUnavailableError as exc:
            print(f"model {model}: skipped ({exc})")
            result["models"][model] = {"skipped": str(exc)}
            continue
        entry: dict = {"name": transcriber.name}
        timing = {"wall_s": 0.0}
        hits_before = cache.hits
        audio_s = 0.0
        kp_reports = {}
        for name in kp_labels:
            kp_reports[name] = analyze_file(kp_dir / f"{name}.wav", config, transcriber, asr_workers=2)
            audio_s += kp_reports[name]["duration_s"]
        kp_wall = timing["wall_s"]
        wer: dict[str, float] = {}
        for name in WER_FIXTURES:
            report = analyze_file(FIXTURES / name, config, transcriber, asr_workers=2)
            audio_s += report["duration_s"]
            for role, value in role_wer(report, fixture_labels[name]["turns"]).items():
                wer[f"{name}:{role}"] = value
        civil: dict[str, list] = {}
        for path in [*real, *(FIXTURES / n for n in CIVIL_FIXTURES)]:
            report = analyze_file(path, config, transcriber, asr_workers=2)
            audio_s += report["duration_s"]
            civil[path.name] = added_cues(report)
        entry["wall_s"] = round(timing["wall_s"], 2)
        entry["analyses_from_cache"] = cache.hits - hits_before
        entry["audio_s"] = round(audio_s, 2)
        entry["x_real_time"] = round(audio_s / entry["wall_s"], 2)
        entry["keyphrase_wall_s"] = round(kp_wall, 2)
        entry["wer_fixtures"] = wer
        entry["wer_fixtures_mean"] = round(sum(wer.values()) / len(wer), 4)
        kp_wer = {s: [] for s in ("tune", "heldout")}
        for name, lab in kp_labels.items():
            kp_wer[lab["set"]].extend(role_wer(kp_reports[name], lab["turns"]).values())
        entry["wer_keyphrase_fixtures_mean"] = {k: round(sum(v) / len(v), 4) for k, v in kp_wer.items()}
        entry["keyphrases_before"] = keyphrase_recall(kp_reports, kp_labels, fuzzy=False)
        entry["keyphrases_after"] = keyphrase_recall(kp_reports, kp_labels, fuzzy=True)
        entry["fuzzy_cues_added_on_civil_calls"] = civil
        entry["missed_after"] = [
            {"call": name, "kind": t["kind"], "said": t["text"],
             "heard": [s["text"] for s in kp_reports[name]["transcript"] if s["role"] == t["role"]
                       and s["start"] < t["end_s"] + TURN_SLACK_S[1] and s["end"] > t["start_s"] - TURN_SLACK_S[0]]}
            for name, lab in kp_labels.items() for t in lab["turns"] if t["kind"] and not any(
                c.kind == t["kind"] and c.role == t["role"]
                and t["start_s"] - TURN_SLACK_S[0] <= c.t <= t["end_s"] + TURN_SLACK_S[1]
                for c in text_cues(kp_reports[name], True))]
        result["models"][model] = entry
        b, a = entry["keyphrases_before"], entry["keyphrases_after"]
        print(f"model {model:8s} WER fixtures {entry['wer_fixtures_mean']:.3f}, key-phrase fixtures "
              f"{entry['wer_keyphrase_fixtures_mean']}, {entry['wall_s']:.1f} s for {audio_s:.0f} s of audio "
              f"({entry['x_real_time']:.2f}x real time)")
        for s in ("tune", "heldout"):
            print(f"    key-phrase recall {s:8s} exact {b[s]['recall']:.3f} -> fuzzy {a[s]['recall']:.3f} "
                  f"(n={a[s]['n']}; calm {b[s + ':calm']['recall']:.3f} -> {a[s + ':calm']['recall']:.3f}, "
                  f"raised {b[s + ':raised']['recall']:.3f} -> {a[s + ':raised']['recall']:.3f})")
        print(f"    cues fuzzy matching adds on civil calls: {sum(len(v) for v in civil.values())} {civil}")
    ms = result["models"]
    if "tiny.en" in ms and "base" in ms and "wall_s" in ms["base"]:
        result["base_vs_tiny_wall"] = round(ms["base"]["wall_s"] / ms["tiny.en"]["wall_s"], 3)
        print(f"speed: base / tiny.en wall = {result['base_vs_tiny_wall']:.2f} (one run)")
    return result


def section_pii(args, ctx: dict) -> dict:
    from voicemon.asr.transcriber import WhisperTranscriber
    from voicemon.offline import analyze_file

    base, real, tmp, labels = ctx["base"], ctx["real"], ctx["pii_dir"], ctx["pii_labels"]
    transcriber = WhisperTranscriber(base.asr, num_workers=2)
    transcriber.load()
    reports = {name: analyze_file(tmp / f"{name}.wav", base, transcriber, asr_workers=2) for name in labels}
    result: dict = {}
    set_names = sorted({lab.get("set", "tune") for lab in labels.values()}, key=lambda s: (s != "tune", s))
    for set_name in set_names:
        chosen = {n: lab for n, lab in labels.items() if lab.get("set", "tune") == set_name}
        result[set_name] = pii_scores({n: reports[n] for n in chosen}, chosen)
    result["all"] = pii_scores(reports, labels)
    result["transcripts"] = {name: [s["text"] for s in r["transcript"] if s["role"] == "customer"]
                             for name, r in reports.items() if labels[name].get("set") not in UNSEEN_PII_SETS}
    kp_dir = Path(tempfile.mkdtemp(prefix="voicemon-keyphrases-"))
    kp_calls = [kp_dir / lab["file"] for lab in load_fixture_module("make_keyphrase_fixtures").make(kp_dir).values()]
    civil = {}
    for path in [FIXTURES / "calm_call_stereo.wav", FIXTURES / "escalating_call_stereo.wav",
                 FIXTURES / "not_angry_call.wav", *real, *kp_calls]:
        civil[path.name] = analyze_file(path, base, transcriber, asr_workers=2)["redaction"]["counts"]
    result["redacted_on_calls_without_read_out_pii"] = civil
    no_pii = [n for n, lab in labels.items() if not lab["entities"]]
    result["email_spans_without_an_email"] = (
        sum(c.get("email", 0) for c in civil.values())
        + sum(reports[n]["redaction"]["counts"].get("email", 0) for n in no_pii))
    for set_name in (*set_names, "all"):
        print(f"PII per entity type, {set_name} (recall = right label; any = redacted under any label):")
        for kind, sc in result[set_name].items():
            print(f"    {kind:8s} n={sc['n']:2d} recall {sc['recall']}  any {sc['recall_any_label']}  "
                  f"precision {sc['precision']} ({sc['spans']} spans)")
    print("redacted on calls without read-out PII:", {k: v for k, v in civil.items() if v})
    print(f"[EMAIL] spans on calls without an e-mail ({len(civil)} civil and key-phrase calls, "
          f"{len(no_pii)} PII fixture calls without PII): {result['email_spans_without_an_email']}")
    return result


def main() -> int:
    from voicemon.config import load

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", default="loops,models,pii")
    ap.add_argument("--modes", default="off,cut,redecode")
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "transcripts.json"))
    ap.add_argument("--cache", metavar="DIR", help="models section: keep/reuse each analysis's words here")
    args = ap.parse_args()

    pii = load_fixture_module("make_pii_fixtures")
    pii_dir = Path(tempfile.mkdtemp(prefix="voicemon-pii-"))
    base = load(environ={})
    ctx = {"base": base, "plain": dataclasses.replace(base, redact=dataclasses.replace(base.redact, enabled=False)),
           "real": sorted(REAL_CALLS.glob("*.wav")) if REAL_CALLS.is_dir() else [], "pii_dir": pii_dir,
           "pii_labels": pii.make(pii_dir, heldout=True),
           "fixture_labels": json.loads((FIXTURES / "labels.json").read_text())}
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    if "modes" in result:  # a results file of the first version: its loop figures become the loops section
        result = {"loops": {"measured": "2026-12-02T00:49:01Z (first version of this benchmark, commit 2855e7e)",
                            **{k: result[k] for k in ("real_calls", "loop_clips", "modes", "speed_cost_redecode_vs_off")
                               if k in result}}}
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
    sections = {"loops": section_loops, "models": section_models, "pii": section_pii}
    for name in args.sections.split(","):
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        result[name] = {"measured": started, **sections[name](args, ctx)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
    print("wrote", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
