"""PII redaction rules and the redaction stage (table-driven; word lists as Whisper writes them).

Several inputs are verbatim outputs of the bundled tiny.en model on espeak-ng speech (e.g.
"Free66" for "three six six", "-I -O -4 -27" for "oh four twenty seven").
"""

from __future__ import annotations

import dataclasses

import pytest

from redact_helpers import redacted
from voicemon.config import RedactOptions, load
from voicemon.errors import ConfigError
from voicemon.events import Word
from voicemon.redact.rules import RuleOptions, find_spans, luhn_ok, ssn_ok
from voicemon.redact.spoken import digit_runs
from voicemon.redact.stage import Redactor, redaction_counts


@pytest.mark.parametrize("words,digits", [
    ("four four seven one", ["4471"]),
    ("forty four seventy one", ["4471"]),
    ("double five oh four", ["5504"]),
    ("four hundred twelve", ["412"]),
    ("four hundred five", ["405"]),
    ("eight hundred", ["800"]),
    ("twenty twenty seven", ["2027"]),
    ("4,471 and 12", ["4471", "12"]),
    ("4 -1 -1 -1", ["4111"]),
    ("5 for 2", ["542"]),  # a homophone between digits is a digit
    ("I moved it to 5", ["5"]),  # ... but not before the first one
    ("Free66", ["366"]),
    ("nineteen", ["19"]),
    ("three times, then 5 minutes", ["3", "5"]),
])
def test_spoken_digits_are_normalised(words, digits):
    assert [r.digits for r in digit_runs(words.split())] == digits


def test_each_digit_remembers_its_word():
    run = digit_runs("is forty four seventy one".split())[0]
    assert run.word_of == (1, 2, 3, 4)
    assert (run.first_word, run.last_word) == (1, 4)


def test_money_is_not_an_identifier():
    assert digit_runs(["$45.99"])[0].money
    assert redacted("it came to $1,234,567.89 in the end") == "it came to $1,234,567.89 in the end"


def test_checksums():
    assert luhn_ok("4532015112830366") and not luhn_ok("4532015112830367")
    assert luhn_ok("378282246310005")  # Amex test number
    assert ssn_ok("123456789") and not ssn_ok("666123456") and not ssn_ok("123006789") and not ssn_ok("923456789")


@pytest.mark.parametrize("text,expected", [
    # cards: Luhn-valid in any context, or a long run after a card keyword (ASR broke the checksum)
    ("My current number is 4532 0151 1283 0366", "My current number is [CARD]"),
    ("My card number is 4532 0151 12830 Free66", "My card number is [CARD]"),
    ("it's four five three two zero one five one one two eight three zero three six six thanks",
     "it's [CARD] thanks"),
    ("Sure, it's 4 ,5320151, 1 ,2803 036, X -I -O -4 -27 and the code on the back is 7 -3 -1.",
     "Sure, it's [CARD] X -I [EXPIRY] and the code on the back is [CVV]"),
    ("the card is 4532015112830366 expiry oh four twenty seven", "the card is [CARD] expiry [EXPIRY]"),
    ("the card is 4532015112830366 and 0427 then 731", "the card is [CARD] and [EXPIRY] then [CVV]"),
    ("visa ending expires April twenty twenty seven", "visa ending expires [EXPIRY]"),
    # SSN, phone, bank
    ("My social security number is 1, 2, 3, 4, 5, 6, 7, 8, 9.", "My social security number is [SSN]"),
    ("my social is 123-45-6789", "my social is [SSN]"),
    ("You can call me Macon 5 5 2 1 2 4 4 7 1", "You can call me Macon [PHONE]"),
    ("it's five five five, two one two, four four seven one okay", "it's [PHONE] okay"),
    ("my phone is 555 Macon 212 4471", "my phone is [PHONE]"),
    ("The account number is i87654321 and routing number is 021000021.",
     "The account number is [ACCOUNT] and routing number is [ROUTING]"),
    ("my pin is 4 4 7 1", "my pin is [PIN]"),
    ("order reference 99812377 please", "order reference [NUMBER] please"),
    # e-mail, written and spoken, spelled out
    ("it's john.smith@gmail.com okay", "it's [EMAIL] okay"),
    ("My email is john dot smith at gmail dot com.", "My email is [EMAIL]"),
    ("That's miss at gmail .com.", "That's [EMAIL]"),
    ("That's J -H -N -S -M -I -H. At the Avou .com.", "That's [EMAIL]"),
    ("send it to jane underscore doe 42 at outlook.com please", "send it to [EMAIL] please"),
])
def test_pii_is_found(text, expected):
    assert redacted(text) == expected


@pytest.mark.parametrize("text", [
    "I already told you three times, this is the third time I call",
    "it cost $45.99 and I waited 20 minutes on 5 calls",
    "I'll be at home at 5 30 tomorrow",
    "we are at the office dot dot dot I mean the branch",
    "the 2024 model, 300 horsepower, 12 months warranty",
    "please hold for 2 minutes while I check your account",
    "my account was charged twice in June",
    "Call me back after 4",
])
def test_civil_speech_is_left_alone(text):
    assert redacted(text) == text


def test_a_trailing_run_is_redacted_sooner():
    assert redacted("so the first digits are 4532 01") == "so the first digits are 4532 01"
    assert redacted("so the first digits are 4532 01", trailing=True) == "so the first digits are [NUMBER]"
    assert redacted("my card number is 4532", trailing=True) == "my card number is [CARD]"
    # an utterance that is mostly a number being read out
    assert redacted("right 6 0 1 1", trailing=True) == "right [NUMBER]"
    assert redacted("after 4", trailing=True) == "after 4"


def test_entities_can_be_chosen():
    opts = RuleOptions(entities=frozenset({"email"}))
    words = "card 4532015112830366 mail jo at aol dot com".split()
    assert [s.label for s in find_spans(words, opts)] == ["EMAIL"]


def words_of(text: str, t0: float) -> list[Word]:
    return [Word(start=round(t0 + 0.3 * i, 3), end=round(t0 + 0.3 * i + 0.25, 3), text=w)
            for i, w in enumerate(text.split())]


def test_stage_keeps_word_times_and_carries_context_across_utterances():
    red = Redactor(RedactOptions())
    first = red.feed("customer", words_of("my card number is 4532 0151", 0.0))
    assert [w.text for w in first] == ["my", "card", "number", "is", "[CARD]"]
    assert (first[-1].start, first[-1].end) == (1.2, 1.75)  # the span keeps its words' times
    second = red.feed("customer", words_of("1283 0366 thanks", 3.0))
    assert [w.text for w in second] == ["[CARD]", "thanks"]
    # the customer's card is the context of the agent's next words too (reading digits back)
    assert [w.text for w in red.feed("agent", words_of("1283 thanks", 4.0))] == ["[EXPIRY]", "thanks"]
    # e-mail split across utterances
    red.feed("customer", words_of("it's john dot smith", 6.0))
    assert [w.text for w in red.feed("customer", words_of("at gmail dot com", 8.0))] == ["[EMAIL]"]


def test_the_other_partys_question_is_context():
    red = Redactor(RedactOptions())
    assert [w.text for w in red.feed("customer", words_of("I said 6 0 1", 0.0))] == ["I", "said", "6", "0", "1"]
    red.feed("agent", words_of("what is the card number", 2.0))
    assert [w.text for w in red.feed("customer", words_of("right 6 0 1 1", 4.0))] == ["right", "[CARD]"]
    # digits of two parties never join into one number
    red2 = Redactor(RedactOptions())
    red2.feed("agent", words_of("so 4532", 0.0))
    assert [w.text for w in red2.feed("customer", words_of("0151 okay", 2.0))] == ["0151", "okay"]


def test_tentative_text_does_not_change_the_context():
    red, plain = Redactor(RedactOptions()), Redactor(RedactOptions())
    interim = red.feed("customer", words_of("my card number is", 0.0), final=False)
    assert [w.text for w in interim] == ["my", "card", "number", "is"]
    # final text is the same with or without the interim look
    a = red.feed("customer", words_of("okay 4532", 2.0))
    b = plain.feed("customer", words_of("okay 4532", 2.0))
    assert a == b and [w.text for w in a] == ["okay", "4532"]


def test_context_expires_after_a_gap():
    red = Redactor(RedactOptions(carry_gap_s=5.0))
    red.feed("customer", words_of("my card number is", 0.0))
    assert [w.text for w in red.feed("customer", words_of("4532 thanks", 30.0))] == ["4532", "thanks"]


def test_redaction_can_be_turned_off():
    config = load(overrides={"redact": {"enabled": False}}, environ={})
    words = words_of("card 4532015112830366", 0.0)
    assert Redactor(config.redact).feed("customer", words) == words
    assert load(environ={"VOICEMON_REDACT_ENABLED": "0"}).redact.enabled is False


def test_unknown_entity_is_a_config_error():
    with pytest.raises(ConfigError, match="redact.entities"):
        load(overrides={"redact": {"entities": "card,passport"}}, environ={})


def test_counts_come_from_final_transcripts():
    red = Redactor(RedactOptions())
    words = red.feed("customer", words_of("card 4532015112830366 and 731 mail jo at aol dot com", 0.0))
    final = {"type": "transcript", "final": True, "words": [dataclasses.asdict(w) for w in words]}
    tentative = {**final, "final": False}
    assert redaction_counts([final, tentative]) == {"card": 1, "cvv": 1, "email": 1}


@pytest.mark.parametrize("text,expected", [
    # the agent's question misheard by tiny.en: "card number" -> "current number"
    ("Please read me the current number <turn> Okay, four one...one One ...One",
     "Please read me the current number <turn> Okay, [CARD]"),
    ("what's your foam number <turn> five five five two one two four", "what's your foam number <turn> [PHONE]"),
    ("Can I have a contact? <turn> Yes, it's 07700, 09900, 1 -2 -3.", "Can I have a contact? <turn> Yes, it's [PHONE]"),
    # one sound-alike is not enough without an exactly heard long word
    ("my cart lumber is 4471 2", "my cart lumber is 4471 2"),
])
def test_keywords_heard_with_one_sound_alike_word_still_name_the_number(text, expected):
    assert redacted(text, trailing=True) == expected


def test_cvv_and_expiry_after_a_card_beyond_the_carried_words():
    red = Redactor(RedactOptions())
    assert [w.text for w in red.feed("customer", words_of("it is 4532015112830366", 0.0))][-1] == "[CARD]"
    # a long question (more than carry_words words) stands between the card and its codes
    red.feed("agent", words_of("great and now the X -I -Re -8 and the three digits on the back of it please", 3.0))
    answer = red.feed("customer", words_of("The X -IR -0427 and the COVID -731.", 9.0))
    assert [w.text for w in answer] == ["The", "X", "-IR", "[EXPIRY]", "and", "the", "COVID", "[CVV]"]
    # no card before: the same answer keeps its short numbers
    plain = Redactor(RedactOptions())
    assert "-731." in [w.text for w in plain.feed("customer", words_of("The X -IR -0427 and the COVID -731.", 9.0))]


@pytest.mark.parametrize("text,expected", [
    ("Can I get your SSN to verify the account? <turn> Sure. 524 31 7780", "Can I get your SSN to verify the account? <turn> Sure. [SSN]"),
    ("my account is 4471 2290", "my account is [ACCOUNT]"),
    ("Area code 617, then 555 9876.", "Area code [PHONE]"),
])
def test_keyword_choice(text, expected):
    assert redacted(text) == expected
