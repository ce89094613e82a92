"""The evaluation harness end to end: CSV reading, pseudo-calls, transforms and `voicemon eval`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURES, SHARED_DATA
from voicemon.errors import VoicemonError
from voicemon.eval import corpus, transforms

EMODB = SHARED_DATA / "emodb"


def _tone(seconds: float, f0: float = 150.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (amp * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def test_clip_csv_errors_name_the_line(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.wav,angry\n")
    with pytest.raises(VoicemonError, match="speaker"):
        corpus.read_clips_csv(bad)
    bad.write_text("path,label,speaker\nmissing.wav,angry,s1\n")
    with pytest.raises(VoicemonError, match=r"bad.csv:2: audio file 'missing.wav' not found"):
        corpus.read_clips_csv(bad)
    bad.write_text("path,label,speaker\n")
    with pytest.raises(VoicemonError, match="no clips"):
        corpus.read_clips_csv(bad)
    with pytest.raises(VoicemonError, match="no such CSV"):
        corpus.read_clips_csv(tmp_path / "nope.csv")


def test_calls_csv_merges_rows_and_checks_times(tmp_path):
    (tmp_path / "c.wav").write_bytes(b"")
    good = tmp_path / "calls.csv"
    good.write_text("path,start_s,end_s,role\nc.wav,50,60,customer\nc.wav,10,20,customer\n")
    [call] = corpus.read_calls_csv(good)
    assert call.intervals == ((10.0, 20.0), (50.0, 60.0)) and call.role == "customer"
    for row, message in (("c.wav,20,10,", "must be after"), ("c.wav,5,,", "both"), ("c.wav,x,3,", "seconds"),
                         ("c.wav,,,boss", "role")):
        good.write_text(f"path,start_s,end_s,role\n{row}\n")
        with pytest.raises(VoicemonError, match=message):
            corpus.read_calls_csv(good)


def test_pseudo_calls_score_every_clip_once_after_a_baseline_without_it():
    clips = [corpus.Clip(i, corpus.Path(f"{lab}{i}.wav"), lab, spk)
             for spk in ("s1", "s2") for i, lab in enumerate(["neutral"] * 4 + ["angry"] * 3 + ["sad"] * 2)]
    plans = corpus.plan_pseudo_calls(clips, folds=2, seed=0)
    assert len(plans) == 4
    for spk in ("s1", "s2"):
        mine = [p for p in plans if p[1] == spk]
        bodies = [c for p in mine for c in p[3]]
        assert sorted(map(str, (c.path for c in bodies))) == sorted(str(c.path) for c in clips if c.speaker == spk)
        for _, _, opening, body in mine:
            assert all(c.label == "neutral" for c in opening) and not set(opening) & set(body)
    assert plans == corpus.plan_pseudo_calls(clips, folds=2, seed=0)  # deterministic

    call = corpus.build_pseudo_call("s1#1", "s1", [clips[0]], [clips[4]], lambda c: _tone(2.0), gap_s=3.0)
    assert [s.phase for s in call.segments] == ["opening", "body"]
    assert call.segments[0].start_s == pytest.approx(0.5) and call.segments[1].start_s == pytest.approx(5.5)
    assert call.duration_s == pytest.approx(0.5 + 2 * (2.0 + 3.0))


def test_transforms_do_what_they_say():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(16000 * 2)).astype(np.float32)
    for name in transforms.TRANSFORMS:
        y = transforms.apply(name, x)
        assert y.shape == x.shape and y.dtype == np.float32
    assert np.max(np.abs(transforms.apply("gain-20", x))) == pytest.approx(0.1 * np.max(np.abs(x)), rel=1e-4)
    assert np.max(np.abs(transforms.apply("gain+10", x))) <= 1.0  # saturates like a PCM line
    # telephone: nothing above 4 kHz survives, and little below 300 Hz
    spec = np.abs(np.fft.rfft(transforms.apply("telephone", x))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / 16000)
    total = spec.sum()
    assert spec[freqs > 4000].sum() / total < 0.01 and spec[freqs < 200].sum() / total < 0.02
    # noise at the requested SNR relative to the active speech level
    speech = _tone(2.0, amp=0.5)
    for snr in (20.0, 10.0):
        noise = transforms.apply(f"snr{int(snr)}", speech) - speech
        measured = 10 * np.log10(transforms.active_power(speech) / np.mean(noise.astype(np.float64) ** 2))
        assert measured == pytest.approx(snr, abs=0.2)
    with pytest.raises(ValueError, match="unknown transform"):
        transforms.parse_transforms("clean,radio")
    assert transforms.parse_transforms("telephone") == ["clean", "telephone"]


def _voicemon(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "voicemon", *args], capture_output=True, text=True, timeout=timeout)


def test_eval_calls_on_the_labelled_fixtures(tmp_path, transcriber, analysed, monkeypatch, capsys):
    """``voicemon eval calls`` (its argument parsing, command, table and JSON) run in this process
    on the session's Whisper model. The session's analyses of the three calls (which other modules
    use too) put their utterances in the model's memo, so the command gets the words the real model
    gives without decoding the calls a second time. (``voicemon eval`` as a subprocess: next test.)"""
    import voicemon.asr.transcriber as asr
    from voicemon.cli import main

    for name in ("escalating_call_stereo.wav", "escalating_call_mulaw8k.wav", "calm_call_stereo.wav"):
        analysed(FIXTURES / name)
    monkeypatch.setattr(asr, "parallel_transcriber", lambda *args, **kwargs: (transcriber, 2))
    out = tmp_path / "calls.json"
    code = main(["eval", "calls", str(FIXTURES / "labelled_calls.csv"), "--transforms", "clean", "--out", str(out), "-q"])
    res = capsys.readouterr()
    assert code == 0, res.err
    assert "meter" in res.out and "baseline" in res.out
    result = json.loads(out.read_text())
    meter = result["transforms"]["clean"]["meter"]
    assert meter["escalations"] == 2 and meter["detected"] == 2  # stereo and 8 kHz mu-law escalating calls
    assert meter["civil_heated_s"] == 0.0  # the calm call
    rows = {r["path"]: r for r in result["transforms"]["clean"]["calls"]}
    assert rows["escalating_call_stereo.wav"]["meter"]["latencies_s"][0] < 20.0


def test_eval_rejects_bad_input_with_one_line(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("path,label,speaker\nnot_there.wav,angry,s1\n")
    res = _voicemon("eval", "clips", str(bad), "--transforms", "clean", "--out", str(tmp_path / "x.json"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: ") and "not_there.wav" in res.stderr
    res = _voicemon("eval", "clips", str(bad), "--transforms", "radio")
    assert res.returncode == 2 and "unknown transform radio" in res.stderr


def _three_emodb_speakers(tmp_path):
    """A clip CSV of the first three EmoDB speakers: (all rows, their speakers, CSV path)."""
    import csv

    rows = list(csv.DictReader(open(EMODB / "labels.csv")))
    keep = sorted({r["speaker"] for r in rows})[:3]
    small = tmp_path / "small.csv"
    with open(small, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "speaker"])
        for r in rows:
            if r["speaker"] in keep:
                w.writerow([str(EMODB / r["path"]), r["label"], r["speaker"]])
    return rows, keep, small


@pytest.mark.skipif(not (EMODB / "labels.csv").exists(), reason="../shared/data/emodb not present")
def test_eval_clips_on_three_emodb_speakers_cross_validated(tmp_path):
    rows, keep, small = _three_emodb_speakers(tmp_path)
    out = tmp_path / "clips.json"
    res = _voicemon("eval", "clips", str(small), "--transforms", "clean,telephone", "--cv", "--out", str(out), "-q")
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    assert set(result["transforms"]) == {"clean", "telephone"}
    assert result["calibration"]["procedure"] == "leave-one-speaker-out"
    assert set(result["calibration"]["folds"]) == set(keep)
    clean = result["transforms"]["clean"]
    # every body clip scored once, by both systems
    body = [c for c in clean["clips"] if c["phase"] == "body"]
    assert len(body) == sum(1 for r in rows if r["speaker"] in keep)
    assert all("meter" in c and "baseline" in c for c in body)
    # pitch and voice quality separate acted anger from neutral speech for held-out speakers
    assert clean["meter"]["auc_angry_vs_neutral"] > 0.85
    assert (tmp_path / "clips.svg").read_text().startswith("<svg")
    assert "AUC a/n" in res.stdout


def test_two_party_calls_put_calm_context_before_every_scored_clip():
    from voicemon.eval import two_party

    clips = [corpus.Clip(line=i + 2, path=FIXTURES / f"c{i}.wav", label=lab, speaker=spk)
             for i, (lab, spk) in enumerate([("neutral", "a"), ("neutral", "a"), ("angry", "a"), ("happy", "a"),
                                            ("neutral", "b"), ("neutral", "b")])]
    audio = {c.path: _tone(1.5 if c.speaker == "a" else 1.0, 150.0 if c.speaker == "a" else 220.0) for c in clips}
    opening = [c for c in clips if c.speaker == "a" and c.label == "neutral"]
    body = [c for c in clips if c.speaker == "a" and c.label != "neutral"]
    agent = [c for c in clips if c.speaker == "b"]
    call = two_party.build_two_party_call("a#1", "a", opening, body, agent, "b", lambda c: audio[c.path])
    assert call.agent.size == call.customer.size
    phases = [s.phase for s in call.segments]
    assert phases == ["opening", "opening", "context", "body", "context", "body"]
    for i, seg in enumerate(call.segments):
        if seg.phase != "body":
            continue
        context = call.segments[i - 1]
        assert context.clip.label == "neutral" and context.end_s <= seg.start_s
        # the agent spoke just before the context turn, and nobody speaks over the scored clip
        a0 = int((context.start_s - 2 * 1.0 - 0.6) * 16000)
        assert np.abs(call.agent[a0:int(context.start_s * 16000)]).max() > 0.1
        assert np.abs(call.agent[int(seg.start_s * 16000):int(seg.end_s * 16000)]).max() == 0.0
        # a scored clip owns its settle pause and nothing of the next agent turn
        assert seg.span_end_s >= seg.end_s + two_party.SETTLE_S - 0.01
        nxt = call.segments[i + 1].start_s if i + 1 < len(call.segments) else call.duration_s
        assert seg.span_end_s <= nxt


@pytest.mark.skipif(not (EMODB / "labels.csv").exists(), reason="../shared/data/emodb not present")
def test_eval_clips_two_party_compares_v3_v2_and_loudness(tmp_path):
    rows, keep, small = _three_emodb_speakers(tmp_path)
    out = tmp_path / "two_party.json"
    res = _voicemon("eval", "clips", str(small), "--two-party", "--transforms", "clean", "--out", str(out), "-q")
    assert res.returncode == 0, res.stderr
    assert "median onset" in res.stdout and "meter_v2" in res.stdout
    clean = json.loads(out.read_text())["transforms"]["clean"]
    assert set(clean) == {"meter", "meter_v2", "baseline", "clips"}
    scored = clean["clips"]
    assert len(scored) == sum(1 for r in rows if r["speaker"] in keep)  # every clip scored once, in context
    assert all(set(c) >= {"meter", "meter_v2", "baseline"} for c in scored)
    for system in ("meter", "meter_v2"):
        assert clean[system]["auc_angry_vs_neutral"] > 0.75
        assert clean[system]["false_alarm_neutral_heated"] <= 0.05
    lat = [c["meter"]["latency_s"] for c in scored if c["label"] == "angry" and c["meter"]["latency_s"] is not None]
    assert all(0 < x < 14 for x in lat)


def test_two_party_needs_two_speakers_with_neutral_clips(tmp_path):
    one = tmp_path / "one.csv"
    wav = FIXTURES / "not_angry_call.wav"
    one.write_text(f"path,label,speaker\n{wav},neutral,s1\n{wav},angry,s1\n")
    res = _voicemon("eval", "clips", str(one), "--two-party", "--transforms", "clean", "--out", str(tmp_path / "x.json"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: ") and "at least two speakers" in res.stderr
