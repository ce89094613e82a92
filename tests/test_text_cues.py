import pytest

from voicemon.escalation.text_cues import TextCueDetector, load_lexicon
from voicemon.events import TranscriptUpdate, Word


def update(role: str, text: str, final: bool = True, t0: float = 10.0) -> TranscriptUpdate:
    words = tuple(Word(start=t0 + i * 0.3, end=t0 + i * 0.3 + 0.25, text=w) for i, w in enumerate(text.split()))
    return TranscriptUpdate(t=t0 + 5, role=role, utterance_id="u", start=t0, end=t0 + 3, text=text, words=words, final=final)


@pytest.fixture(scope="module")
def detector():
    return TextCueDetector(load_lexicon())


@pytest.mark.parametrize("role,text,kinds", [
    ("customer", "This is ridiculous!", {"anger"}),
    ("customer", "I already told you my account number.", {"repetition"}),
    ("customer", "This is the third time I'm calling.", {"repetition"}),
    ("customer", "I want to cancel my account.", {"threat_cancel"}),
    ("customer", "I'm cancelling today.", {"threat_cancel"}),
    ("customer", "Get me your supervisor.", {"threat_escalate"}),
    ("customer", "What the hell is this?", {"profanity"}),
    ("agent", "Sir, please calm down.", {"calm_down"}),
    ("agent", "I'm going to put you on hold.", {"hold_request"}),
    ("agent", "It's our policy, there's nothing I can do.", {"policy"}),
    ("agent", "I'm so sorry, I understand how frustrating that is.", {"apology", "empathy"}),
    ("agent", "Here's what I can do: I'll refund it today.", {"offer"}),
    ("customer", "Okay, thank you, I appreciate that.", {"thanks"}),
    ("customer", "Hi, I'd like to ask about my delivery date.", set()),
    ("agent", "Thank you for calling, how can I help?", {"thanks"}),
    # Phrases in context (meter v3): negation, news that is not a threat, ultimatums, insults.
    ("customer", "I'm not angry, just tired of this.", set()),
    ("customer", "I'm not frustrated with you, it's fine.", set()),
    ("customer", "My flight was cancelled yesterday.", set()),
    ("customer", "I don't want to cancel, I just want it fixed.", set()),
    ("customer", "You better do something because I am about to lose it.", {"ultimatum", "losing_control"}),
    ("customer", "I'm sick of this.", {"anger"}),
    ("customer", "You're useless, you idiot.", {"insult"}),
    ("customer", "This damn printer jammed again.", {"profanity"}),
    ("customer", "I'm so worried, I don't know what to do.", {"distress"}),
    ("mixed", "I'm calling about my credit card bill.", set()),
    ("agent", "I'll put a credit on your account.", {"offer"}),
])
def test_phrases_map_to_kinds(detector, role, text, kinds):
    assert {c.kind for c in detector.feed(update(role, text))} == kinds


def test_speaker_gating_and_targets(detector):
    # "calm down" is an agent behaviour: said by the customer it is not a calm_down cue.
    assert not [c for c in detector.feed(update("customer", "calm down")) if c.kind == "calm_down"]
    cue = next(c for c in detector.feed(update("agent", "please hold for a moment")) if c.kind == "hold_request")
    assert cue.role == "agent" and cue.target == "customer" and cue.weight > 0
    # On a mono call every category applies and the cue moves the mixed meter.
    mono = detector.feed(update("mixed", "I will put you on hold"))
    assert [c.target for c in mono if c.kind == "hold_request"] == ["mixed"]


def test_cue_time_is_first_matched_word(detector):
    cues = detector.feed(update("customer", "well I already told you twice", t0=20.0))
    rep = next(c for c in cues if c.kind == "repetition")
    assert rep.t == pytest.approx(20.6)  # "already" is the third word
    assert rep.evidence == "already told you"


def test_interim_updates_give_no_cues(detector):
    assert detector.feed(update("customer", "this is ridiculous", final=False)) == []


def test_bad_lexicon_is_a_config_error(tmp_path):
    from voicemon.errors import ConfigError

    bad = tmp_path / "lex.toml"
    bad.write_text('[anger]\nspeaker = "boss"\nweight = 1\nphrases = ["x"]\n')
    with pytest.raises(ConfigError, match="anger"):
        load_lexicon(str(bad))
    with pytest.raises(ConfigError):
        load_lexicon(str(tmp_path / "missing.toml"))


def test_an_intensified_phrase_counts_more(detector):
    plain = detector.feed(update("customer", "I am frustrated right now"))
    boosted = detector.feed(update("customer", "I am extremely frustrated right now"))
    assert [c.kind for c in plain] == [c.kind for c in boosted] == ["anger"]
    assert boosted[0].weight > plain[0].weight and boosted[0].evidence == "extremely frustrated"


@pytest.mark.parametrize("extra", ['unless = "cancel*"', 'unless = [1, 2]', 'unless = [""]', 'negatable = "yes"',
                                   'unless = ["' + "a " * 5000 + 'b"]'])
def test_hostile_context_rules_are_a_config_error_or_harmless(tmp_path, extra):
    from voicemon.errors import ConfigError

    bad = tmp_path / "lex.toml"
    bad.write_text(f'[anger]\nweight = 0.9\nphrases = ["ridiculous"]\n{extra}\n')
    if extra.startswith('unless = ["a '):  # a huge but well-formed veto phrase loads and matches nothing
        detector = TextCueDetector(load_lexicon(str(bad)))
        assert [c.kind for c in detector.feed(update("customer", "this is ridiculous"))] == ["anger"]
        return
    with pytest.raises(ConfigError, match=r"\[anger\]"):
        load_lexicon(str(bad))


def test_hostile_v3_fusion_values_are_a_config_error(tmp_path):
    from importlib import resources

    from voicemon.errors import ConfigError
    from voicemon.escalation.meter import load_meter_params

    text = resources.files("voicemon.models").joinpath("meter.toml").read_text()
    for bad_text in (text.replace("voice_cap = 4.0", 'voice_cap = "\\u0000"'),
                     text.replace("voice_cap = 4.0\n", ""),
                     text.replace("enter_delay_s = 0.5", "enter_delay_s = [1]")):
        bad = tmp_path / "meter.toml"
        bad.write_text(bad_text)
        with pytest.raises(ConfigError, match="meter parameters"):
            load_meter_params(str(bad))
