"""Diarization of mono calls: the real stereo calls mixed to mono, against their own channels.

For each two-channel call (left = agent, right = customer):

* the channels are averaged into a mono 8 kHz file, the way a mono recorder would have stored it;
* **DER** — the mono call's diarization (each embedder) against each channel's speech activity
  (the same speech detector on each channel of the original), with the best speaker mapping;
  missed speech + false alarm + speaker confusion over reference speech (the NIST md-eval
  frame formula), without a collar and with the usual 0.25 s collar around reference
  boundaries; overlapped speech (both channels active) counts, and is also reported apart
  (``overlap_share``, ``der_excluding_overlap``): one label per frame cannot cover two voices.
  The target is judged on ``der``: overlap counted, no collar, the reference as the
  per-channel detector endpoints it (pauses under ``end_silence_ms`` = 0.6 s inside a turn count
  as speech). ``der_nist_0.3s`` scores the same hypothesis against references that bridge only
  pauses under 0.3 s (the NIST RT convention), for comparison;
* **word-level resegmentation** — DER of the global step and of the labels after
  :func:`~voicemon.audio.diarize.resegment_words` with the words of ``analyze`` (``der_global``,
  ``der_words``);
* **coarse to fine** — DER, windows embedded and cost with ``refine_windows`` off and on;
* **overlap cues** — how well two mono cues (a small ``|frame_score|``: both voices in the
  windows; the mix level) pick out overlapped frames: AUC, and the best DER any threshold on
  them could buy if overlapped frames were given both speakers (the threshold chosen on the
  call itself, so an upper bound);
* **roles** — whether ``analyze`` on the mono file made the left channel's voice the agent;
* **meter** — per-role peak score and time in each level on the mono file next to the stereo
  original;
* **cost** — wall and CPU time of the global diarization step, and of the whole ``analyze`` of
  the mono file (diarization on and ``mode = off``: the same Whisper jobs) and of the stereo
  file (x real time), and the process's peak RSS. ``diarization_share`` = the step's wall time
  over the mono analyze's; ``diarization_cpu_share`` = its CPU time over the analyze's process
  CPU time (the step runs while Whisper transcribes, so its wall time includes waiting for a
  core); ``added_vs_off`` = (mono analyze - mono analyze with ``mode = off``) / the latter;
* **window stride** — DER, confusion and cost of the default embedder at each
  ``--strides`` hop (``window_stride_s``; 0.8 s embeds half the windows of 0.4 s);
* **live** — the online tracker (:mod:`voicemon.audio.diarize_online`) folded over the mono
  file as a live call feeds it: when it split, the share of offline speech frames after the
  split given the same speaker (``frame_agreement``), accuracy against the channels next to
  the offline step's, its cost; and a lockstep live replay of the mono file through
  ``LiveCall`` (real Whisper) for the agent choice: ``role_agreement`` = frames after the split
  with the same *role* live and offline, ``roles_right`` = the live agent is the left channel.

    .venv/bin/python benchmarks/diarization.py [CALL.wav ...]

Targets (issue 11): DER <= 10 %, roles right on both calls, time at heated/critical within 2 s,
diarization <= 10 % of analyze time. Writes benchmarks/results/diarization.json.
"""

from __future__ import annotations

import argparse
import dataclasses
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

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from voicemon import config as cfg  # noqa: E402
from voicemon.asr.transcriber import parallel_transcriber  # noqa: E402
from voicemon.audio.decode import load_call_audio  # noqa: E402
from voicemon.audio.diarize import FRAME_S, diarize, speech_frames  # noqa: E402
from voicemon.audio.diarize_online import track_file  # noqa: E402
from voicemon.audio.embedders import EMBEDDERS, log_mel  # noqa: E402
from voicemon.offline import analyze_call  # noqa: E402

CALLS = ROOT.parent / "shared" / "data" / "calls"
DEFAULT = [CALLS / "auto_repairs_40_stereo.wav", CALLS / "auto_repairs_49_stereo.wav"]
COLLAR_S = 0.25
NIST_BRIDGE_MS = 300
"""NIST RT references bridge pauses under 0.3 s inside a speaker's turn."""


def der(ref_a: np.ndarray, ref_c: np.ndarray, speech: np.ndarray, labels: np.ndarray, collar_s: float = 0.0) -> dict:
    """Diarization error rate of one hypothesis against two reference activity tracks.

    Args:
        ref_a: agent speech per 10 ms frame.
        ref_c: customer speech per frame.
        speech: hypothesis speech per frame.
        labels: hypothesis speaker (0/1) per frame.
        collar_s: frames this close to a reference speech boundary are not scored.

    Returns:
        ``der``, its parts (``miss``, ``false_alarm``, ``confusion``, fractions of reference
        speech) and which hypothesis speaker is the agent under the best mapping.
    """
    n = min(len(ref_a), len(ref_c), len(speech))
    ref_a, ref_c, speech, labels = ref_a[:n], ref_c[:n], speech[:n], labels[:n]
    scored = np.ones(n, bool)
    if collar_s > 0:
        c = int(round(collar_s / FRAME_S))
        for ref in (ref_a, ref_c):
            for edge in np.flatnonzero(np.diff(ref.astype(int))):
                scored[max(0, edge - c + 1):edge + c + 1] = False
    best = None
    for agent in (0, 1):
        hyp_a = speech & (labels == agent)
        hyp_c = speech & (labels != agent)
        n_ref = ref_a.astype(int) + ref_c
        n_hyp = speech.astype(int)
        correct = (hyp_a & ref_a).astype(int) + (hyp_c & ref_c)
        miss = np.maximum(0, n_ref - n_hyp)
        fa = np.maximum(0, n_hyp - n_ref)
        conf = np.minimum(n_ref, n_hyp) - correct
        total = n_ref[scored].sum()
        parts = {k: float(v[scored].sum() / total) for k, v in (("miss", miss), ("false_alarm", fa), ("confusion", conf))}
        rate = sum(parts.values())
        single = scored & ~(ref_a & ref_c)
        no_overlap = float((fa + conf + miss)[single].sum() / n_ref[single].sum())
        if best is None or rate < best["der"]:
            best = {"der": round(rate, 4), **{k: round(v, 4) for k, v in parts.items()}, "agent_is_speaker": agent,
                    "overlap_share": round(float((ref_a & ref_c)[scored].sum() * 2 / total), 4),
                    "der_excluding_overlap": round(no_overlap, 4)}
    return best


def ders(refs: dict, d) -> dict:
    """``der`` (the target's), ``der_collar_0.25s`` and ``der_nist_0.3s`` of one diarization."""
    if d.n_speakers != 2:
        return {"der": None}
    (ra, rc), (na, nc) = refs["endpointer"], refs["nist"]
    return {"der": der(ra, rc, d.speech, d.labels), "der_collar_0.25s": der(ra, rc, d.speech, d.labels, COLLAR_S),
            "der_nist_0.3s": der(na, nc, d.speech, d.labels)}


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(score)
    n1, n0 = int(y.sum()), int((~y).sum())
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / max(1, n1 * n0))


def overlap_cues(mono: np.ndarray, d, ref_a: np.ndarray, ref_c: np.ndarray) -> dict:
    """How well mono cues find overlapped speech, and the most DER marking it could buy.

    Marking a frame as both speakers removes a miss where both talk and adds a false alarm
    where one does, so it pays only above 50 % precision. The best threshold is chosen on the
    call itself: an upper bound for any rule on that cue.
    """
    if d.n_speakers != 2 or d.frame_score is None:
        return {}
    from scipy.ndimage import uniform_filter1d

    n = min(len(d.speech), len(ref_a), len(ref_c))
    level = uniform_filter1d(np.log10(np.sum(10.0 ** log_mel(mono)[:n], axis=1) + 1e-9), 50)
    frames = d.speech[:n] & (ref_a[:n] | ref_c[:n])
    y = (ref_a[:n] & ref_c[:n])[frames]
    total = int((ref_a[:n].astype(int) + ref_c[:n])[d.speech[:n] | ref_a[:n] | ref_c[:n]].sum())
    out = {"overlap_share_of_speech_frames": round(float(y.mean()), 4)}
    for name, cue in (("small_abs_frame_score", -np.abs(d.frame_score[:n])), ("mix_level", level[:n])):
        v = cue[frames]
        order = np.argsort(-v, kind="stable")
        gain = np.cumsum(np.where(y[order], 1, -1))
        k = int(np.argmax(gain))
        best = max(0, int(gain[k]))
        out[name] = {"auc": round(_auc(v, y), 3), "best_der_gain": round(best / max(1, total), 4),
                     "at_share_of_frames": round((k + 1) / len(v), 4) if best else 0.0,
                     "precision": round(float(y[order][:k + 1].mean()), 3) if best else None}
    return out


def stats_of(report: dict) -> dict:
    """Per-role peak and time in level of a report."""
    return {role: {"peak_score": st["peak_score"], "peak_level": st["peak_level"], "time_in_level_s": st["time_in_level_s"]}
            for role, st in report["stats"]["per_role"].items()}


def roles_right(report: dict, ref_a: np.ndarray, ref_c: np.ndarray) -> bool | None:
    """Whether the mono report's agent speaks where the left (agent) channel does."""
    segs = [s for s in report["transcript"] if s["role"] == "agent"]
    if report["roles"] != ["agent", "customer"] or not segs:
        return None
    on_a = on_c = 0
    for s in segs:
        a, b = int(s["start"] / FRAME_S), int(s["end"] / FRAME_S)
        on_a += int(ref_a[a:b].sum())
        on_c += int(ref_c[a:b].sum())
    return on_a > on_c


def live_tracking(mono: np.ndarray, offline, ref_a: np.ndarray, ref_c: np.ndarray, config) -> dict:
    """The online tracker over a mono call vs the offline global step and the channels."""
    started = time.perf_counter()
    tracker, live = track_file(mono, config.diarization, config.segmenter)
    cost = time.perf_counter() - started
    out = {**tracker.summary(), "cost_s": round(cost, 2), "x_realtime": round(len(mono) / 16000 / cost, 1)}
    out.setdefault("split_at_s", None)
    n = min(len(live), len(offline.labels), len(ref_a), len(ref_c))
    routed = live[:n] >= 0
    if not routed.any():
        return {**out, "frame_agreement": None, "accuracy_live": None, "accuracy_offline": None}
    after = np.zeros(n, bool)
    after[int(np.argmax(routed)):] = True
    both = offline.speech[:n] & after & routed
    single = (ref_a[:n] ^ ref_c[:n]) & after & routed
    out["frame_agreement"] = round(float(np.mean(live[:n][both] == offline.labels[:n][both])), 4)
    out["routed_share"] = round(float(both.sum() / max(1, (offline.speech[:n] & after).sum())), 4)
    out["accuracy_live"] = round(float(np.mean((live[:n][single] == 0) == ref_a[:n][single])), 4)
    out["accuracy_offline"] = round(float(np.mean((offline.labels[:n][single] == 0) == ref_a[:n][single])), 4)
    return out


def live_roles(path: Path, config, transcriber, workers: int, live: dict, offline_agent: str | None,
               ref_a: np.ndarray, ref_c: np.ndarray) -> dict:
    """A lockstep live replay of the mono file: which speaker the live call made the agent."""
    import asyncio

    from voicemon.live.asr_pool import AsrPool
    from voicemon.live.runner import LiveCall
    from voicemon.live.sources import replay

    audio = load_call_audio(path)

    async def run() -> dict:
        pool = AsrPool(transcriber, workers=workers)
        call = LiveCall(path.stem, ("mixed",), config, pool, lockstep=True)
        await replay(call, audio, config.audio.chunk_ms, None)
        report = await call.finish()
        pool.close()
        return report

    started = time.perf_counter()
    report = asyncio.run(run())
    out: dict = {"replay_wall_s": round(time.perf_counter() - started, 2)}
    choice = (report.get("diarization") or {}).get("roles") or {}
    out["agent_speaker"] = choice.get("agent_speaker")
    out["agent_confidence"] = choice.get("confidence")
    out["offline_agent_speaker"] = offline_agent
    if out["agent_speaker"] and offline_agent and live.get("frame_agreement") is not None:
        same = out["agent_speaker"] == offline_agent
        out["role_agreement"] = live["frame_agreement"] if same else round(1 - live["frame_agreement"], 4)
    right = roles_right(report, ref_a, ref_c) if report["roles"] == ["agent", "customer"] else None
    out["roles_right"] = right
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("calls", nargs="*", default=[str(p) for p in DEFAULT])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "diarization.json"))
    parser.add_argument("--strides", default="0.4,0.8", help="window_stride_s values to compare (default embedder)")
    parser.add_argument("--no-live", action="store_true", help="skip the live tracker and the live replay")
    args = parser.parse_args()
    calls = [Path(p) for p in args.calls]
    missing = [str(p) for p in calls if not p.exists()]
    if missing:
        print(f"missing: {', '.join(missing)} (the real calls live in ../shared/data/calls)", file=sys.stderr)
        return 2
    config = cfg.load(environ={})
    transcriber, workers = parallel_transcriber(config.asr, 0)
    results = []
    with tempfile.TemporaryDirectory(prefix="voicemon_diar_") as td:
        for path in calls:
            stereo = load_call_audio(path, config.audio.channels)
            left, right = stereo.signals["agent"], stereo.signals["customer"]
            ref_a, ref_c = speech_frames(left, config.segmenter), speech_frames(right, config.segmenter)
            nist = dataclasses.replace(config.segmenter, end_silence_ms=NIST_BRIDGE_MS)
            refs = {"endpointer": (ref_a, ref_c), "nist": (speech_frames(left, nist), speech_frames(right, nist))}
            data, rate = sf.read(path, dtype="float32", always_2d=True)
            mono_path = Path(td) / f"{path.stem.replace('_stereo', '')}_mono.wav"
            sf.write(mono_path, data.mean(axis=1), rate, subtype="PCM_16")
            mono = load_call_audio(mono_path).signals["mixed"]
            row: dict = {"call": path.name, "duration_s": round(stereo.duration_s, 2), "embedders": {}}
            for name in EMBEDDERS:
                options = dataclasses.replace(config.diarization, embedder=name)
                diarize(mono[:16000 * 5], options, config.segmenter)  # load the model outside the timing
                d = diarize(mono, options, config.segmenter)
                row["embedders"][name] = {
                    "speakers": d.n_speakers, "coherence": round(d.coherence, 3), "cost_s": round(d.cost_s, 3),
                    "x_realtime": round(stereo.duration_s / d.cost_s, 1),
                    "windows": d.windows, "windows_embedded": d.windows_embedded, **ders(refs, d)}
            row["refine_windows"] = {}
            for refine in (False, True):
                options = dataclasses.replace(config.diarization, refine_windows=refine)
                d = diarize(mono, options, config.segmenter)
                row["refine_windows"]["on" if refine else "off"] = {
                    "speakers": d.n_speakers, "coherence": round(d.coherence, 3), "cost_s": round(d.cost_s, 3),
                    "windows": d.windows, "windows_embedded": d.windows_embedded, "der": ders(refs, d)["der"]}
            row["strides"] = {}
            for stride in [float(x) for x in args.strides.split(",")]:
                options = dataclasses.replace(config.diarization, window_stride_s=stride)
                d = diarize(mono, options, config.segmenter)
                row["strides"][f"{stride:g}"] = {
                    "speakers": d.n_speakers, "coherence": round(d.coherence, 3), "cost_s": round(d.cost_s, 3),
                    "windows_embedded": d.windows_embedded, "der": ders(refs, d)["der"]}
            offline_dia = diarize(mono, config.diarization, config.segmenter)
            row["overlap_cues"] = overlap_cues(mono, offline_dia, *refs["nist"])
            if not args.no_live:
                row["live"] = live_tracking(mono, offline_dia, ref_a, ref_c, config)
            timings, cpu = {}, {}
            reports = {}
            off = dataclasses.replace(config, diarization=dataclasses.replace(config.diarization, mode="off"))
            for kind, p, conf in (("stereo", path, config), ("mono", mono_path, config), ("mono_off", mono_path, off)):
                started, cpu_started = time.perf_counter(), time.process_time()
                reports[kind], analysis = analyze_call(p, conf, transcriber, asr_workers=workers)
                timings[kind] = time.perf_counter() - started
                cpu[kind] = time.process_time() - cpu_started
                if kind == "mono" and analysis.router is not None:
                    row["word_resegmentation"] = {
                        "der_global": ders(refs, analysis.global_diarization),
                        "der_words": ders(refs, analysis.router.diarization),
                        "words": analysis.router.diarization.words,
                        "frames_changed": int(np.sum(analysis.router.diarization.labels != analysis.global_diarization.labels))}
            dia = reports["mono"].get("diarization", {})
            row["analyze"] = {
                kind: {"wall_s": round(t, 2), "cpu_s": round(cpu[kind], 2), "x_realtime": round(stereo.duration_s / t, 1)}
                for kind, t in timings.items()}
            row["analyze"]["diarization_s"] = dia.get("cost_s")
            row["analyze"]["diarization_cpu_s"] = dia.get("cpu_s")
            row["analyze"]["diarization_share"] = round(dia.get("cost_s", 0.0) / timings["mono"], 3)
            row["analyze"]["diarization_cpu_share"] = round(dia.get("cpu_s", 0.0) / cpu["mono"], 3)
            row["analyze"]["added_vs_off"] = round(timings["mono"] / timings["mono_off"] - 1, 3)
            row["roles"] = {"chosen": dia.get("roles"), "right": roles_right(reports["mono"], ref_a, ref_c)}
            if not args.no_live:
                row["live"].update(live_roles(mono_path, config, transcriber, workers, row["live"],
                                              (dia.get("roles") or {}).get("agent_speaker"), ref_a, ref_c))
            row["meter"] = {"stereo": stats_of(reports["stereo"]), "mono": stats_of(reports["mono"])}
            hot = {k: {r: round(v["time_in_level_s"]["heated"] + v["time_in_level_s"]["critical"], 2)
                       for r, v in row["meter"][k].items()} for k in ("stereo", "mono")}
            row["meter"]["heated_or_critical_s"] = hot
            results.append(row)
            print(f"{path.name}: {stereo.duration_s:.0f} s")
            for name, e in row["embedders"].items():
                d = e["der"] or {}
                print(f"  {name:13s} speakers {e['speakers']}  DER {d.get('der', float('nan')):.3f} "
                      f"(miss {d.get('miss', 0):.3f}, overlap {d.get('overlap_share', 0):.3f}; fa {d.get('false_alarm', 0):.3f} conf {d.get('confusion', 0):.3f})  "
                      f"collar DER {(e.get('der_collar_0.25s') or {}).get('der', float('nan')):.3f}  "
                      f"without overlap {d.get('der_excluding_overlap', float('nan')):.3f}  "
                      f"NIST-0.3s DER {(e.get('der_nist_0.3s') or {}).get('der', float('nan')):.3f}  "
                      f"{e['windows_embedded']}/{e['windows']} windows  {e['cost_s']:.2f} s")
            for key, e in row["refine_windows"].items():
                d = e["der"] or {}
                print(f"  refine_windows {key}: DER {d.get('der', float('nan')):.3f} (confusion {d.get('confusion', 0):.3f}) "
                      f"{e['windows_embedded']}/{e['windows']} windows embedded, {e['cost_s']:.2f} s")
            if "word_resegmentation" in row:
                w = row["word_resegmentation"]
                print(f"  word-level resegmentation ({w['words']} words, {w['frames_changed']} frames changed): DER "
                      f"{w['der_global']['der']['der']:.4f} -> {w['der_words']['der']['der']:.4f} (confusion "
                      f"{w['der_global']['der']['confusion']:.4f} -> {w['der_words']['der']['confusion']:.4f}); NIST-0.3s "
                      f"{w['der_global']['der_nist_0.3s']['der']:.4f} -> {w['der_words']['der_nist_0.3s']['der']:.4f}")
            for cue, v in row["overlap_cues"].items():
                if isinstance(v, dict):
                    print(f"  overlap cue {cue}: AUC {v['auc']}, best DER gain {v['best_der_gain'] * 100:.2f} pts (precision {v['precision']})")
            print(f"  roles right: {row['roles']['right']} ({(dia.get('roles') or {}).get('confidence')})")
            an = row["analyze"]
            print(f"  analyze: stereo {timings['stereo']:.1f} s, mono {timings['mono']:.1f} s, mono with mode=off "
                  f"{timings['mono_off']:.1f} s; diarization {dia.get('cost_s')} s wall = {an['diarization_share'] * 100:.1f} % "
                  f"of mono, {dia.get('cpu_s')} s CPU = {an['diarization_cpu_share'] * 100:.1f} % of its CPU; "
                  f"mono vs off {an['added_vs_off'] * 100:+.1f} %")
            for stride, e in row["strides"].items():
                d = e["der"] or {}
                print(f"  stride {stride} s: DER {d.get('der', float('nan')):.3f} (confusion {d.get('confusion', 0):.3f}) "
                      f"coherence {e['coherence']:.2f}  {e['cost_s']:.2f} s")
            if "live" in row:
                lv = row["live"]
                print(f"  live: split at {lv['split_at_s']} s, frame agreement with offline {lv['frame_agreement']}, "
                      f"accuracy live {lv['accuracy_live']} / offline {lv['accuracy_offline']}, cost {lv['cost_s']} s "
                      f"({lv['x_realtime']} x real time); roles: live agent {lv.get('agent_speaker')} "
                      f"(offline {lv.get('offline_agent_speaker')}), role agreement {lv.get('role_agreement')}, "
                      f"right {lv.get('roles_right')}")
            for role in ("agent", "customer"):
                s, m = row["meter"]["stereo"].get(role, {}), row["meter"]["mono"].get(role, {})
                print(f"  {role:9s} peak stereo {s.get('peak_score')} mono {m.get('peak_score')}; "
                      f"heated+critical stereo {hot['stereo'].get(role)} s mono {hot['mono'].get(role)} s")
    out = {
        "benchmark": "diarization", "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "config": config.diarization.__dict__, "calls": results,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"peak RSS {out['peak_rss_mb']} MB -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
