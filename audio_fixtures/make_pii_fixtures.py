#!/usr/bin/env python3
"""Render the PII fixture calls (redaction tests and benchmarks/transcripts.py).

    python audio_fixtures/make_pii_fixtures.py [OUT_DIR]     # default .cache/pii_fixtures

Each call is a short 16 kHz stereo WAV (L = agent, R = customer): the agent asks for a detail,
the customer reads it out — card numbers digit by digit and in pairs, SSNs, phone numbers,
e-mail addresses spoken and spelled — in several espeak-ng voices and rates, in two sets:
``CALLS`` and ``MORE_CALLS`` (what the rules were tuned on), ``HELDOUT_CALLS`` (other wordings and
voices, written before the first tuning; labelled ``"set": "heldout"``, later partly seen) and
``HELDOUT2_CALLS`` (more e-mail, expiry and CVV wordings, written together with ``MORE_CALLS``;
``"set": "heldout2"``, looked at after its first measurement) and ``HELDOUT3_CALLS`` (written
then, never looked at while the rules were written; ``"set": "heldout3"``). Calls without PII
(``entities`` empty) measure false matches on "at" and "dot" in ordinary speech. A ``" | "`` in a
customer line is a pause long enough to end the utterance. ``labels.json``
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


PAUSE_S = 1.2
"""A ``" | "`` in a customer line: this much silence (longer than the segmenter's end of utterance)."""


@dataclass
class Call:
    name: str
    agent: str
    customer: str
    entities: list[tuple[str, str]]
    voice: str = "en-us+m1"
    rate: int = 165
    followups: list[tuple[str, str]] = field(default_factory=list)  # more (agent, customer) turns
    extra: list[tuple[str, str]] = field(default_factory=list)  # entities said in the followups


CALLS = [
    Call("card_single_m1", "Can I take the long number on the card, please?",
         f"Sure, it's {one_by_one('4532015112830366')}.", [("card", "4532015112830366")]),
    Call("card_pairs_us", "What's the card number?",
         f"It is {pairs('5425233430109903')}.", [("card", "5425233430109903")], voice="en-us", rate=160),
    Call("card_cvv_expiry_m3", "Please read me the card number.",
         f"Okay. {one_by_one('4111111111111111')}.", [("card", "4111111111111111")], voice="en-us+m3", rate=170,
         followups=[("And the expiry date and the security code on the back?",
                     "It expires oh four twenty seven, and the code is seven three one.")],
         extra=[("expiry", "0427"), ("cvv", "731")]),
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


# Tune additions (issue 13, part 4): more e-mail wordings, expiry and CVV wordings, and calls with
# "at"/"dot" in ordinary speech and no PII at all.
MORE_CALLS = [
    Call("email_dots_gb", "What's your e-mail address?",
         "My email is sarah dot jones at gmail dot com.", [("email", "sarah.jones@gmail.com")], voice="en-gb"),
    Call("email_digits_couk_m4", "And an e-mail for the receipt?",
         "It's mike seventy two at hotmail dot co dot uk.", [("email", "mike72@hotmail.co.uk")],
         voice="en-us+m4", rate=160),
    Call("email_dash_domain_us", "Which e-mail should the invoice go to?",
         "Yeah, it's info at bluebird dash plumbing dot com.", [("email", "info@bluebird-plumbing.com")],
         voice="en-us", rate=165),
    Call("email_spelled_m2", "Can you spell your e-mail for me?",
         f"Sure, {spelled('david')}, at icloud dot com.", [("email", "david@icloud.com")], voice="en-us+m2",
         rate=150),
    Call("email_underscore_m7", "What e-mail do you want us to use?",
         "It's anna underscore k at outlook dot com.", [("email", "anna_k@outlook.com")], voice="en-us+m7"),
    Call("email_fast_m1", "And your e-mail address?",
         "You can use rob dot miller at aol dot com.", [("email", "rob.miller@aol.com")], rate=180),
    Call("email_initials_m3", "What's the e-mail on the account?",
         "My e-mail's j h at comcast dot net.", [("email", "jh@comcast.net")], voice="en-us+m3"),
    Call("email_pause_us", "Go ahead with the e-mail.",
         "It's lisa dot green | at yahoo dot com.", [("email", "lisa.green@yahoo.com")], voice="en-us", rate=160),
    Call("card_expiry_cvv_gb", "Can I have the card number?",
         f"Yes, {one_by_one('6011000990139424')}.", [("card", "6011000990139424")], voice="en-gb", rate=165,
         followups=[("Thank you. And the expiry date?", "Twelve twenty six."),
                    ("And the three digits on the back?", "Four oh nine.")],
         extra=[("expiry", "1226"), ("cvv", "409")]),
    Call("card_mmyy_cvv_us", "What's the card number, please?",
         f"It's {pairs('5200828282828210')}.", [("card", "5200828282828210")], voice="en-us", rate=160,
         followups=[("When does it expire?", "Oh nine slash twenty eight."), ("And the CVV?", "Two two five.")],
         extra=[("expiry", "0928"), ("cvv", "225")]),
    Call("no_pii_at_home_m1", "Where are you calling from today?",
         "I'm at home at the moment, I was looking at the bill and the dot next to the total.", []),
    Call("no_pii_at_work_gb", "Is now a good time?",
         "Not really, I'm at work. Can you call back at five? I'll be at my desk then.", [], voice="en-gb"),
]


# Held out (issue 13, part 4): written with MORE_CALLS, before any rule change, and never looked at
# (transcripts or scores) while the rules were written.
HELDOUT2_CALLS = [
    Call("ho2_email_couk_gb", "What's the best e-mail for you?",
         "Sure, it's brian dot walsh at yahoo dot co dot uk.", [("email", "brian.walsh@yahoo.co.uk")],
         voice="en-gb", rate=170),
    Call("ho2_email_dash_m3", "Where should we send the confirmation?",
         "The address is support at acme dash tools dot com.", [("email", "support@acme-tools.com")],
         voice="en-us+m3"),
    Call("ho2_email_spelled_m4", "Could you spell the e-mail, please?",
         f"{spelled('chris')}, at gmail dot com.", [("email", "chris@gmail.com")], voice="en-us+m4", rate=160),
    Call("ho2_email_underscore_m1", "And the e-mail address?",
         "It's laura underscore b at outlook dot com.", [("email", "laura_b@outlook.com")], rate=175),
    Call("ho2_email_digits_us", "What e-mail shall I put down?",
         "My email is nick ninety nine at hotmail dot com.", [("email", "nick99@hotmail.com")], voice="en-us"),
    Call("ho2_email_proton_gb", "Can I take an e-mail address?",
         "It's emma dot white at protonmail dot com.", [("email", "emma.white@protonmail.com")], voice="en-gb",
         rate=160),
    Call("ho2_email_net_m7", "Do you have an e-mail?",
         "Yes, paul at verizon dot net.", [("email", "paul@verizon.net")], voice="en-us+m7", rate=165),
    Call("ho2_email_pause_m2", "And your e-mail?",
         "It's olivia dot brown | at gmail dot com.", [("email", "olivia.brown@gmail.com")], voice="en-us+m2"),
    Call("ho2_card_month_m4", "Which card are you paying with?",
         f"The visa, {one_by_one('4000056655665556')}.", [("card", "4000056655665556")], voice="en-us+m4",
         rate=165,
         followups=[("And when does it expire?", "It's valid until March twenty twenty seven."),
                    ("And the security code?", "Eight one two.")],
         extra=[("expiry", "032027"), ("cvv", "812")]),
    Call("ho2_card_amex_m2", "Read me the card number when you're ready.",
         "Three seven one four, four nine six three five, three nine eight four three one.",
         [("card", "371449635398431")], voice="en-us+m2", rate=160,
         followups=[("Expiry and security code, please.", "Expires zero six, twenty nine, and the code's "
                     "five five zero one.")],
         extra=[("expiry", "0629"), ("cvv", "5501")]),
    Call("ho2_no_pii_m3", "How can I help?",
         "I was at the shop yesterday and looked at the dot matrix printer, it stopped at page two.", [],
         voice="en-us+m3"),
]


# Held out a third time: written after the heldout2 figures were first measured and before anyone
# looked at what tiny.en made of heldout2; never looked at while the rules were written.
HELDOUT3_CALLS = [
    Call("ho3_email_initials_m1", "What's your e-mail, please?",
         "It's m dot k dot patel at gmail dot com.", [("email", "m.k.patel@gmail.com")], rate=160),
    Call("ho3_email_digits_gb", "And an e-mail address?",
         "Yes, it's george one two three at yahoo dot com.", [("email", "george123@yahoo.com")], voice="en-gb",
         rate=165),
    Call("ho3_email_live_m3", "Which e-mail should we use?",
         "My e-mail is sam underscore lee at live dot com.", [("email", "sam_lee@live.com")], voice="en-us+m3"),
    Call("ho3_email_spelled_dot_us", "Could you spell the e-mail for me?",
         f"Sure, it's {spelled('kevin')}, dot, R, at outlook dot com.", [("email", "kevin.r@outlook.com")],
         voice="en-us", rate=150),
    Call("ho3_email_couk_dash_gb", "What e-mail address can we send it to?",
         "It's hello at green dash garden dot co dot uk.", [("email", "hello@green-garden.co.uk")], voice="en-gb",
         rate=175),
    Call("ho3_email_icloud_m7", "Do you have an e-mail for the receipt?",
         "Yeah, it's tina at icloud dot com.", [("email", "tina@icloud.com")], voice="en-us+m7", rate=170),
    Call("ho3_email_initial_couk_m2", "And the e-mail?",
         "Use d dot fox at hotmail dot co dot uk.", [("email", "d.fox@hotmail.co.uk")], voice="en-us+m2"),
    Call("ho3_email_pause_m4", "Okay, the e-mail address?",
         "It's alex dot morgan | at outlook dot com.", [("email", "alex.morgan@outlook.com")], voice="en-us+m4"),
    Call("ho3_card_slash_m1", "Go ahead with the card number.",
         f"Okay, {one_by_one('4000002760003184')}.", [("card", "4000002760003184")], rate=165,
         followups=[("And the expiry date?", "Oh two slash thirty."), ("And the CVV?", "Three three eight.")],
         extra=[("expiry", "0230"), ("cvv", "338")]),
    Call("ho3_no_email_us", "Do you have an e-mail address?",
         "No, sorry, I don't use e-mail at all. Just send it to the house.", [], voice="en-us"),
    Call("ho3_no_pii_at_gb", "When can you come in?",
         "I'll be at the store at noon, then at my mum's, so any time after that.", [], voice="en-gb"),
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
        pieces = [synth(part.strip(), call.voice, call.rate, tmp, f"{call.name}-c{i}-{k}")
                  for k, part in enumerate(c_text.split(" | "))]
        pause = np.zeros(int(PAUSE_S * SR), dtype=np.float32)
        c = np.concatenate([x for piece in pieces for x in (pause, piece)][1:])
        agent.append((t, a))
        t += len(a) / SR + GAP_S
        customer.append((t, c))
        label_turns.append({"role": "customer", "start_s": round(t, 3), "end_s": round(t + len(c) / SR, 3),
                            "text": c_text.replace(" | ", " ")})
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
    set_name = ("heldout" if call in HELDOUT_CALLS else "heldout2" if call in HELDOUT2_CALLS
                else "heldout3" if call in HELDOUT3_CALLS else "tune")
    return {"file": f"{call.name}.wav", "set": set_name, "voice": call.voice,
            "rate": call.rate, "turns": label_turns,
            "entities": [{"type": k, "value": v} for k, v in call.entities + call.extra]}


def make(out_dir: Path, names: list[str] | None = None, heldout: bool = False) -> dict:
    """Render the calls (``CALLS`` and ``MORE_CALLS``, also the held-out sets with ``heldout``, or
    ``names`` of any) into ``out_dir``; returns and writes the labels.

    The noise of each call depends on the calls rendered before it: the lists are rendered in
    the order of their first version, then the later ones, so an added call changes no older one.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    labels = {}
    with tempfile.TemporaryDirectory() as tmp:
        everything = heldout or names
        held = [*HELDOUT_CALLS, *MORE_CALLS, *HELDOUT2_CALLS, *HELDOUT3_CALLS] if everything else MORE_CALLS
        for call in CALLS + held:
            if names is None or call.name in names:
                labels[call.name] = render(call, out_dir, Path(tmp), rng)
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=1))
    return labels


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / ".cache" / "pii_fixtures"
    for name, lab in make(target, heldout=True).items():
        print(name, [e["type"] for e in lab["entities"]])
