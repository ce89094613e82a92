#!/usr/bin/env python3
"""Generate the synthetic call-audio fixtures in this directory.

Re-runnable and deterministic (given the same espeak-ng / sox versions):

    python audio_fixtures/make_fixtures.py

Needs ``espeak-ng`` and ``sox`` on PATH and numpy + soundfile in Python.

Writes, next to this script:

* ``calm_call_stereo.wav``        16 kHz 16-bit stereo, L = agent, R = customer
* ``escalating_call_stereo.wav``  16 kHz 16-bit stereo, L = agent, R = customer
* ``escalating_call_mulaw8k.wav`` the escalating call summed to mono, 8 kHz mu-law
* ``labels.json``                 turn times / escalation interval / expected prompts,
                                  computed from the generated segment lengths
* ``angry_from_start_call.wav``, ``happy_excited_call.wav``, ``anxious_call.wav``,
  ``not_angry_call.wav``          short 8 kHz 16-bit stereo calls (L = agent, R = customer)
                                  for meter v3: a caller heated from the first word, an
                                  excited happy caller, an anxious caller, and a calm "I'm not
                                  angry, just tired of this"; each with other voices and wording

``--only NAME[,NAME]`` renders just those files and updates their entries in labels.json
(the other fixtures and their labels are left as they are).

Every turn is synthesised separately with espeak-ng, resampled to 16 kHz with
sox, trimmed to its speech, and scaled in numpy so that its *active-speech*
RMS hits a per-style target (calm = -32 dBFS, i.e. peaks around -14 dBFS;
angry = +9 dB).  Pitch and rate are changed through espeak's ``-p``/``-s``;
amplitude ``-a`` is always 100 so the level is shaped only here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

OUT_DIR = Path(__file__).resolve().parent
SR = 16000
SEED = 20240611
LEAD_IN_S = 0.6  # silence (noise only) before the first turn
TAIL_S = 1.0  # silence after the last turn
NOISE_DBFS = -60.0  # RMS of the pink noise floor on each channel
PEAK_LIMIT = 0.95  # hard check: no sample above this (|x|)
PEAK_LIMIT_DBFS = -1.0  # angry turns must peak below this

# Two male US voices: the bundled tiny.en model transcribes them far more reliably than the
# female variants at these levels (e.g. "put you on hold" came out as "on -fold"/"on board"
# with en-us+f3 under the -60 dBFS noise floor, and correctly with en-us in 3 of 3 noise seeds).
VOICES = {"agent": "en-us", "customer": "en-us+m1"}

# espeak rate (wpm), espeak pitch (0-99, default 50), level offset (dB) relative
# to the calm active-speech RMS target.
CALM_RMS_DBFS = -32.0
STYLES = {
    "calm": {"rate": 165, "pitch": 50, "gain_db": 0.0},
    "calming": {"rate": 180, "pitch": 60, "gain_db": 3.5},
    "angry": {"rate": 215, "pitch": 78, "gain_db": 9.0},
    # meter v3 fixtures: a raised, excited voice (positive words) and a worried one
    "excited": {"rate": 195, "pitch": 75, "gain_db": 5.0},
    "anxious": {"rate": 185, "pitch": 70, "gain_db": 2.0},
}


@dataclass
class Turn:
    role: str  # "agent" | "customer"
    text: str
    style: str = "calm"
    gap: float = 0.7  # seconds after the previous turn's end; negative = overlap
    tag: str | None = None  # optional marker used to derive labels
    voice: str | None = None  # espeak voice; None = VOICES[role]
    # filled in by render()
    start_s: float = 0.0
    end_s: float = 0.0
    audio: np.ndarray = field(default=None, repr=False)


# --------------------------------------------------------------------------
# Scripts
# --------------------------------------------------------------------------

CALM_CALL = [
    Turn("agent", "Thank you for calling Brightline Home Goods, this is Sarah. "
                  "How can I help you today?"),
    Turn("customer", "Hi Sarah. I ordered a bookshelf last week, and I was "
                     "wondering when it will be delivered."),
    Turn("agent", "Sure. Could I have your name and order number, please?"),
    Turn("customer", "Sure. It's Michael Chen, and the order number is five one "
                     "eight nine."),
    Turn("agent", "Thank you, Mr. Chen. One moment, please."),
    Turn("agent", "Okay, I see it here. Your bookshelf shipped yesterday, and it "
                  "is scheduled to arrive this Thursday, between nine and noon.",
         gap=1.2),
    Turn("customer", "Oh, great. That works for me. I also had a quick question "
                     "about my bill."),
    Turn("agent", "Of course. What would you like to know?"),
    Turn("customer", "There's a line that says service fee, four ninety nine. "
                     "What is that for?"),
    Turn("agent", "That is the standard delivery fee for large items."),
    Turn("customer", "Ah, I see. That makes sense. Thanks for explaining."),
    Turn("agent", "You're welcome. Is there anything else I can help you with?"),
    Turn("customer", "No, that's all. Thank you so much for your help."),
    Turn("agent", "My pleasure, Mr. Chen. Enjoy your new bookshelf, and have a "
                  "wonderful day."),
    Turn("customer", "You too. Goodbye."),
]

ESCALATING_CALL = [
    # ---- calm opening: customer baseline (>= 20 s of calm *voiced* speech) -
    Turn("agent", "Brightline Home Goods, this is Sarah. How can I help you?"),
    Turn("customer", "Hi Sarah, good morning. I'm calling about my credit card "
                     "bill. I think I "
                     "was charged twice for the same order last week, and I'd "
                     "like to get that sorted out.", gap=0.6),
    Turn("agent", "I'm sorry about that. Can I have your name and account "
                  "number?", gap=0.6),
    Turn("customer", "Sure. My name is Daniel Harper, and my account number is "
                     "four four seven two. The order was a kitchen table and "
                     "four chairs, for three hundred and twelve dollars. Both "
                     "charges showed up on my statement on Wednesday morning, "
                     "for the same amount, a few minutes apart. I would just "
                     "like one of them reversed, please.", gap=0.5),
    Turn("agent", "Let me take a look. One moment.", gap=0.5),
    Turn("customer", "Sure, no problem. I'm looking at my online banking right "
                     "now, and I can see both of them listed there, one right "
                     "after the other, on the same morning.", gap=0.8),
    Turn("agent", "I only see one charge on my screen, sir.", gap=1.2),
    # ---- escalation (customer angry: +9 dB, pitch +28, rate +30 %) --------
    Turn("customer", "What? That's ridiculous! I can see both charges right here "
                     "on my bank statement! This is the third time I'm calling "
                     "about this!", style="angry", gap=0.4, tag="repeated_complaint"),
    Turn("agent", "Can I have your account number again, please?", gap=0.5),
    Turn("customer", "I already told you, my account number is four four seven "
                     "two! Why do I have to keep repeating myself?",
         style="angry", gap=0.4, tag="repeated_details"),
    Turn("agent", "Calm down sir, it's our policy to verify every account "
                  "first.", gap=0.5, tag="policy"),
    Turn("customer", "Don't tell me to calm down! This is unacceptable!",
         style="angry", gap=-1.0, tag="interruption"),
    Turn("agent", "Let me put you on hold for a moment while I check with "
                  "billing.", gap=0.5, tag="hold"),
    Turn("customer", "No! Don't put me on hold again! I want to speak to your "
                     "supervisor, right now!", style="angry", gap=-1.0,
         tag="interruption"),
    Turn("agent", "Sir, I'm trying to help you.", gap=0.5),
    Turn("customer", "I'm going to cancel my account! I'm done with this "
                     "company!", style="angry", gap=0.4),
    # ---- de-escalation -----------------------------------------------------
    Turn("agent", "I'm really sorry, Mr. Harper. You have every right to be "
                  "frustrated.", gap=0.9, tag="apology"),
    Turn("agent", "So you were charged twice for order four four seven two. "
                  "Let me fix that.", gap=0.5, tag="repeat_back"),
    Turn("customer", "Yes, that's right. The same charge, twice.",
         style="calming", gap=0.6),
    Turn("agent", "Here's what I can do: I'll refund the second charge today.",
         gap=0.6, tag="refund_offer"),
    Turn("customer", "Okay, thank you. I appreciate that.", gap=0.7),
    Turn("agent", "Is there anything else I can help you with?", gap=0.6),
    Turn("customer", "No, that's all. And sorry for raising my voice earlier. "
                     "It's been a long week.", gap=0.6),
    Turn("agent", "No problem at all. Thank you for your patience, Mr. Harper. "
                  "Goodbye.", gap=0.6),
    Turn("customer", "Thanks again, Sarah. Goodbye.", gap=0.5),
]


# Meter v3 fixtures: other customer voices and other wording than the two calls above.
def _v3_call(agent_voice: str, customer_voice: str, turns: list[tuple]) -> list[Turn]:
    out = []
    for role, text, *rest in turns:
        style = rest[0] if rest else "calm"
        gap = rest[1] if len(rest) > 1 else 0.7
        out.append(Turn(role, text, style=style, gap=gap, voice=agent_voice if role == "agent" else customer_voice))
    return out


ANGRY_FROM_START_CALL = _v3_call("en-us", "en-us+m3", [
    ("agent", "Thank you for calling Northwind Mobile, my name is Alex. How can I help you?"),
    ("customer", "I am extremely frustrated right now.", "angry", 0.5),
    ("customer", "This is the second time this is happening, and my phone still does not work.", "angry", 0.9),
    ("agent", "I'm sorry to hear that. Can I have your phone number, please?", "calm", 0.6),
    ("customer", "You better do something, because I am about to lose it!", "angry", 0.5),
    ("agent", "Let me look at your line right away.", "calm", 0.6),
    ("customer", "I have been waiting for a whole week. This is unacceptable!", "angry", 0.5),
])

HAPPY_EXCITED_CALL = _v3_call("en-us", "en-gb", [
    ("agent", "Good afternoon, Brightline Travel, this is Maria speaking."),
    ("customer", "Hi Maria, I'm calling about my booking for next month. The reference is seven two nine one.", "calm", 0.6),
    ("agent", "Thank you. Let me check. Yes, I can see it here.", "calm", 0.6),
    ("customer", "Good. I wanted to ask if the room upgrade I asked for went through.", "calm", 0.6),
    ("agent", "It did. You have a suite with a sea view, at no extra cost.", "calm", 0.6),
    ("customer", "Oh wow, that is amazing! Thank you so much, this is the best news all week!", "excited", 0.5),
    ("agent", "You're very welcome.", "calm", 0.5),
    ("customer", "My wife is going to love it! You made my day, thank you!", "excited", 0.5),
    ("agent", "I'm glad to hear it. Enjoy your trip.", "calm", 0.6),
    ("customer", "Thank you, this is wonderful. Have a great day!", "excited", 0.5),
])

ANXIOUS_CALL = _v3_call("en-us", "en-us+m4", [
    ("agent", "Thank you for calling Harbor Bank, this is Tom. How can I help?"),
    ("customer", "Hi Tom. I'm calling because I saw a payment on my account this morning that I don't recognise.", "calm", 0.6),
    ("agent", "Okay, let's take a look together. Can I have your name, please?", "calm", 0.6),
    ("customer", "Yes, it's Peter Wells. I have been with the bank for many years.", "calm", 0.6),
    ("agent", "Thank you, Mr. Wells. I can see your account.", "calm", 0.6),
    ("customer", "I'm really worried. There is a payment I didn't make, and I don't know what to do.", "anxious", 0.5),
    ("agent", "Let me check that payment for you.", "calm", 0.6),
    ("customer", "Please help me, it's all my savings. I'm so scared someone has my card.", "anxious", 0.5),
    ("agent", "I'm blocking the card now, and we will look into the payment today.", "calm", 0.6),
    ("customer", "Okay. Thank you, Tom.", "calm", 0.6),
])

NOT_ANGRY_CALL = _v3_call("en-us", "en-us+m2", [
    ("agent", "Hello, City Water customer service, this is Jane."),
    ("customer", "Hi Jane. My water bill went up again this month, and I would like to know why.", "calm", 0.6),
    ("agent", "I'm sorry about that. Let me take a look at your account.", "calm", 0.6),
    ("customer", "I'm not angry, just tired of this. It seems to happen every winter.", "calm", 0.7),
    ("agent", "I see the reason. The meter reading was estimated. I can correct it today.", "calm", 0.6),
    ("customer", "Okay, that would be good. Thanks for checking.", "calm", 0.6),
    ("agent", "You're welcome. Have a good evening.", "calm", 0.6),
])

V3_CALLS = {
    "angry_from_start_call.wav": ANGRY_FROM_START_CALL,
    "happy_excited_call.wav": HAPPY_EXCITED_CALL,
    "anxious_call.wav": ANXIOUS_CALL,
    "not_angry_call.wav": NOT_ANGRY_CALL,
}
V3_RATE_HZ = 8000  # telephone rate: small files, and the meter is checked on phone audio


def v3_labels(name: str, turns: list[Turn], duration_s: float) -> dict:
    """Labels of a meter-v3 fixture: channels, turns and, per call, what the meter must do."""
    lab = {"channels": ["agent", "customer"], "duration_s": round(duration_s, 3), "rate_hz": V3_RATE_HZ,
           "escalation": [], "turns": turn_dicts(turns)}
    styled = [tr for tr in turns if tr.role == "customer" and tr.style != "calm"]
    if name == "angry_from_start_call.wav":
        lab["escalation"] = [{"role": "customer", "start_s": styled[0].start_s, "end_s": max(t.end_s for t in styled)}]
        lab["expect"] = {"heated_within_s": 5.0, "from_s": styled[0].start_s}
    elif name == "happy_excited_call.wav":
        lab["expect"] = {"max_level": "tense", "raised_from_s": styled[0].start_s}
    elif name == "anxious_call.wav":
        lab["expect"] = {"max_level": "tense", "prompt": "acknowledge_worry", "after_s": styled[0].start_s}
    else:
        lab["expect"] = {"max_level": "tense", "no_cue": "anger"}
    return lab


# --------------------------------------------------------------------------
# Audio helpers
# --------------------------------------------------------------------------

def db(x: float) -> float:
    return 20.0 * np.log10(max(float(x), 1e-12))


def frame_rms_db(x: np.ndarray, frame_s: float = 0.02) -> np.ndarray:
    f = int(frame_s * SR)
    n = len(x) // f
    fr = x[: n * f].reshape(n, f)
    return 10.0 * np.log10((fr ** 2).mean(axis=1) + 1e-20)


def active_rms_db(x: np.ndarray, rel_db: float = 35.0) -> tuple[float, float]:
    """RMS (dBFS) over 20 ms frames within rel_db of the loudest frame, and
    the total duration (s) of those frames."""
    e = frame_rms_db(x)
    act = e > e.max() - rel_db
    lin = 10.0 ** (e[act] / 10.0)
    return 10.0 * np.log10(lin.mean()), act.sum() * 0.02


def voiced_seconds(x, sr=SR, fmin=65.0, fmax=450.0, hop_s=0.01):
    """Seconds of voiced (periodic) speech: 10 ms frames whose 20 ms level is
    above max(-55 dBFS, 95th pct - 30 dB), whose best normalised correlation
    at a 65-450 Hz period is >= 0.5, that cross zero < 5000 /s, in runs of
    >= 3 frames (the same criteria voicemon's prosody tracker uses)."""
    x = np.asarray(x, float) - np.mean(x)
    hop = int(round(hop_s*sr)); N = 1024
    tmin = int(np.floor(sr/fmax)); tmax = int(np.ceil(sr/fmin)) + 1
    w = N - tmax - 1
    xp = np.pad(x, (N//2, N - N//2))
    F = np.lib.stride_tricks.sliding_window_view(xp, N)[: x.size + 1: hop]
    A = F[:, :w]
    M = 2048
    num = np.fft.irfft(np.conj(np.fft.rfft(A, M)) * np.fft.rfft(F, M), M)[:, :tmax + 1]
    c = np.concatenate([np.zeros((F.shape[0], 1)), np.cumsum(F**2, axis=1)], axis=1)
    lags = np.arange(tmax + 1)
    eb = c[:, lags + w] - c[:, lags]
    ea = c[:, w][:, None]
    nccf = (num / np.sqrt(ea*eb + 1e-20))[:, tmin:tmax+1].max(axis=1)
    f = int(0.02*sr); xp2 = np.pad(x, (f//2, f - f//2))
    G = np.lib.stride_tricks.sliding_window_view(xp2, f)[: x.size + 1: hop]
    rms = 10*np.log10((G**2).mean(1) + 1e-30)
    zcr = np.count_nonzero(np.diff(np.signbit(G), axis=1), axis=1) / 0.02
    floor = max(-55.0, np.percentile(rms, 95) - 30.0)
    v = (rms > floor) & (nccf >= 0.5) & (zcr < 5000)
    e = np.diff(np.r_[0, v.astype(np.int8), 0])
    for s, t in zip(np.flatnonzero(e == 1), np.flatnonzero(e == -1)):
        if t - s < 3: v[s:t] = False
    return v.sum()*hop_s


def synth(turn: Turn, tmp: Path, idx: int) -> np.ndarray:
    st = STYLES[turn.style]
    raw = tmp / f"t{idx:03d}_22k.wav"
    res = tmp / f"t{idx:03d}_16k.wav"
    subprocess.run(
        ["espeak-ng", "-v", turn.voice or VOICES[turn.role], "-s", str(st["rate"]),
         "-p", str(st["pitch"]), "-a", "100", "-w", str(raw), turn.text],
        check=True)
    # float output => no dither, deterministic
    subprocess.run(["sox", str(raw), "-e", "floating-point", "-b", "32",
                    "-r", str(SR), str(res)], check=True)
    x, sr = sf.read(res, dtype="float64")
    assert sr == SR, sr
    if x.ndim > 1:
        x = x.mean(axis=1)
    # trim leading / trailing silence to the speech (keep 20 ms margin)
    e = frame_rms_db(x, 0.01)
    on = np.nonzero(e > e.max() - 45.0)[0]
    a = max(0, (on[0] - 2) * SR // 100)
    b = min(len(x), (on[-1] + 3) * SR // 100)
    x = x[a:b]
    # level: active-speech RMS to the style target
    cur, _ = active_rms_db(x)
    target = CALM_RMS_DBFS + st["gain_db"]
    x = x * 10.0 ** ((target - cur) / 20.0)
    # short fades so the cut is click-free
    n = int(0.005 * SR)
    ramp = np.linspace(0.0, 1.0, n)
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x


def pink_noise(n: int, rng: np.random.Generator, rms_dbfs: float) -> np.ndarray:
    w = rng.standard_normal(n)
    spec = np.fft.rfft(w)
    f = np.fft.rfftfreq(n, 1.0 / SR)
    scale = np.zeros_like(f)
    scale[1:] = 1.0 / np.sqrt(np.maximum(f[1:], 20.0))  # 1/f power, flat < 20 Hz
    p = np.fft.irfft(spec * scale, n)
    p *= 10.0 ** (rms_dbfs / 20.0) / np.sqrt((p ** 2).mean())
    return p


def render(turns: list[Turn], tmp: Path, rng: np.random.Generator,
           name: str) -> np.ndarray:
    """Synthesise, place on a timeline; returns (n, 2) float: [agent, customer]."""
    tmp = tmp / Path(name).stem
    tmp.mkdir()
    t = LEAD_IN_S
    prev_end = None
    for i, turn in enumerate(turns):
        turn.audio = synth(turn, tmp, i)
        start = t if prev_end is None else prev_end + turn.gap
        if prev_end is not None and turn.gap < 0:
            assert turn.role != turns[i - 1].role, "overlap needs two speakers"
        turn.start_s = round(start, 3)
        turn.end_s = round(start + len(turn.audio) / SR, 3)
        prev_end = turn.end_s
    total = max(tr.end_s for tr in turns) + TAIL_S
    n = int(np.ceil(total * SR))
    out = np.zeros((n, 2))
    for turn in turns:
        ch = 0 if turn.role == "agent" else 1
        a = int(round(turn.start_s * SR))
        out[a:a + len(turn.audio), ch] += turn.audio
    out[:, 0] += pink_noise(n, rng, NOISE_DBFS)
    out[:, 1] += pink_noise(n, rng, NOISE_DBFS)
    peak = np.abs(out).max()
    assert peak < PEAK_LIMIT, f"{name}: peak {peak:.3f} >= {PEAK_LIMIT}"
    return out


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------

def turn_dicts(turns: list[Turn]) -> list[dict]:
    out = []
    for tr in turns:
        d = {"role": tr.role, "start_s": tr.start_s, "end_s": tr.end_s,
             "text": tr.text, "style": tr.style}
        if tr.tag:
            d["tag"] = tr.tag
        out.append(d)
    return out


def escalating_labels(turns: list[Turn], duration_s: float) -> dict:
    angry = [tr for tr in turns if tr.role == "customer" and tr.style == "angry"]
    esc_start, esc_end = angry[0].start_s, max(tr.end_s for tr in angry)
    first_calm_after = next(tr for tr in turns if tr.role == "customer"
                            and tr.style == "calm" and tr.start_s > esc_end)
    hold = next(tr for tr in turns if tr.tag == "hold")
    # "Repeat back their details" is due from the first repeated complaint ("third time I'm
    # calling") until the customer has repeated their details ("I already told you ...").
    first_rep = next(tr for tr in turns if tr.tag == "repeated_complaint")
    rep = next(tr for tr in turns if tr.tag == "repeated_details")
    return {
        "channels": ["agent", "customer"],
        "duration_s": round(duration_s, 3),
        "escalation": [{"role": "customer", "start_s": esc_start,
                        "end_s": esc_end}],
        "calm_before_s": esc_start,
        # 12 s: the agent's "Calm down sir" (an escalating cue, found since fuzzy phrase matching
        # hears it in tiny.en's "Come down, sir") keeps the caller tense ~0.5 s past 10 s
        "calm_after_s": round(first_calm_after.start_s + 12.0, 3),
        "expected_prompts": [
            {"kind": "no_hold", "after_s": hold.start_s,
             "before_s": round(hold.start_s + 6.0, 3)},
            {"kind": "repeat_back", "after_s": first_rep.start_s,
             "before_s": round(rep.end_s + 6.0, 3)},
        ],
        "turns": turn_dicts(turns),
    }


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def write_pcm16(path: Path, x: np.ndarray) -> None:
    sf.write(path, x, SR, subtype="PCM_16")


def summarise(name: str, audio: np.ndarray, turns: list[Turn]) -> None:
    dur = len(audio) / SR
    print(f"\n== {name}: {dur:.2f} s, peak {db(np.abs(audio).max()):.1f} dBFS")
    for tr in turns:
        rms, act = active_rms_db(tr.audio)
        print(f"  {tr.start_s:7.2f}-{tr.end_s:7.2f}  {tr.role:8s} {tr.style:7s} "
              f"rms {rms:6.1f}  peak {db(np.abs(tr.audio).max()):6.1f} dBFS  "
              f"{(tr.tag or ''):16s} {tr.text[:48]}")


def style_report(turns: list[Turn]) -> dict:
    by = {}
    for tr in turns:
        by.setdefault((tr.role, tr.style), []).append(tr)
    res = {}
    print("  per role/style (active-speech RMS, dBFS):")
    for (role, style), trs in sorted(by.items()):
        lin = [10 ** (active_rms_db(t.audio)[0] / 10) for t in trs]
        rms = 10 * np.log10(np.mean(lin))
        peak = max(db(np.abs(t.audio).max()) for t in trs)
        speech = sum(active_rms_db(t.audio)[1] for t in trs)
        voiced = sum(voiced_seconds(t.audio) for t in trs)
        res[(role, style)] = rms
        print(f"    {role:8s} {style:7s} n={len(trs):2d} rms {rms:6.1f}  "
              f"max peak {peak:6.1f}  speech {speech:5.1f} s  voiced {voiced:5.1f} s")
    return res


def make_v3(names: list[str], tmp: Path, labels: dict) -> None:
    """Render the meter-v3 fixtures ``names`` at 8 kHz and put their labels in ``labels``."""
    import zlib

    for name in names:
        turns = V3_CALLS[name]
        rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])  # independent of order
        audio = render(turns, tmp, rng, name)
        wide = tmp / f"{Path(name).stem}_16k.wav"
        sf.write(wide, audio, SR, subtype="FLOAT")
        subprocess.run(["sox", "-D", str(wide), "-r", str(V3_RATE_HZ), "-b", "16", "-e", "signed-integer",
                        str(OUT_DIR / name)], check=True)
        summarise(name, audio, turns)
        labels[name] = v3_labels(name, turns, len(audio) / SR)


def main() -> int:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found on PATH", file=sys.stderr)
            return 1
    if len(sys.argv) == 3 and sys.argv[1] == "--only":
        names = sys.argv[2].split(",")
        unknown = [n for n in names if n not in V3_CALLS]
        if unknown:
            print(f"error: --only takes {', '.join(V3_CALLS)}; not {', '.join(unknown)}", file=sys.stderr)
            return 2
        labels = json.loads((OUT_DIR / "labels.json").read_text())
        with tempfile.TemporaryDirectory(prefix="voicemon_fixtures_") as td:
            make_v3(names, Path(td), labels)
        (OUT_DIR / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
        return 0
    rng = np.random.default_rng(SEED)
    labels = {}
    with tempfile.TemporaryDirectory(prefix="voicemon_fixtures_") as td:
        tmp = Path(td)

        # 1. calm call
        calm = render(CALM_CALL, tmp, rng, "calm_call_stereo.wav")
        write_pcm16(OUT_DIR / "calm_call_stereo.wav", calm)
        summarise("calm_call_stereo.wav", calm, CALM_CALL)
        style_report(CALM_CALL)
        labels["calm_call_stereo.wav"] = {
            "channels": ["agent", "customer"],
            "duration_s": round(len(calm) / SR, 3),
            "escalation": [],
            "turns": turn_dicts(CALM_CALL),
        }

        # 2. escalating call (stereo)
        esc = render(ESCALATING_CALL, tmp, rng, "escalating_call_stereo.wav")
        write_pcm16(OUT_DIR / "escalating_call_stereo.wav", esc)
        summarise("escalating_call_stereo.wav", esc, ESCALATING_CALL)
        rep = style_report(ESCALATING_CALL)
        lab = escalating_labels(ESCALATING_CALL, len(esc) / SR)
        labels["escalating_call_stereo.wav"] = lab

        # sanity checks on the design constraints
        delta = rep[("customer", "angry")] - rep[("customer", "calm")]
        print(f"  customer angry - calm RMS: {delta:+.1f} dB")
        assert 8.0 <= delta <= 10.0, delta
        for tr in ESCALATING_CALL:
            if tr.style == "angry":
                assert db(np.abs(tr.audio).max()) < PEAK_LIMIT_DBFS
        calm_voiced = sum(voiced_seconds(t.audio) for t in ESCALATING_CALL
                          if t.role == "customer" and t.end_s <= lab["calm_before_s"])
        print(f"  customer calm voiced speech before escalation: "
              f"{calm_voiced:.1f} s")
        assert calm_voiced >= 22.0, calm_voiced  # margin over the meter's 20 s
        assert lab["calm_after_s"] < lab["duration_s"], "no calm tail"

        # 3. mono mu-law 8 kHz telephone version of the escalating call
        mono = esc.sum(axis=1)
        assert np.abs(mono).max() < PEAK_LIMIT, np.abs(mono).max()
        mono_f = tmp / "mono16k.wav"
        sf.write(mono_f, mono, SR, subtype="PCM_24")
        mulaw = OUT_DIR / "escalating_call_mulaw8k.wav"
        subprocess.run(["sox", "-D", str(mono_f), "-r", "8000", "-e", "u-law",
                        "-c", "1", str(mulaw)], check=True)
        y, ysr = sf.read(mulaw)
        print(f"\n== escalating_call_mulaw8k.wav: {len(y) / ysr:.2f} s @ {ysr} Hz, "
              f"peak {db(np.abs(y).max()):.1f} dBFS")
        mlab = json.loads(json.dumps(lab))
        mlab["channels"] = None
        mlab["duration_s"] = round(len(y) / ysr, 3)
        labels["escalating_call_mulaw8k.wav"] = mlab

        # 4. meter v3 fixtures (own RNG streams, so they do not move the files above)
        make_v3(list(V3_CALLS), tmp, labels)

    with open(OUT_DIR / "labels.json", "w") as fh:
        json.dump(labels, fh, indent=2)
        fh.write("\n")

    print("\nlabels (escalating call):")
    print(f"  escalation    {lab['escalation']}")
    print(f"  calm_before_s {lab['calm_before_s']}  calm_after_s "
          f"{lab['calm_after_s']}")
    for p in lab["expected_prompts"]:
        print(f"  prompt        {p}")
    total = sum((OUT_DIR / f).stat().st_size for f in labels)
    print(f"\ntotal WAV size: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
