"""Key phrases found despite one misheard word (voicemon/escalation/fuzzy_phrases.py)."""

from __future__ import annotations

import pytest

from voicemon.escalation.fuzzy_phrases import fuzzy_matches, phonetic, sounds_like
from voicemon.escalation.text_cues import TextCueDetector, load_lexicon
from voicemon.events import TranscriptUpdate, Word


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


def update(text: str, role: str = "agent", probability: float = 0.6, sure: tuple[str, ...] = ()) -> TranscriptUpdate:
    words = tuple(Word(start=i * 0.4, end=i * 0.4 + 0.3, text=w,
                       probability=0.99 if w.strip(".,?!").lower() in sure else probability)
                  for i, w in enumerate(text.split()))
    return TranscriptUpdate(t=5.0, role=role, utterance_id="u1", start=0.0, end=len(words) * 0.4, text=text,
                            words=words, final=True)


def kinds(lexicon, text, fuzzy=True, **kw):
    return [(c.kind, c.evidence) for c in TextCueDetector(lexicon, fuzzy=fuzzy).feed(update(text, **kw))]


def test_phonetic_codes():
    assert phonetic("calm") == phonetic("come") == "KM"
    assert phonetic("hold") == "HLT" and phonetic("fold") == "FLT"
    assert phonetic("close") == "KLS" and phonetic("clone") == "KLN"
    assert phonetic("apologize") == "APLJS"
    assert sounds_like("clone", "close") and sounds_like("come", "calm")
    assert not sounds_like("fold", "hold")  # another first sound
    assert not sounds_like("build", "close")
    assert not sounds_like("doing", "telling")  # "keep doing" on a civil call is not "keep telling"


def test_one_misheard_sound_alike_word_is_found_and_says_what_was_heard(lexicon):
    assert kinds(lexicon, "You need to come down.") == [("calm_down", "come down (≈ calm down)")]
    assert kinds(lexicon, "I want to clone my account right now.", role="customer") == [
        ("threat_cancel", "clone my account (≈ close my account)")]


def test_one_short_inserted_word_is_found(lexicon):
    assert kinds(lexicon, "Bear it with me a moment while I look into it.") == [
        ("hold_request", "bear it with me (≈ bear with me)")]


def test_fuzzy_off_finds_only_exact_phrases(lexicon):
    assert kinds(lexicon, "You need to come down.", fuzzy=False) == []
    assert kinds(lexicon, "You need to calm down.", fuzzy=False) == [("calm_down", "calm down")]


def test_a_confidently_heard_word_is_not_replaced(lexicon):
    assert kinds(lexicon, "I can come down to the shop tomorrow.", sure=("come",)) == []


def test_guards_against_false_matches(lexicon):
    # another first sound ("fold" is not "hold"), two words wrong, single-word phrases, short anchors
    assert kinds(lexicon, "Let me put you on fold.") == []
    assert kinds(lexicon, "let me play you on a read poll") == []
    assert kinds(lexicon, "I'm sorta busy", role="agent") == []
    assert fuzzy_matches(["you", "sad"], [0.5, 0.5], "you said") == []  # no 4-letter word heard exactly
    # the exact phrase is not reported twice
    assert kinds(lexicon, "Please calm down.") == [("calm_down", "calm down")]


def test_context_rules_still_apply(lexicon):
    # negatable category: "don't want to clone my account" is no threat
    assert kinds(lexicon, "I don't want to clone my account.", role="customer") == []
    # the speaker rule: a customer saying "come down" is no agent calm-down
    assert kinds(lexicon, "Don't tell me to come down.", role="customer") == []


def test_fuzzy_must_be_a_boolean(tmp_path):
    from voicemon.errors import ConfigError

    bad = tmp_path / "lexicon.toml"
    bad.write_text('[hold_request]\nspeaker = "agent"\nweight = 0.4\nfuzzy = "yes"\nphrases = ["on hold"]\n')
    with pytest.raises(ConfigError, match="fuzzy must be true or false"):
        load_lexicon(str(bad))


def test_fuzzy_cues_weigh_half(lexicon):
    exact = TextCueDetector(lexicon, fuzzy=True).feed(update("You need to calm down."))[0]
    fuzzy = TextCueDetector(lexicon, fuzzy=True).feed(update("You need to come down."))[0]
    assert fuzzy.weight == pytest.approx(exact.weight / 2)
