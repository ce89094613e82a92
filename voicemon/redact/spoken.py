"""Spoken-form normalisation for redaction: words as Whisper writes them -> digit runs.

Callers read numbers out in every form: "four four seven one", "forty four seventy one",
"double five", "oh four", "4471", "4,471", "4 -4 -7 -1" (Whisper's spelled-out style), and ASR
errors such as "Free66" (three six six) or "i87654321". :func:`digit_runs` turns a word list into
maximal runs of digits, each digit remembering the word it came from, so a rule can decide on the
digits and the redactor can replace exactly the words that said them.

Homophones that are also common words ("to", "for", "oh", "won", "ate") only count as digits
when they sit between two digits of the same run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
         "seven": "7", "eight": "8", "nine": "9"}
TEENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
         "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}
TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fourty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
        "eighty": "8", "ninety": "9"}
WEAK = {"oh": "0", "o": "0", "to": "2", "too": "2", "for": "4", "fore": "4", "won": "1", "ate": "8",
        "free": "3", "tree": "3", "nein": "9"}
"""Words that sound like a digit but are common words: digits only between two digits."""
REPEAT = {"double": 2, "triple": 3}
SEPARATORS = {"dash", "hyphen", "slash", "uh", "um", "er", "erm", "space", "-", "/"}
"""Words allowed inside a run without adding digits ("5 5 5 dash 2 1 2")."""

_STRIP = ".,;:!?\"'()[]{}…"
_DIGITS_ONLY = re.compile(r"^[\d][\d,./\-]*$")
_HAS_DIGIT = re.compile(r"\d")
_LETTERS_THEN_DIGITS = re.compile(r"^([a-z]+)(\d+)$")


def clean(text: str) -> str:
    """A word lower-cased without surrounding punctuation or Whisper's leading ``-``."""
    return text.strip().strip(_STRIP).lstrip("-").strip(_STRIP).lower()


@dataclass(frozen=True)
class DigitRun:
    """Consecutive digits read out, with the word each digit came from.

    Attributes:
        digits: the digits as a string.
        word_of: for each digit, the index of its word in the word list.
        first_word: index of the run's first word.
        last_word: index of the run's last word.
        money: the run was written as an amount (``$4``, ``4.99``), not an identifier.
    """

    digits: str
    word_of: tuple[int, ...]
    first_word: int
    last_word: int
    money: bool = False

    def sub(self, lo: int, hi: int) -> "DigitRun":
        """The digits ``[lo, hi)`` as a run of their own."""
        word_of = self.word_of[lo:hi]
        return DigitRun(self.digits[lo:hi], word_of, word_of[0], word_of[-1], self.money)


def _word_digits(raw: str) -> tuple[str, str, bool]:
    """Classify one word: ``(kind, digits, money)``; kind is ``strong``, ``weak``, ``sep``,
    ``number`` (a spoken number word handled by the caller) or ``other``."""
    money = raw.strip().startswith(("$", "£", "€"))
    word = clean(raw.replace("$", "").replace("£", "").replace("€", ""))
    if not word:
        return ("sep", "", False) if raw.strip() in ("-", "/") else ("other", "", False)
    if _DIGITS_ONLY.match(word):
        digits = re.sub(r"\D", "", word)
        return "strong", digits, money or bool(re.search(r"\.\d\d$", word) and "," in word)
    if word in UNITS or word in TEENS or word in TENS or word in REPEAT or word in ("hundred", "thousand"):
        return "number", "", False
    if word in WEAK:
        return "weak", WEAK[word], False
    if word in SEPARATORS:
        return "sep", "", False
    if _HAS_DIGIT.search(word):
        # ASR errors like "Free66" or "i87654321": keep the digits, and a homophone prefix.
        m = _LETTERS_THEN_DIGITS.match(word)
        prefix = WEAK.get(m.group(1), "") if m else ""
        return "strong", prefix + re.sub(r"\D", "", word), False
    return "other", "", False


_SPLIT = re.compile(r"\.\.\.|…|(?<=[A-Za-z])-(?=[A-Za-z])")


def _parts(words: list[str]):
    """``(word index, part)``: "one...one" and "four-one" are two number words of one word."""
    for idx, raw in enumerate(words):
        for part in _SPLIT.split(raw):
            if part:
                yield idx, part


def digit_runs(words: list[str]) -> list[DigitRun]:
    """Maximal runs of digits in ``words`` (Whisper word texts, in order)."""
    runs: list[DigitRun] = []
    digits: list[tuple[str, int]] = []  # (digit, word index) of the run being built
    pending_weak: list[tuple[str, int]] = []  # weak digits waiting for a strong one after them
    tens: tuple[str, int] | None = None  # "forty" waiting for its unit
    fill = 0  # trailing zeros of "hundred"/"thousand" that the next number words overwrite
    money = False
    first_word: int | None = None
    last_word = -1

    def close() -> None:
        nonlocal digits, pending_weak, tens, fill, money, first_word
        flush_tens()
        if digits:
            word_of = tuple(i for _, i in digits)
            runs.append(DigitRun("".join(d for d, _ in digits), word_of, word_of[0], word_of[-1], money))
        digits, pending_weak, tens, fill, money, first_word = [], [], None, 0, False, None

    def put(chars: str, idx: int) -> None:
        nonlocal fill, last_word
        for ch in chars:
            if fill:
                digits[-fill] = (ch, idx)
                fill -= 1
            else:
                digits.append((ch, idx))
        last_word = idx

    def flush_tens() -> None:
        nonlocal tens
        if tens is not None:
            put(tens[0] + "0", tens[1])
            tens = None

    def strong(chars: str, idx: int) -> None:
        if pending_weak:
            for d, i in pending_weak:
                put(d, i)
            pending_weak.clear()
        put(chars, idx)

    for idx, raw in _parts(words):
        kind, value, is_money = _word_digits(raw)
        word = clean(raw)
        if kind == "other":
            close()
            continue
        if kind == "sep":
            if not digits and tens is None:
                close()
            continue
        if kind == "weak":
            if digits or tens is not None or value == "0":  # "oh four" opens a run
                flush_tens()
                pending_weak.append((value, idx))
            continue
        money = money or is_money
        if kind == "strong":
            flush_tens()
            fill = 0
            strong(value, idx)
            continue
        # spoken number words
        if word in REPEAT:
            pending_weak.append(("", idx))  # marker: the next unit repeats
            continue
        if word in UNITS:
            unit = UNITS[word]
            if fill > 1 and tens is None:
                fill = 1  # "four hundred five": the unit takes the last zero
            reps = 1
            while pending_weak and pending_weak[-1][0] == "":
                reps *= REPEAT[clean(words[pending_weak.pop()[1]])]
            if tens is not None and unit != "0" and reps == 1:
                t, t_idx = tens
                tens = None
                strong(t, t_idx)
                put(unit, idx)
            else:
                flush_tens()
                strong(unit * reps, idx)
        elif word in TEENS:
            flush_tens()
            strong(TEENS[word], idx)
        elif word in TENS:
            flush_tens()
            if pending_weak:
                strong("", idx)
            tens = (TENS[word], idx)
            last_word = idx
        elif word in ("hundred", "thousand") and digits:
            flush_tens()
            zeros = 2 if word == "hundred" else 3
            put("0" * zeros, idx)
            fill = zeros
    close()
    return runs
