"""Shared pieces of the telephony adapter tests: the 8 kHz telephone audio and the live-vs-offline check.

Every adapter test streams the same audio: the first 100 s of the escalating fixture, agent
left and customer right, as 8 kHz G.711 mu-law (what a telephone network delivers). It is
written once per session as a WAV file so ``analyze`` (the reference) reads exactly these
samples and the session's ``analysed`` cache serves every adapter module.
"""

from __future__ import annotations

import struct

import numpy as np

from server_helpers import ESCALATING

SECONDS = 100
SPEED = 4.0
"""Replay pace (x real time) of the full-call tests: the Twilio test's, whose tolerances are reused."""


def telephone_audio(tmp_path_factory):
    """``(wav_path, mulaw_codes (n, 2) uint8, pcm (n, 2) int16)``: agent = column 0, customer = 1."""
    import soundfile as sf
    import soxr

    path = tmp_path_factory.getbasetemp() / f"escalating_{SECONDS}s_stereo_mulaw8k.wav"
    if not path.exists():
        data, rate = sf.read(ESCALATING, dtype="float32", always_2d=True)
        sf.write(path, soxr.resample(data[: SECONDS * rate], rate, 8000), 8000, subtype="ULAW")
    codes = np.frombuffer(wav_data_chunk(path.read_bytes()), np.uint8).reshape(-1, 2)
    pcm, _ = sf.read(path, dtype="int16", always_2d=True)
    return path, codes, pcm


def wav_data_chunk(blob: bytes) -> bytes:
    """The ``data`` chunk of a RIFF/WAVE file (the raw mu-law bytes, as the file stores them)."""
    assert blob[:4] == b"RIFF" and blob[8:12] == b"WAVE"
    at = 12
    while at + 8 <= len(blob):
        name, size = blob[at:at + 4], struct.unpack("<I", blob[at + 4:at + 8])[0]
        if name == b"data":
            return blob[at + 8:at + 8 + size]
        at += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


def assert_like_offline(events, offline, labels, call_id=None):
    """The checks of the Twilio test: same escalation onset (within its tolerance), both parties
    transcribed, and live prompts a subset of offline's holding at least half of them."""
    lab = labels[ESCALATING.name]["escalation"][0]
    assert events[0]["type"] == "call_started" and events[-1]["type"] == "call_ended", (events[0], events[-1])
    if call_id is not None:
        assert events[0]["call_id"] == call_id
    assert events[0]["roles"] == ["agent", "customer"]
    hot = [e for e in events if e["type"] == "reading" and e["role"] == "customer" and e["level"] in ("heated", "critical")]
    hot_offline = [r for r in offline["readings"] if r["role"] == "customer" and r["level"] in ("heated", "critical")]
    assert hot and lab["start_s"] <= hot[0]["t"] <= lab["end_s"]
    assert -1.0 < hot[0]["t"] - hot_offline[0]["t"] < 6.0, (hot[0]["t"], hot_offline[0]["t"])
    for role in ("agent", "customer"):
        assert any(e["type"] == "transcript" and e["final"] and e["role"] == role and e["text"] for e in events), role
    customer = " ".join(e["text"] for e in events if e["type"] == "transcript" and e["final"] and e["role"] == "customer")
    assert "already told you" in customer.lower()
    live_kinds = {e["kind"] for e in events if e["type"] == "prompt"}
    offline_kinds = {p["kind"] for p in offline["prompts"]}
    assert "repeat_back" in live_kinds and live_kinds <= offline_kinds, (live_kinds, offline_kinds)
    assert 2 * len(live_kinds) >= len(offline_kinds), (live_kinds, offline_kinds)
