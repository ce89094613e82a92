#!/usr/bin/env python3
"""Render the PII fixture calls (redaction tests and benchmarks/transcripts.py).

    python audio_fixtures/make_pii_fixtures.py [OUT_DIR]     # default .cache/pii_fixtures

Each call is a short 16 kHz stereo WAV (L = agent, R = customer): the agent asks for a detail,
the customer reads it out — card numbers digit by digit and in pairs, SSNs, phone numbers,
e-mail addresses spoken and spelled — in several espeak-ng voices and rates, in two sets:
``CALLS`` (what the rules were tuned on) and ``HELDOUT_CALLS`` (other wordings and voices, never
tuned on; labelled ``"set": "heldout"``). ``labels.json``
next to them lists, per call, the entities the customer said (type and value). The WAVs are not
committed: they are rendered on demand (deterministic for one espeak-ng/sox version).

Needs ``espeak-ng`` and ``sox`` on PATH.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
SEED = 1313
RMS_DBFS = -30.0
NOISE_DBFS = -62.0
GAP_S = 0.8
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TENS_WORDS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
TEEN_WORDS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
              "nineteen"]


def one_by_one(digits: str, group: int = 4) -> str:
    """ "4532..." -> "four five three two, zero one ..." (a comma every ``group`` digits)."""
    parts = [" ".join(DIGIT_WORDS[int(d)] for d in digits[i:i + group]) for i in range(0, len(digits), group)]
    return ", ".join(parts)


def pairs(digits: str) -> str:
    """ "4532" -> "forty five, thirty two"; "05" -> "oh five"."""
    out = []
    for i in range(0, len(digits), 2):
        p = digits[i:i + 2]
        if len(p) == 1:
            out.append(DIGIT_WORDS[int(p)])
        elif p[0] == "0":
            out.append(f"oh {DIGIT_WORDS[int(p[1])]}")
        elif p[0] == "1":
            out.append(TEEN_WORDS[int(p[1])])
        else:
            out.append(TENS_WORDS[int(p[0])] + ("" if p[1] == "0" else f" {DIGIT_WORDS[int(p[1])]}"))
    return ", ".join(out)


def spelled(word: str) -> str:
    return ", ".join(word.upper())


@dataclass
class Call:
    name: str
    agent: str
    customer: str
    entities: list[tuple[str, str]]
    voice: str = "en-us+m1"
    rate: int = 165
    followups: list[tuple[str, str]] = field(default_factory=list)  # more (agent, customer) turns


CALLS = [
    Call("card_single_m1", "Can I take the long number on the card, please?",
         f"Sure, it's {one_by_one('4532015112830366')}.", [("card", "4532015112830366")]),
    Call("card_pairs_us", "What's the card number?",
         f"It is {pairs('5425233430109903')}.", [("card", "5425233430109903")], voice="en-us", rate=160),
    Call("card_cvv_expiry_m3", "Please read me the card number.",
         f"Okay. {one_by_one('4111111111111111')}.", [("card", "4111111111111111")], voice="en-us+m3", rate=170,
         followups=[("And the expiry date and the security code on the back?",
                     "It expires oh four twenty seven, and the code is seven three one.")]),
    Call("card_fast_gb", "Card number when you're ready.",
         f"Right, {one_by_one('6011111111111117')}.", [("card", "6011111111111117")], voice="en-gb", rate=185),
    Call("ssn_m1", "For verification, what's your social security number?",
         f"My social is {one_by_one('123456789', 3)}.", [("ssn", "123456789")]),
    Call("ssn_us", "Can you confirm your social security number?",
         f"It's {one_by_one('219099999', 3)}.", [("ssn", "219099999")], voice="en-us", rate=155),
    Call("phone_m1", "What's the best number to call you back on?",
         f"You can call me on {one_by_one('5552124471', 3)}.", [("phone", "5552124471")]),
    Call("phone_pairs_us", "And a phone number?",
         f"My cell is {pairs('4155550198')}.", [("phone", "4155550198")], voice="en-us", rate=165),
    Call("phone_gb", "Could I have a contact number?",
         f"Yes, it's {one_by_one('07700900123', 4)}.", [("phone", "07700900123")], voice="en-gb", rate=170),
    Call("email_spoken_m1", "What e-mail address should I use?",
         "It's john dot smith at gmail dot com.", [("email", "john.smith@gmail.com")]),
    Call("email_spoken_us", "And your e-mail?",
         "Sure, maria lopez at yahoo dot com.", [("email", "marialopez@yahoo.com")], voice="en-us", rate=160),
    Call("email_spelled_m3", "Can you spell the e-mail address for me?",
         f"Yes, {spelled('kate')}, at outlook dot com.", [("email", "kate@outlook.com")], voice="en-us+m3"),
    Call("bank_m1", "What are the account number and the routing number?",
         f"The account number is {one_by_one('98765432', 4)}, and the routing number is "
         f"{one_by_one('021000021', 3)}.", [("account", "98765432"), ("routing", "021000021")]),
]


# Held out: other wordings, voices and groupings, written before any tuning on the set above and
# never tuned on (benchmarks/transcripts.py reports the two sets apart).
HELDOUT_CALLS = [
    Call("ho_card_groups_m4", "And the sixteen digit number on the front?",
         f"Yep, {one_by_one('4916382107445568')}.", [("card", "4916382107445568")], voice="en-us+m4", rate=160),
    Call("ho_card_pairs_gb", "Could you read me your card number?",
         f"Of course. {pairs('5105105105105100')}.", [("card", "5105105105105100")], voice="en-gb", rate=160),
    Call("ho_card_amex_m2", "Go ahead with the card whenever you like.",
         "Sure, three seven eight two, eight two two four six, three one zero zero zero five.",
         [("card", "378282246310005")], voice="en-us+m2", rate=165),
    Call("ho_card_visa_m7", "Which card would you like to use?",
         f"My visa, that's {one_by_one('4556730219488121')}.", [("card", "4556730219488121")], voice="en-us+m7",
         rate=170),
    Call("ho_ssn_groups_gb", "And the last thing, your social?",
         "It's oh seven eight, oh five, one one two oh.", [("ssn", "078051120")], voice="en-gb", rate=160),
    Call("ho_ssn_m7", "Can I get your SSN to verify the account?",
         "Sure. Five two four, three one, seven seven eight zero.", [("ssn", "524317780")], voice="en-us+m7"),
    Call("ho_phone_groups_m2", "What number can we reach you on?",
         "It's two one two, five five five, zero one four seven.", [("phone", "2125550147")], voice="en-us+m2"),
    Call("ho_phone_mixed_m4", "And your mobile, in case we get cut off?",
         "Seven one eight, five five five, twenty three, sixty one.", [("phone", "7185552361")],
         voice="en-us+m4", rate=170),
    Call("ho_phone_area_us", "What's the best callback number?",
         "Area code six one seven, then five five five, nine eight seven six.", [("phone", "6175559876")],
         voice="en-us", rate=165),
    Call("ho_email_underscore_m2", "What's your e-mail address?",
         "It's peter underscore wells at hotmail dot com.", [("email", "peter_wells@hotmail.com")],
         voice="en-us+m2"),
    Call("ho_email_spelled_us", "Could you spell that e-mail for me?",
         f"Sure, it's {spelled('tom')}, at gmail dot com.", [("email", "tom@gmail.com")], voice="en-us", rate=155),
    Call("ho_email_spelled_gb", "Spell the address for me, please.",
         f"{spelled('jane')}, dot, {spelled('doe')}, at yahoo dot com.", [("email", "jane.doe@yahoo.com")],
         voice="en-gb", rate=160),
]


def synth(text: str, voice: str, rate: int, tmp: Path, tag: str) -> np.ndarray:
    raw, wav = tmp / f"{tag}.raw.wav", tmp / f"{tag}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-a", "100", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(SR), "-e", "floating-point", "-b", "32", str(wav)], check=True)
    x, _ = sf.read(wav, dtype="float32")
    active = x[np.abs(x) > 1e-3]
    rms = float(np.sqrt(np.mean(active ** 2))) if active.size else 1.0
    return (x * (10 ** (RMS_DBFS / 20) / rms)).astype(np.float32)


def render(call: Call, out_dir: Path, tmp: Path, rng: np.random.Generator) -> dict:
    """Write one call's WAV; returns its label entry (turn times and entities)."""
    turns = [(call.agent, call.customer), *call.followups]
    agent, customer, t = [], [], 0.5
    label_turns = []
    for i, (a_text, c_text) in enumerate(turns):
        a = synth(a_text, "en-us", 165, tmp, f"{call.name}-a{i}")
        c = synth(c_text, call.voice, call.rate, tmp, f"{call.name}-c{i}")
        agent.append((t, a))
        t += len(a) / SR + GAP_S
        customer.append((t, c))
        label_turns.append({"role": "customer", "start_s": round(t, 3), "end_s": round(t + len(c) / SR, 3),
                            "text": c_text})
        t += len(c) / SR + GAP_S
    n = int((t + 1.0) * SR)
    out = np.zeros((n, 2), dtype=np.float32)
    for ch, parts in ((0, agent), (1, customer)):
        for start, x in parts:
            i = int(start * SR)
            out[i:i + len(x), ch] += x
    out += rng.standard_normal(out.shape).astype(np.float32) * 10 ** (NOISE_DBFS / 20)
    assert np.max(np.abs(out)) < 0.99, call.name
    sf.write(out_dir / f"{call.name}.wav", out, SR, subtype="PCM_16")
    return {"file": f"{call.name}.wav", "set": "heldout" if call in HELDOUT_CALLS else "tune", "voice": call.voice,
            "rate": call.rate, "turns": label_turns,
            "entities": [{"type": k, "value": v} for k, v in call.entities]
            + [{"type": k, "value": v} for k, v in (("expiry", "0427"), ("cvv", "731")) if call.followups]}


def make(out_dir: Path, names: list[str] | None = None, heldout: bool = False) -> dict:
    """Render the calls (``CALLS``, also ``HELDOUT_CALLS`` with ``heldout``, or ``names`` of
    either) into ``out_dir``; returns and writes the labels."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    labels = {}
    with tempfile.TemporaryDirectory() as tmp:
        for call in CALLS + (HELDOUT_CALLS if heldout or names else []):
            if names is None or call.name in names:
                labels[call.name] = render(call, out_dir, Path(tmp), rng)
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=1))
    return labels


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / ".cache" / "pii_fixtures"
    for name, lab in make(target, heldout=True).items():
        print(name, [e["type"] for e in lab["entities"]])
