#!/usr/bin/env python3
"""Render the key-phrase fixture calls (benchmarks/transcripts.py, section ``models``).

    python audio_fixtures/make_keyphrase_fixtures.py [OUT_DIR]     # default .cache/keyphrase_fixtures

The phrases that drive coaching prompts — hold requests, policy recitals, "calm down", threats
to cancel or escalate, repeated complaints, apologies, repeating back, offers — each in several
wordings unlike the lexicon's own examples ("let me place you on a brief hold", "bear with me a
moment while I look into it"), said in a calm and in a raised (louder, higher, faster) voice,
by several espeak-ng voices, on 8 kHz telephone-rate stereo calls (L = agent, R = customer).
The other party answers each key phrase with a short neutral line.

Two sets with different wordings and voices: ``tune`` (what the fuzzy matcher and the ASR
vocabulary were tuned on) and ``heldout`` (written before the tuning and never looked at while
tuning; reported separately). ``labels.json`` lists, per call, the turns and the cue kind each
key-phrase turn must raise. The WAVs are not committed: they are rendered on demand
(deterministic for one espeak-ng/sox version), with the same synthesis, levels and noise floor
as ``make_fixtures.py``.

Needs ``espeak-ng`` and ``sox`` on PATH.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
RATE_HZ = 8000
SEED = 1302

# (cue kind, role, wording); each wording is rendered calm and raised
TUNE = [
    ("hold_request", "agent", "Let me place you on a brief hold."),
    ("hold_request", "agent", "Let me put you on hold while I check."),
    ("hold_request", "agent", "Bear with me a moment while I look into it."),
    ("policy", "agent", "I'm afraid our policy does not allow refunds after thirty days."),
    ("policy", "agent", "Unfortunately there's nothing I can do about that."),
    ("calm_down", "agent", "Sir, you need to calm down."),
    ("calm_down", "agent", "There is no need to shout at me."),
    ("threat_cancel", "customer", "If this is not fixed today, I'm cancelling my subscription."),
    ("threat_cancel", "customer", "I want to close my account right now."),
    ("threat_escalate", "customer", "Put me through to your manager."),
    ("threat_escalate", "customer", "I will be calling my lawyer about this."),
    ("repetition", "customer", "I already told you the order number."),
    ("repetition", "customer", "This is the third time I have called about this."),
    ("apology", "agent", "I'm so sorry for all the trouble."),
    ("apology", "agent", "I do apologize for the long wait."),
    ("repeat_back", "agent", "Just to confirm, the parcel never arrived?"),
    ("repeat_back", "agent", "So you're saying you were billed twice."),
    ("offer", "agent", "What I can do is send you a replacement today."),
    ("offer", "agent", "I can refund the delivery fee for you."),
]
HELDOUT = [
    ("hold_request", "agent", "I'm going to put you on hold for two minutes."),
    ("hold_request", "agent", "Could you hold please, I need to ask my team lead."),
    ("policy", "agent", "That's company policy, I'm afraid."),
    ("policy", "agent", "You have to understand that the system won't let me change it."),
    ("calm_down", "agent", "Madam, please lower your voice."),
    ("calm_down", "agent", "Okay, just relax and let me explain."),
    ("threat_cancel", "customer", "I'll take my business to another company."),
    ("threat_cancel", "customer", "I'm going to dispute the charge with my bank."),
    ("threat_escalate", "customer", "I want to file a complaint about you."),
    ("threat_escalate", "customer", "Get me a supervisor on the line."),
    ("repetition", "customer", "How many times do I have to explain this?"),
    ("repetition", "customer", "Like I said, the engineer never came."),
    ("apology", "agent", "My apologies, that was our mistake."),
    ("apology", "agent", "Sorry about that, let me look again."),
    ("repeat_back", "agent", "Let me make sure I have this right."),
    ("repeat_back", "agent", "If I understand correctly, the router stopped working."),
    ("offer", "agent", "I'll make sure a technician calls you tomorrow."),
    ("offer", "agent", "I can offer you one month free of charge."),
]
REPLIES = {"agent": ["I see.", "Okay.", "Right, one moment.", "I understand."],
           "customer": ["Okay.", "Fine.", "Alright.", "Yes."]}
# (set, agent voice, customer voice): each set's wordings are rendered once per voice pair
VOICES = {"tune": [("en-us", "en-us+m1"), ("en-gb", "en-us+m3")],
          "heldout": [("en-us+m2", "en-us+m4"), ("en-gb-x-rp", "en-us+m7")]}
PHRASES = {"tune": TUNE, "heldout": HELDOUT}


def _fixtures_module():
    spec = importlib.util.spec_from_file_location("make_fixtures", HERE / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def calls() -> dict[str, dict]:
    """Call name -> ``{"set", "voices", "turns": [(role, text, style, kind or None)]}``."""
    out = {}
    for set_name, phrases in PHRASES.items():
        for v, (agent_voice, customer_voice) in enumerate(VOICES[set_name]):
            for style in ("calm", "angry"):
                turns = []
                for i, (kind, role, text) in enumerate(phrases):
                    other = "customer" if role == "agent" else "agent"
                    # the raised voice is the one saying the key phrase
                    turns.append((role, text, style, kind))
                    turns.append((other, REPLIES[other][i % len(REPLIES[other])], "calm", None))
                out[f"{set_name}_{v}_{'raised' if style == 'angry' else 'calm'}"] = {
                    "set": set_name, "voices": [agent_voice, customer_voice], "turns": turns}
    return out


def make(out_dir: Path, names: list[str] | None = None) -> dict:
    """Render the calls (all, or ``names``) into ``out_dir``; returns and writes the labels."""
    fx = _fixtures_module()
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = {}
    with tempfile.TemporaryDirectory(prefix="voicemon_keyphrases_") as td:
        tmp = Path(td)
        for name, spec in calls().items():
            if names is not None and name not in names:
                continue
            agent_voice, customer_voice = spec["voices"]
            turns = [fx.Turn(role, text, style=style, gap=0.7, tag=kind,
                             voice=agent_voice if role == "agent" else customer_voice)
                     for role, text, style, kind in spec["turns"]]
            rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
            audio = fx.render(turns, tmp, rng, name)
            wide = tmp / f"{name}_16k.wav"
            sf.write(wide, audio, fx.SR, subtype="FLOAT")
            subprocess.run(["sox", "-D", str(wide), "-r", str(RATE_HZ), "-b", "16", "-e", "signed-integer",
                            str(out_dir / f"{name}.wav")], check=True)
            labels[name] = {
                "file": f"{name}.wav", "set": spec["set"], "voices": spec["voices"],
                "style": "raised" if "raised" in name else "calm",
                "turns": [{"role": t.role, "start_s": t.start_s, "end_s": t.end_s, "text": t.text,
                           "kind": t.tag} for t in turns],
            }
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=1))
    return labels


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / ".cache" / "keyphrase_fixtures"
    for name, lab in make(target).items():
        print(name, sum(1 for t in lab["turns"] if t["kind"]), "key phrases")
