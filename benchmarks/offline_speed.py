"""Offline speed: the whole ``voicemon analyze`` pipeline vs bare faster-whisper, one process.

On the same audio, with the same model and decoding settings:

* **bare**: what a plain faster-whisper user runs — ``WhisperModel.transcribe`` over each
  channel of the call as a whole, word timestamps on, the generator consumed; measured both with
  faster-whisper's own Silero VAD filter on (its fastest setting) and off;
* **pipeline**: :func:`voicemon.offline.analyze_file` — decoding, segmentation, prosody, every
  utterance transcribed, cues, meter, coach and the report.

Each is run ``--repeats`` times, alternating, after a warm-up; medians are compared. Prints the
audio length, wall seconds and x-realtime of each, and pipeline / bare.

    .venv/bin/python benchmarks/offline_speed.py [--audio FILE] [--repeats 2]

Target (issue 2): pipeline <= 1.3x bare transcription on a 2-core machine.
Writes benchmarks/results/offline_speed.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

from voicemon import config as cfg  # noqa: E402
from voicemon.asr.transcriber import WhisperTranscriber, parallel_transcriber  # noqa: E402
from voicemon.audio.decode import load_call_audio  # noqa: E402
from voicemon.offline import analyze_file  # noqa: E402

DEFAULT_AUDIO = ROOT.parent / "shared" / "data" / "calls" / "auto_repairs_40_stereo.wav"


def bare_transcription(model, signals, options, vad_filter: bool) -> tuple[float, int]:
    """Transcribe every channel whole, as a plain faster-whisper user would; (seconds, words)."""
    started = time.perf_counter()
    words = 0
    for samples in signals.values():
        segments, _ = model.transcribe(samples, language=options.language, beam_size=options.beam_size,
                                       word_timestamps=True, condition_on_previous_text=False, temperature=0.0,
                                       vad_filter=vad_filter)
        words += sum(len(s.words or ()) for s in segments)
    return time.perf_counter() - started, words


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", default=str(DEFAULT_AUDIO if DEFAULT_AUDIO.exists()
                                               else ROOT / "audio_fixtures" / "escalating_call_stereo.wav"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="analyze's parallel utterances (default: as the CLI, one per core)")
    parser.add_argument("--bare-cpu-threads", type=int, default=0,
                        help="CTranslate2 threads of the bare run (0 = its default, as a plain user gets)")
    parser.add_argument("--encoder-context-s", type=float, default=None,
                        help="analyze's asr.encoder_context_s (default: the config default; 0 = Whisper's full 30 s window)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "offline_speed.json"))
    args = parser.parse_args()

    config = cfg.load(environ={})
    if args.encoder_context_s is not None:
        config = dataclasses.replace(config, asr=dataclasses.replace(config.asr, encoder_context_s=args.encoder_context_s))
    # voicemon analyze's own set-up; bare faster-whisper uses the same loaded model with the
    # same decoding settings (its threads: CTranslate2's default, the plain user's choice)
    transcriber, workers = parallel_transcriber(config.asr, args.workers)
    bare_options = dataclasses.replace(config.asr, cpu_threads=args.bare_cpu_threads)
    bare_model = WhisperTranscriber(bare_options, num_workers=1).load()
    audio = load_call_audio(args.audio, config.audio.channels)
    duration = audio.duration_s
    print(f"{args.audio}: {duration:.1f} s, {len(audio.signals)} channel(s); model {transcriber.name}, "
          f"beam {config.asr.beam_size}, {config.asr.compute_type}, {workers} worker(s)", flush=True)

    # warm-up: load everything once (model, librosa/numba kernels, VAD model)
    analyze_file(args.audio, config, transcriber, asr_workers=workers)
    bare_transcription(bare_model, {k: v[: 16000 * 20] for k, v in audio.signals.items()}, config.asr, True)

    times: dict[str, list[float]] = {"bare_vad": [], "bare_no_vad": [], "pipeline": []}
    words: dict[str, int] = {}
    for i in range(args.repeats):
        for name in (("bare_vad", "bare_no_vad", "pipeline") if i % 2 == 0 else ("pipeline", "bare_no_vad", "bare_vad")):
            if name == "pipeline":
                started = time.perf_counter()
                report = analyze_file(args.audio, config, transcriber, asr_workers=workers)
                times[name].append(time.perf_counter() - started)
                words[name] = sum(len(s["text"].split()) for s in report["transcript"])
            else:
                seconds, n = bare_transcription(bare_model, audio.signals, config.asr, name == "bare_vad")
                times[name].append(seconds)
                words[name] = n
            print(f"  run {i + 1} {name:12s} {times[name][-1]:6.2f} s", flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "audio": args.audio, "duration_s": round(duration, 2), "model": transcriber.name, "workers": workers,
        "asr": {"beam_size": config.asr.beam_size, "compute_type": config.asr.compute_type,
                "pipeline_cpu_threads": transcriber.options.cpu_threads,
                "pipeline_encoder_context_s": config.asr.encoder_context_s, "bare_cpu_threads": args.bare_cpu_threads},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "repeats": args.repeats, "wall_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "x_realtime": {k: round(duration / v, 1) for k, v in med.items()},
        "words": words,
        "ratio_pipeline_vs_bare_vad": round(med["pipeline"] / med["bare_vad"], 3),
        "ratio_pipeline_vs_bare_no_vad": round(med["pipeline"] / med["bare_no_vad"], 3),
    }
    result["target_ratio<=1.3"] = result["ratio_pipeline_vs_bare_vad"] <= 1.3
    for name in ("bare_vad", "bare_no_vad", "pipeline"):
        print(f"{name:12s} {med[name]:6.2f} s  {duration / med[name]:5.1f}x real time  ({words[name]} words)")
    print(f"pipeline / bare (VAD on)  = {result['ratio_pipeline_vs_bare_vad']:.2f}")
    print(f"pipeline / bare (VAD off) = {result['ratio_pipeline_vs_bare_no_vad']:.2f}")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
