"""The e-mail rule and the expiry/CVV labels on what tiny.en writes, and on hostile input.

The ``heard`` inputs are verbatim tiny.en outputs on the espeak-ng PII fixtures (the ``tune`` set
of audio_fixtures/make_pii_fixtures.py), with the agent's question before them as the redactor
sees it (``<turn>`` marks the change of speaker).
"""

from __future__ import annotations

import time

import pytest

from redact_helpers import OPTS, redacted
from voicemon.config import RedactOptions
from voicemon.events import Word
from voicemon.redact.email_rule import email_spans
from voicemon.redact.rules import expiry_shape, find_spans
from voicemon.redact.stage import Redactor


@pytest.mark.parametrize("heard,expected", [
    ("It's Mike 72 at heartmail .co .uk.", "It's [EMAIL]"),  # every TLD after the first
    ("Yeah, it's info at luber -lummin .com.", "Yeah, it's [EMAIL]"),
    ("My emails jh at Comcast .net.", "My emails [EMAIL]"),  # "emails" ends the local part
    ("ok mail me at john dot smith at gmail dot co dot uk thanks", "ok mail me at [EMAIL] thanks"),
    ("jöhn dot smïth at gmäil dot com", "[EMAIL]"),
    ("send it to J -O -H -N and yahoo .com", "send it to [EMAIL]"),  # "and" for "at", spelled local part
])
def test_addresses_found_without_context(heard, expected):
    assert redacted(heard) == expected


@pytest.mark.parametrize("heard,expected", [
    # no "at" at all: the agent's question (or the caller's "my email is") makes the context
    ("My email is a .joneas .gmail .com", "My email is [EMAIL]"),
    ("And your e -mail address? <turn> You can use rob .milerevel .com.", "And your e -mail address? <turn> You can use [EMAIL]"),
    ("What's your e-mail address? <turn> It's the grunderscore wellnet .au .com.",
     "What's your e-mail address? <turn> It's the [EMAIL]"),
    ("Spell the address for me, please. <turn> J -A -N, E .B., BoEatyaboo dot com",
     "Spell the address for me, please. <turn> [EMAIL]"),
    # "and" for "at"
    ("What e-mail do you want us to use? <turn> It's an underscore king and outlook .com.",
     "What e-mail do you want us to use? <turn> It's [EMAIL]"),
    ("Can you spell your e-mail for me? <turn> Sure, be a re -id and I Cloud .com",
     "Can you spell your e-mail for me? <turn> Sure, [EMAIL]"),
    # spelled letters, and "dot com" heard as "not calm"
    ("Can you spell the e-mail address for me? <turn> Yes, K -A -D -E, and I'll look not calm.",
     "Can you spell the e-mail address for me? <turn> Yes, [EMAIL]"),
    # "nick ninety nine at hotmail dot com", "paul at verizon dot net" (heldout2, looked at)
    ("My email is new kinda deny that heartmail .com.", "My email is [EMAIL]"),
    ("Do you have an e-mail? <turn> Yes, all left may rise and not net.",
     "Do you have an e-mail? <turn> Yes, all [EMAIL]"),
])
def test_addresses_found_in_an_email_context(heard, expected):
    assert redacted(heard) == expected


@pytest.mark.parametrize("heard", [
    "You can use rob .milerevel .com.",  # no "at", no e-mail keyword: could be a web address
    "I bought it from amazon .com last week",
    "It's an underscore king and outlook .com.",  # "and" with one link only
    "I'm not calm about this",
])
def test_no_at_needs_an_email_context(heard):
    assert "[EMAIL]" not in redacted(heard)


@pytest.mark.parametrize("heard", [
    "I met home at the moment, I was looking at the wheel and the not next to the total.",  # tiny.en, no PII
    "Not really, I'm at work. Can you call back at five? I'll be at my next then.",  # tiny.en, no PII
    "look at the bill, I'm at home, we're at the office dot dot dot",
    "I was looking at the dot com bubble at the time",
    "she works at acme dot com and I shop at target dot com",
    "I bought it at amazon .com for my son at home",
    "at at at at at dot dot dot dot at dot",
    "what's your e-mail <turn> I'm not calm at all about this",
    "what's your e-mail <turn> hang on, let me look at the app",
    "what's your e-mail <turn> it's on the dot com site",
    "can you spell your surname <turn> S -M -I -T -H",  # letters after "spell", no e-mail named
    "what's the address <turn> 12 O A K lane",
    "what's your e-mail <turn> I said that it's not me, not us and not in",  # "not" + TLDs other than com/net/org
    "I heard that amazon .com was cheaper",  # "that" for "at" needs an e-mail context or a spelled local part
])
def test_at_and_dot_in_ordinary_speech_are_left_alone(heard):
    assert "[EMAIL]" not in redacted(heard, trailing=True)


def test_an_address_split_by_a_pause():
    words = "Go ahead with the e-mail. <turn> It's lisa dot green".split()
    assert redacted(" ".join(words), trailing=True).endswith("It's [EMAIL]")
    assert redacted(" ".join(words)) == " ".join(words)  # only a local part that ends the utterance
    ends_at = "And the e-mail? <turn> john dot smith at".split()
    assert redacted(" ".join(ends_at), trailing=True) == "And the e-mail? <turn> [EMAIL]"
    assert redacted("What's your e-mail <turn> K -A -T -E", trailing=True) == "What's your e-mail <turn> [EMAIL]"


def words_of(text: str, t0: float) -> list[Word]:
    return [Word(start=round(t0 + 0.3 * i, 3), end=round(t0 + 0.3 * i + 0.25, 3), text=w)
            for i, w in enumerate(text.split())]


def test_the_agents_question_is_the_context_of_the_answer():
    red = Redactor(RedactOptions())
    red.feed("agent", words_of("And your e-mail address?", 0.0))
    assert [w.text for w in red.feed("customer", words_of("You can use rob .milerevel .com.", 2.0))] == [
        "You", "can", "use", "[EMAIL]"]
    plain = Redactor(RedactOptions())
    assert [w.text for w in plain.feed("customer", words_of("You can use rob .milerevel .com.", 2.0))] == [
        "You", "can", "use", "rob", ".milerevel", ".com."]


@pytest.mark.parametrize("text", [
    " ".join(["at", "dot", "com"] * 3000),
    " ".join(["e-mail", "J", "-O", "and", "dot", "not", "calm"] * 1500),
    " ".join(["a"] * 9000) + " at gmail .com",
    ".com " * 5000,
    "email " + " ".join(["x"] * 8000),
])
def test_long_hostile_input_is_linear_and_well_formed(text):
    words = text.split()
    t0 = time.perf_counter()
    spans = email_spans(words, trailing_from=len(words) - 1)
    assert time.perf_counter() - t0 < 2.0
    assert all(0 <= s.first <= s.last < len(words) and s.label == "EMAIL" for s in spans)


@pytest.mark.parametrize("words", [
    ["\u200b", "at", "\u202e", "dot", "com"],
    ["名前", "at", "例え", "dot", "com"],
    ["🙂", "at", "🙂", ".com"],
    ["", " ", "@", ".", "-", "at"],
    ["ｊｏｈｎ＠ｇｍａｉｌ．ｃｏｍ", "x\x00y", "at", "gmail", ".com\n"],
])
def test_unicode_and_odd_words_do_not_break_the_rule(words):
    spans = find_spans(words, OPTS, trailing_from=len(words) - 1)
    assert all(0 <= s.first <= s.last < len(words) for s in spans)


def test_a_unicode_local_part_is_an_address():
    assert [s.label for s in email_spans(["名前", "at", "gmail", "dot", "com"])] == ["EMAIL"]


@pytest.mark.parametrize("text,expected", [
    # tiny.en: the agent's "expiry date" misheard ("X -I -Re -8"), only "security code" heard;
    # the caller gives both: the date is the expiry, the code after it the CVV
    ("Okay, [CARD] <turn> and the X -I -Re -8 and the security code on the Mac. <turn> "
     "The X -IR -0427 and the COVID -731.",
     "Okay, [CARD] <turn> and the X -I -Re -8 and the security code on the Mac. <turn> "
     "The X -IR [EXPIRY] and the COVID [CVV]"),
    ("card 4532015112830366 <turn> and the expiry and the security code <turn> 0427 and 731",
     "card [CARD] <turn> and the expiry and the security code <turn> [EXPIRY] and [CVV]"),
    ("card 4532015112830366 <turn> expiry and CVV please <turn> 0427", "card [CARD] <turn> expiry and CVV please <turn> [EXPIRY]"),
    # tiny.en: "oh nine slash twenty eight" with the month misheard, after a card
    ("What's the car number, please? <turn> It's 52 only 0, 82, 82, 82, 82, 82, 10 <turn> When done the next "
     "fire. <turn> Oh I'm slash 28.",
     "What's the car number, please? <turn> It's 52 only [CARD] <turn> When done the next fire. <turn> Oh I'm "
     "[EXPIRY]"),
    ("card 4532015112830366 <turn> when does it expire <turn> oh nine slash twenty eight",
     "card [CARD] <turn> when does it expire <turn> [EXPIRY]"),
    ("card 4532015112830366 <turn> the three digits on the back <turn> four oh nine",
     "card [CARD] <turn> the three digits on the back <turn> [CVV]"),
    ("the security code is 1234", "the security code is [CVV]"),  # an explicit CVV stays one
    ("the CVV is 0427", "the CVV is [CVV]"),
    ("visa 4532015112830366 valid until March twenty twenty seven and the code 812",
     "visa [CARD] valid until [EXPIRY] and the code [CVV]"),
    # tiny.en (heldout2, looked at): "valid until March twenty twenty seven" after a card
    ("card 4532015112830366 <turn> and when only the fire. <turn> It's merely until March 2020, 7.",
     "card [CARD] <turn> and when only the fire. <turn> It's merely until [EXPIRY]"),
    # "Expiry and security code" with the expiry misheard; a CVV with a digit too many follows
    ("card 4532015112830366 <turn> exirient security code, please. <turn> X -iron 06, 29, and the code 55001.",
     "card [CARD] <turn> exirient security code, please. <turn> X -iron [EXPIRY] and the code 55001."),
])
def test_expiry_and_cvv_are_told_apart(text, expected):
    assert redacted(text) == expected


def test_expiry_shape():
    assert expiry_shape("0427") and expiry_shape("1226") and expiry_shape("032027")
    assert not expiry_shape("1327") and not expiry_shape("0027") and not expiry_shape("731")
    assert expiry_shape("1283") and not expiry_shape("1283", plausible_year=True)
