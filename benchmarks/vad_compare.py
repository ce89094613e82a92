"""Energy detector (voicemon's segmenter) vs Silero VAD (the ONNX model faster-whisper ships).

For each labelled fixture call, per party: frame agreement (10 ms frames) of each detector's
speech with the labelled turns, and CPU seconds per second of audio. The energy detector runs
as voicemon runs it (streaming, 100 ms chunks); Silero runs offline over the whole channel
(faster-whisper's ``get_speech_timestamps``, batched: its cheapest way), with the segmenter's
endpointing (``min_speech_duration_ms`` = 120, ``min_silence_duration_ms`` = 600, no padding).
Labelled turns are whole turns (short pauses inside count as speech), so recall is the figure to
read; the ratios are measured in one run (see docs/architecture.md).

    .venv/bin/python benchmarks/vad_compare.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicemon import config as cfg  # noqa: E402
from voicemon.audio.decode import load_call_audio  # noqa: E402
from voicemon.audio.segmenter import UtteranceSegmenter  # noqa: E402
from voicemon.events import SAMPLE_RATE_HZ, AudioChunk, SpeechEnded  # noqa: E402

FRAME_S = 0.01
CALLS = ("calm_call_stereo.wav", "escalating_call_stereo.wav", "escalating_call_mulaw8k.wav")


def mask(intervals: list[tuple[float, float]], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for a, b in intervals:
        out[int(a / FRAME_S):int(b / FRAME_S)] = True
    return out


def energy(signal: np.ndarray, options) -> tuple[list[tuple[float, float]], float]:
    seg = UtteranceSegmenter("x", options)
    step = SAMPLE_RATE_HZ // 10
    spans = []
    started = time.process_time()
    for start in range(0, len(signal), step):
        events, _ = seg.feed(AudioChunk(samples=signal[start:start + step], start_sample=start, role="x"))
        spans += [(e.start, e.t) for e in events if isinstance(e, SpeechEnded)]
    events, _ = seg.flush()
    spans += [(e.start, e.t) for e in events if isinstance(e, SpeechEnded)]
    return spans, time.process_time() - started


def silero(signal: np.ndarray) -> tuple[list[tuple[float, float]], float]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    started = time.process_time()
    stamps = get_speech_timestamps(signal, VadOptions(min_speech_duration_ms=120, min_silence_duration_ms=600,
                                                      speech_pad_ms=0))
    return [(s["start"] / SAMPLE_RATE_HZ, s["end"] / SAMPLE_RATE_HZ) for s in stamps], time.process_time() - started


def scores(hyp: np.ndarray, ref: np.ndarray) -> dict:
    tp = float((hyp & ref).sum())
    return {"recall": round(tp / max(ref.sum(), 1), 3), "precision": round(tp / max(hyp.sum(), 1), 3)}


def main() -> None:
    config = cfg.load(environ={})
    labels = json.loads((ROOT / "audio_fixtures" / "labels.json").read_text())
    silero(np.zeros(SAMPLE_RATE_HZ, dtype=np.float32))  # load the ONNX session outside the timing
    rows, totals = [], {"audio_s": 0.0, "energy_cpu_s": 0.0, "silero_cpu_s": 0.0}
    for name in CALLS:
        audio = load_call_audio(ROOT / "audio_fixtures" / name, config.audio.channels)
        for role, signal in audio.signals.items():
            n = int(len(signal) / SAMPLE_RATE_HZ / FRAME_S) + 1
            ref = mask([(t["start_s"], t["end_s"]) for t in labels[name]["turns"] if role in (t["role"], "mixed")], n)
            e_spans, e_cpu = energy(signal, config.segmenter)
            s_spans, s_cpu = silero(signal)
            audio_s = len(signal) / SAMPLE_RATE_HZ
            totals["audio_s"] += audio_s
            totals["energy_cpu_s"] += e_cpu
            totals["silero_cpu_s"] += s_cpu
            rows.append({"call": name, "role": role, "audio_s": round(audio_s, 1),
                         "energy": {**scores(mask(e_spans, n), ref), "cpu_s": round(e_cpu, 3)},
                         "silero": {**scores(mask(s_spans, n), ref), "cpu_s": round(s_cpu, 3)}})
            r = rows[-1]
            print(f"{name:30s} {role:8s} energy R {r['energy']['recall']:.3f} P {r['energy']['precision']:.3f} "
                  f"{e_cpu:6.3f} s | silero R {r['silero']['recall']:.3f} P {r['silero']['precision']:.3f} {s_cpu:6.3f} s")
    ratio = totals["silero_cpu_s"] / max(totals["energy_cpu_s"], 1e-9)
    print(f"CPU per audio second: energy {totals['energy_cpu_s'] / totals['audio_s'] * 1000:.2f} ms, "
          f"silero {totals['silero_cpu_s'] / totals['audio_s'] * 1000:.2f} ms (silero/energy {ratio:.1f}x)")
    out = ROOT / "benchmarks" / "results" / "vad_compare.json"
    out.write_text(json.dumps({"rows": rows, **{k: round(v, 3) for k, v in totals.items()},
                               "silero_over_energy_cpu": round(ratio, 2)}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
