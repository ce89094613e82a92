"""Meter v3 vs meter v2 vs loudness only, in one run: the table of docs/evaluation.md.

Three evaluations, each with the same three systems on the same signal (the interpreting
stages are folded once per system over one signal run, so only the meter differs):

* **two-party EmoDB calls** (``voicemon eval clips --two-party``; ``../shared/data/emodb``):
  every scored clip comes after calm context (an agent turn and a neutral customer turn); AUC
  angry vs neutral and vs every other emotion, recall of angry clips at heated, false alarms
  (neutral clips, happy+fearful clips, other clips at heated), median latency from an angry
  clip's start to heated. Prosody only: EmoDB has no English words.
* **the bundled fixture calls** (``audio_fixtures/labelled_calls.csv``, with transcription):
  detection latency and time precision/recall of the labelled escalation, seconds at heated on
  the calm call.
* **the real civil calls** (``benchmarks/civil_calls.csv``; ``../shared/data/calls``, with
  transcription): seconds at heated or above, for any party.

    .venv/bin/python benchmarks/meter_compare.py [--transforms clean,telephone] [--quick]

Prints one Markdown table and writes benchmarks/results/meter_compare.json. Parts whose data
is missing (no ../shared) are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

from voicemon import config as cfg  # noqa: E402
from voicemon.escalation.meter import PREVIOUS_METER, load_meter_params  # noqa: E402
from voicemon.eval import calls as eval_calls  # noqa: E402
from voicemon.eval import two_party  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SYSTEMS = ("meter", "meter_v2", "baseline")
NAMES = {"meter": "meter v3", "meter_v2": "meter v2", "baseline": "loudness only"}


def pct(x):
    return "–" if x is None else f"{100 * x:.0f} %"


def num(x, nd=3):
    return "–" if x is None else f"{x:.{nd}f}"


def secs(x):
    return "–" if x is None else f"{x:.1f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--transforms", default="clean,telephone", help="channel conditions (default clean,telephone)")
    ap.add_argument("--civil-transforms", default="all", help="channel conditions for the civil calls (default all)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "meter_compare.json"))
    args = ap.parse_args()
    from voicemon.asr.transcriber import parallel_transcriber
    from voicemon.eval import transforms

    config = cfg.load(environ={})
    params = load_meter_params()
    names = transforms.parse_transforms(args.transforms)
    civil_names = transforms.parse_transforms(args.civil_transforms)
    transcriber, workers = parallel_transcriber(config.asr, 0)
    result: dict = {"transforms": names, "meter": "bundled models/meter.toml (v3)", "previous": f"models/{PREVIOUS_METER}"}
    started = time.monotonic()
    emodb = SHARED / "emodb" / "labels.csv"
    if emodb.is_file():
        prepared = two_party.prepare_two_party(emodb, config, params, transform_names=names)
        scored = two_party.score_two_party(prepared, config, {"meter": params, "meter_v2": load_meter_params(bundled=PREVIOUS_METER)})
        result["emodb_two_party"] = {t: {s: r[s] for s in SYSTEMS} for t, r in scored.items()}
        result["emodb_two_party_calls"] = len(prepared.calls)
    else:
        print(f"note: {emodb} not found: two-party EmoDB skipped")
    result["fixtures"] = eval_calls.evaluate_calls(ROOT / "audio_fixtures" / "labelled_calls.csv", config, params,
                                                   transform_names=names, transcriber=transcriber, asr_workers=workers)
    civil_csv = ROOT / "benchmarks" / "civil_calls.csv"
    if (SHARED / "calls").is_dir():
        result["civil_calls"] = eval_calls.evaluate_calls(civil_csv, config, params, transform_names=civil_names,
                                                          transcriber=transcriber, asr_workers=workers)
    else:
        print(f"note: {SHARED / 'calls'} not found: civil calls skipped")
    result["wall_s"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")

    lines = []
    if "emodb_two_party" in result:
        lines += ["Two-party EmoDB calls (prosody only; EmoDB is peak-normalised, so loudness carries no information)", "",
                  "| transform | system | AUC angry/neutral | AUC angry/other | recall at heated | FA neutral | FA happy+fearful | FA other | median onset |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for t, r in result["emodb_two_party"].items():
            for s in SYSTEMS:
                x = r[s]
                lines.append(f"| {t} | {NAMES[s]} | {num(x['auc_angry_vs_neutral'])} | {num(x['auc_angry_vs_other'])} | "
                             f"{pct(x['recall_angry_heated'])} | {pct(x['false_alarm_neutral_heated'])} | "
                             f"{pct(x['false_alarm_high_arousal_heated'])} | {pct(x['false_alarm_other_heated'])} | "
                             f"{secs(x['median_latency_to_heated_s'])} |")
        lines.append("")
    lines += ["Fixture calls (with transcription)", "",
              "| transform | system | escalations detected | median latency | precision | recall | calm call heated |",
              "|---|---|---|---|---|---|---|"]
    for t, r in result["fixtures"].items():
        for s in SYSTEMS:
            x = r[s]
            lines.append(f"| {t} | {NAMES[s]} | {x['detected']}/{x['escalations']} | {secs(x['median_latency_s'])} | "
                         f"{pct(x['precision'])} | {pct(x['recall'])} | {x['civil_heated_s']:.1f} s |")
    if "civil_calls" in result:
        lines += ["", "Real civil calls (with transcription): seconds at heated or above, judged party / any party", "",
                  "| transform | " + " | ".join(NAMES[s] for s in SYSTEMS) + " |", "|---|---|---|---|"]
        for t, r in result["civil_calls"].items():
            cells = []
            for s in SYSTEMS:
                x = r[s]
                any_party = f" / {x['civil_heated_s_any_party']:.1f}" if "civil_heated_s_any_party" in x else ""
                cells.append(f"{x['civil_heated_s']:.1f}{any_party}")
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    print(f"\nwrote {out} ({result['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
