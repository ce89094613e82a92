"""``voicemon eval``: measure the escalation meter on labelled clips or labelled calls.

    voicemon eval clips emodb/labels.csv --transforms all --out eval.json --plot eval.svg
    voicemon eval calls my_calls.csv --transforms clean,telephone --out calls.json

Both print a table (the meter beside the loudness-only baseline, under every transform) and
write the full results as JSON; ``clips`` also draws ROC curves as SVG. See docs/evaluation.md.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from voicemon.cli.common import add_workers_arg
from voicemon.cli.progress import ProgressBar

log = logging.getLogger(__name__)


def add_eval_parser(sub, common) -> None:
    """Register ``voicemon eval clips`` and ``voicemon eval calls``."""
    p = sub.add_parser("eval", help="measure the meter on labelled clips or calls (see docs/evaluation.md)")
    modes = p.add_subparsers(dest="eval_mode", metavar="MODE", required=True)

    c = modes.add_parser("clips", parents=[common], help="emotional clips strung into per-speaker pseudo-calls (CSV path,label,speaker)")
    c.add_argument("csv", help="CSV with columns path,label,speaker (paths relative to the CSV)")
    c.add_argument("--folds", type=int, default=2, metavar="K",
                   help="pseudo-calls per speaker; each scores 1/K of the clips after a baseline of the other neutral clips (default 2)")
    c.add_argument("--cv", action="store_true",
                   help="speaker-held-out cross-validation: fit the meter's weights on the other speakers, score each speaker")
    c.add_argument("--seed", type=int, default=0, help="order of the clips in the pseudo-calls")
    c.add_argument("--civil", metavar="CSV",
                   help="labelled-calls CSV whose calls without escalation must stay below heated when weights are fitted")
    c.add_argument("--two-party", action="store_true",
                   help="string the clips into two-party calls with calm context before every scored clip, and compare "
                        "the meter with the previous meter (v2) and loudness only, with latency to heated")
    c.add_argument("--write-params", metavar="TOML",
                   help="fit the weights on every speaker (and --civil) and write a meter parameter file")
    _common_eval_args(c, "eval-clips")
    c.set_defaults(func=cmd_eval_clips)

    k = modes.add_parser("calls", parents=[common], help="recorded calls with escalation intervals (CSV path,start_s,end_s[,role])")
    k.add_argument("csv", help="CSV with columns path[,start_s,end_s,role]; several rows per call for several escalations")
    k.add_argument("--no-asr", action="store_true", help="skip transcription (prosody and conversation cues only)")
    add_workers_arg(k)
    _common_eval_args(k, "eval-calls")
    k.set_defaults(func=cmd_eval_calls)


def _common_eval_args(p, stem: str) -> None:
    p.add_argument("--transforms", default="all", metavar="LIST",
                   help="channel conditions: all, or a comma list of clean,telephone,gain-20,gain+10,snr20,snr10 (default all)")
    p.add_argument("--params", metavar="TOML", help="meter parameters to evaluate (meter.params; default: the configured ones)")
    p.set_defaults(config_flags=_eval_flags)
    p.add_argument("--out", default=f"{stem}.json", metavar="JSON", help=f"results file (default {stem}.json)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _eval_flags(args) -> dict[str, dict]:
    """``--params`` is ``meter.params`` (applied by :func:`~voicemon.cli.common.config_from_args`)."""
    return {"meter": {"params": args.params}}


def _setup(args, config):
    from voicemon.errors import VoicemonError
    from voicemon.escalation.meter import load_meter_params
    from voicemon.eval import transforms

    try:
        names = transforms.parse_transforms(args.transforms)
    except ValueError as exc:
        raise VoicemonError(str(exc)) from None
    params = load_meter_params(config.meter.params)
    bar = ProgressBar(not args.quiet and sys.stderr.isatty())

    def progress(done: int, total: int, what: str) -> None:
        bar.update(f"{done}/{total}", done / total, what[-13:], force=done == total)

    return config, names, params, bar, progress


def _write(path: str, result: dict) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return out


def _f(x, pct: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.0f}%" if pct else f"{x:.3f}"


def clips_table(result: dict) -> str:
    """The printed table of a clip evaluation."""
    head = (f"{'transform':10s} {'system':9s} {'AUC a/n':>8s} {'AUC a/o':>8s} {'spk AUC':>8s} "
            f"{'recall@heated':>13s} {'FA neutral':>10s} {'FA other':>9s} {'recall@tense':>12s} {'FA n@tense':>10s}")
    lines = [head, "-" * len(head)]
    for t_name, r in result["transforms"].items():
        for system in ("meter", "baseline"):
            s = r[system]
            lines.append(f"{t_name:10s} {system:9s} {_f(s['auc_angry_vs_neutral']):>8s} {_f(s['auc_angry_vs_other']):>8s} "
                         f"{_f(s['mean_speaker_auc_angry_vs_neutral']):>8s} {_f(s['recall_angry_heated'], True):>13s} "
                         f"{_f(s['false_alarm_neutral_heated'], True):>10s} {_f(s['false_alarm_other_heated'], True):>9s} "
                         f"{_f(s['recall_angry_tense'], True):>12s} {_f(s['false_alarm_neutral_tense'], True):>10s}")
    return "\n".join(lines)


def calls_table(result: dict) -> str:
    """The printed table of a labelled-call evaluation."""
    head = (f"{'transform':10s} {'system':9s} {'detected':>9s} {'median lat':>10s} {'precision':>9s} {'recall':>7s} "
            f"{'FA/hour':>8s} {'civil heated s':>14s}")
    lines = [head, "-" * len(head)]
    for t_name, r in result["transforms"].items():
        for system in ("meter", "meter_v2", "baseline"):
            s = r[system]
            lat = "–" if s["median_latency_s"] is None else f"{s['median_latency_s']:.1f} s"
            fa = s["false_alarm_episodes_per_hour"]
            civil = f"{s['civil_heated_s']:.1f}"
            if "civil_heated_s_any_party" in s:
                civil += f" ({s['civil_heated_s_any_party']:.1f})"
            lines.append(f"{t_name:10s} {system:9s} {s['detected']:>4d}/{s['escalations']:<4d} {lat:>10s} "
                         f"{_f(s['precision'], True):>9s} {_f(s['recall'], True):>7s} "
                         f"{'–' if fa is None else f'{fa:.1f}':>8s} {civil:>14s}")
    lines.append("civil heated s: time at heated or above on calls without escalation, judged party (any party)")
    return "\n".join(lines)


def two_party_table(result: dict) -> str:
    """The printed table of a two-party clip evaluation."""
    head = (f"{'transform':10s} {'system':9s} {'AUC a/n':>8s} {'AUC a/o':>8s} {'recall@heated':>13s} "
            f"{'FA neutral':>10s} {'FA happy/fear':>13s} {'FA other':>9s} {'median onset':>12s}")
    lines = [head, "-" * len(head)]
    for t_name, r in result["transforms"].items():
        for system in ("meter", "meter_v2", "baseline"):
            s = r[system]
            lat = "–" if s["median_latency_to_heated_s"] is None else f"{s['median_latency_to_heated_s']:.2f} s"
            lines.append(f"{t_name:10s} {system:9s} {_f(s['auc_angry_vs_neutral']):>8s} {_f(s['auc_angry_vs_other']):>8s} "
                         f"{_f(s['recall_angry_heated'], True):>13s} {_f(s['false_alarm_neutral_heated'], True):>10s} "
                         f"{_f(s['false_alarm_high_arousal_heated'], True):>13s} {_f(s['false_alarm_other_heated'], True):>9s} "
                         f"{lat:>12s}")
    lines.append("meter = the configured meter, meter_v2 = the previous bundled meter, baseline = loudness vs own normal only")
    return "\n".join(lines)


def _cmd_two_party(args, config, names, params, bar, progress) -> int:
    from voicemon.escalation.meter import PREVIOUS_METER, load_meter_params
    from voicemon.eval import two_party

    started = time.monotonic()
    prepared = two_party.prepare_two_party(args.csv, config, params, transform_names=names, folds=args.folds,
                                           seed=args.seed, progress=progress)
    scored = two_party.score_two_party(prepared, config, {"meter": params, "meter_v2": load_meter_params(bundled=PREVIOUS_METER)})
    bar.done()
    result = {"mode": "clips-two-party", "csv": str(args.csv), "folds": args.folds, "seed": args.seed,
              "params": config.meter.params or "bundled models/meter.toml",
              "calls": len(prepared.calls), "wall_s": round(time.monotonic() - started, 1), "transforms": scored}
    out = _write(args.out, result)
    print(two_party_table(result))
    print(f"wrote {out}")
    return 0


def cmd_eval_clips(args, config) -> int:
    """``voicemon eval clips``."""
    from voicemon.eval import calibrate, clips, plot

    config, names, params, bar, progress = _setup(args, config)
    if args.two_party:
        return _cmd_two_party(args, config, names, params, bar, progress)
    started = time.monotonic()
    prepared = clips.prepare_corpus(args.csv, config, params, transform_names=names, folds=args.folds,
                                    seed=args.seed, progress=progress)
    civil = None
    if args.civil and (args.cv or args.write_params):
        from voicemon.eval.calls import civil_runs

        civil = civil_runs(args.civil, config, params)
    if args.write_params:
        from importlib import resources

        full = calibrate.fit_meter_params(prepared, config, params, None, civil)
        source = (Path(config.meter.params).read_text() if config.meter.params
                  else resources.files("voicemon.models").joinpath("meter.toml").read_text())
        note = (f"Calibrated by `voicemon eval clips {Path(args.csv).name} --write-params` on {len(prepared.calls)} "
                f"pseudo-calls of {len({c.speaker for c in prepared.calls})} speakers"
                + (f" and {len(civil)} civil calls" if civil else "") + " (procedure: docs/evaluation.md).")
        Path(args.write_params).write_text(calibrate.params_toml(source, full, note))
        print(f"wrote calibrated parameters to {args.write_params}: {full.weights}")
    if args.cv:
        fitted = calibrate.cross_validate(prepared, config, params, civil)
        params_for = fitted.params_for
        calibration = fitted.describe()
    else:
        params_for, calibration = (lambda speaker: params), None
    scored = clips.score_corpus(prepared, config, params_for)
    bar.done()
    result = {
        "mode": "clips", "csv": str(args.csv), "folds": args.folds, "seed": args.seed,
        "cross_validated": bool(args.cv), "calibration": calibration, "civil_constraint": args.civil,
        "params": config.meter.params or "bundled models/meter.toml",
        "signal_x_realtime": clips.signal_speed(prepared), "wall_s": round(time.monotonic() - started, 1),
        "transforms": scored,
    }
    robust = clips.robustness(scored)
    if robust:
        result["auc_drop_vs_clean"] = robust
    out = _write(args.out, result)
    svg = plot.roc_svg(scored, title=f"{Path(args.csv).name}: angry vs neutral")
    svg_path = out.with_suffix(".svg")
    svg_path.write_text(svg)
    print(clips_table(result))
    if robust:
        print("AUC angry/neutral drop vs clean (meter): " + ", ".join(f"{k} {v['meter']:+.3f}" for k, v in robust.items()))
    print(f"wrote {out} and {svg_path}")
    return 0


def cmd_eval_calls(args, config) -> int:
    """``voicemon eval calls``."""
    from voicemon.eval import calls

    config, names, params, bar, progress = _setup(args, config)
    transcriber, workers = None, 1
    if not args.no_asr:
        from voicemon.asr.transcriber import parallel_transcriber

        transcriber, workers = parallel_transcriber(config.asr, model_origin=config.origins.get("asr.model"))
    started = time.monotonic()
    scored = calls.evaluate_calls(args.csv, config, params, transform_names=names, transcriber=transcriber,
                                  asr_workers=workers, progress=progress)
    bar.done()
    result = {"mode": "calls", "csv": str(args.csv), "asr": transcriber is not None, "grace_s": calls.GRACE_S,
              "params": config.meter.params or "bundled models/meter.toml",
              "wall_s": round(time.monotonic() - started, 1), "transforms": scored}
    out = _write(args.out, result)
    print(calls_table(result))
    print(f"wrote {out}")
    return 0
